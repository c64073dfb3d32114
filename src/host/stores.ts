import { UcloudError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import type { ImageManager } from '../managers/images.js';
import { storageDriver } from '../storage/registry.js';

// How long one store's check may take before the host counts it as one it cannot open.
const CHECK_TIMEOUT_MS = 30_000;

/**
 * The image stores this host can open now: each store's driver check (fs: the
 * path is there and writable; Ceph: the pool and the rbd block driver). The
 * host announces them so the scheduler's `storage` check places a VM only
 * where its disks can be opened.
 */
export async function openableStores(images: ImageManager, log: Logger): Promise<string[]> {
  const stores = await images.listStores();
  const ok = await Promise.all(
    stores.map(async (s) => {
      let timer: NodeJS.Timeout | undefined;
      try {
        const driver = await storageDriver(s.driver, s.settings);
        await Promise.race([
          driver.check(),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new UcloudError('COMMAND_TIMEOUT', `the store's check gave no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
          }),
        ]);
        return true;
      } catch (err) {
        log.warn({ err, store: s.name }, 'this host cannot open the store; the scheduler places no VM with a disk there on it');
        return false;
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  return stores.filter((_, i) => ok[i]).map((s) => s.name);
}
