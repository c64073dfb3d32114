import { UcloudError } from '../common/errors.js';
import type { StorageDriver, StorageDriverFactory } from './driver.js';
import { fsDriver } from './drivers/fs.js';

// Drivers are chosen by name from this table; nothing outside a driver branches
// on the driver's name.
const DRIVERS: Record<string, () => Promise<StorageDriverFactory>> = {
  fs: async () => fsDriver,
  ceph: async () => (await import('./drivers/ceph.js')).cephDriver,
};

export function storageDriverNames(): string[] {
  return Object.keys(DRIVERS);
}

export async function storageDriver(name: string, settings: Record<string, unknown>): Promise<StorageDriver> {
  const load = DRIVERS[name];
  if (!load) {
    throw new UcloudError('VALIDATION_FAILED', `unknown storage driver "${name}"`, { hint: `use one of: ${storageDriverNames().join(', ')}` });
  }
  return (await load())(settings);
}
