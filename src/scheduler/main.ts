import { tuneHeapForCaches } from '../common/cache-heap.js';
import { runDaemon, type DaemonFlags } from '../store/daemon.js';
import { backfillImageIndex, imageIndexComplete } from '../managers/image-vm-index.js';
import { VmManager } from '../managers/vms.js';
import { SCHEDULER_ACTOR } from '../model/vm-lifecycle.js';
import { EventLog } from '../store/event-log.js';
import { Elections } from '../store/keys.js';
import { Leadership } from '../store/leadership.js';
import { Scheduler } from './loop.js';
import { SchedulerMetrics } from './metrics.js';

export function runScheduler(flags: DaemonFlags): Promise<void> {
  tuneHeapForCaches();
  return runDaemon('scheduler', flags, [], async ({ config, log, store, metrics: registry }) => {
    const metrics = new SchedulerMetrics(registry);
    const vms = new VmManager(store, { actor: SCHEDULER_ACTOR });
    const events = new EventLog(store, { retentionMs: config.eventRetentionMs, bucketMax: config.eventBucketMax, log });
    // One scheduler places at a time (a whole batch per transaction); the others stand by.
    const leadership = new Leadership(store, {
      election: Elections.scheduler,
      ttlMs: config.leaderLeaseTtlMs,
      log,
      lead: async () => {
        // Once per cluster from before the per-host VM index: until the marker is
        // written, every agent start reads all of vm/ to backfill its own mirrors.
        if (!(await vms.hostIndexComplete())) {
          const { written, removed } = await vms.backfillHostIndex();
          log.info({ written, removed }, 'per-host VM index backfilled');
        }
        const s = new Scheduler(store, vms, log, { drainParallel: config.drainParallel, failoverMarginMs: config.failoverMarginMs, events, metrics });
        await s.start();
        // The image index, once per cluster from before it, beside placement (a write per VM would hold it for
        // minutes at fleet size); until its marker an image delete's request reads all of vm/. Safe beside another.
        void (async () => {
          if (await imageIndexComplete(store)) return;
          const { written, removed } = await backfillImageIndex(store);
          log.info({ written, removed }, 'image VM index backfilled');
        })().catch((err: unknown) => log.warn({ err }, 'image VM index backfill failed; the next leader tries again'));
        return () => s.stop();
      },
    });
    const role = await leadership.start();
    log.info(role === 'leader' ? 'scheduler ready' : 'scheduler ready (standby)');
    return async () => {
      await leadership.stop();
      // Its last placements' events are written before the daemon goes.
      await events.close();
    };
  });
}
