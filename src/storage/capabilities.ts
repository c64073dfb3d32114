import type { StorageCapabilities } from './driver.js';

/**
 * How a VM whose disks sit on stores with these capabilities moves between
 * hosts: RAM only when every store is seen by all hosts (`shared`), else its
 * disks are copied live as well. An unknown store (undefined) counts as local.
 */
export function migrationModeOf(caps: readonly (Pick<StorageCapabilities, 'shared'> | undefined)[]): 'shared' | 'copy' {
  return caps.every((c) => c?.shared === true) ? 'shared' : 'copy';
}
