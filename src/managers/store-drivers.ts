import type { Vm } from '../model/index.js';
import type { StorageDriver } from '../storage/driver.js';
import { storageDriver } from '../storage/registry.js';
import { Keys, Kinds } from '../store/keys.js';
import type { Store } from '../store/store.js';

/**
 * The driver of each of `vm`'s disks' stores, by disk (read from the store
 * records, never from a store's name); undefined for a store that is gone or
 * whose settings no longer parse, which callers count as local and unfenceable.
 */
export function diskStoreDrivers(store: Store, vm: Pick<Vm, 'disks'>): Promise<(StorageDriver | undefined)[]> {
  return Promise.all(
    vm.disks.map(async (d) => {
      const rec = await store.get(Kinds.imageStore, Keys.imageStore(d.store));
      return rec ? storageDriver(rec.value.driver, rec.value.settings).catch(() => undefined) : undefined;
    }),
  );
}
