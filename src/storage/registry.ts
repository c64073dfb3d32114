import { UcloudError } from '../common/errors.js';
import type { StorageDriver, StorageDriverFactory } from './driver.js';
import { fsDriver } from './drivers/fs.js';

// Drivers are chosen by name from this table; nothing outside a driver branches
// on the driver's name. A Map, not an object: a name like "__proto__" or
// "constructor" must be an unknown driver, not something inherited.
const DRIVERS = new Map<string, () => Promise<StorageDriverFactory>>([
  ['fs', async () => fsDriver],
  ['ceph', async () => (await import('./drivers/ceph.js')).cephDriver],
]);

export function storageDriverNames(): string[] {
  return [...DRIVERS.keys()];
}

/** The driver for a store; its factory checks the settings before anything touches the filesystem or the cluster. */
export async function storageDriver(name: string, settings: Record<string, unknown>): Promise<StorageDriver> {
  const load = DRIVERS.get(name);
  if (!load) {
    const shown = JSON.stringify(name.slice(0, 64));
    throw new UcloudError('UNKNOWN_STORAGE_DRIVER', `unknown storage driver ${shown}`, { hint: `use one of: ${storageDriverNames().join(', ')}` });
  }
  if (settings === null || typeof settings !== 'object' || Array.isArray(settings)) throw new UcloudError('INVALID_STORE_SETTINGS', 'store settings must be an object');
  return (await load())(settings);
}
