import { runDaemon, type DaemonFlags } from '../store/daemon.js';
import { FileManager } from '../managers/files.js';
import { EventLog } from '../store/event-log.js';
import { ImageManager } from '../managers/images.js';
import { Elections } from '../store/keys.js';
import { Leadership } from '../store/leadership.js';
import { ImageScanner } from './imagescanner.js';
import { ImportMetrics } from './import-metrics.js';

export function runImageScanner(flags: DaemonFlags): Promise<void> {
  return runDaemon('imagescanner', flags, ['qemuImg', 'bwrap'], async ({ config, log, store, metrics: registry }) => {
    const metrics = new ImportMetrics(registry);
    // Two scanners would both claim an image request and import it twice: one works, the others stand by.
    const leadership = new Leadership(store, {
      election: Elections.imagescanner,
      ttlMs: config.leaderLeaseTtlMs,
      log,
      lead: async () => {
        const events = new EventLog(store, { retentionMs: config.eventRetentionMs, bucketMax: config.eventBucketMax, log });
        const s = new ImageScanner(store, new ImageManager(store), new FileManager(store), { filesPath: config.filesPath, importConcurrency: config.importConcurrency, events, metrics }, log);
        await s.start();
        return async () => {
          await s.stop();
          await events.close();
        };
      },
    });
    const role = await leadership.start();
    log.info(role === 'leader' ? 'imagescanner ready' : 'imagescanner ready (standby)');
    return () => leadership.stop();
  });
}
