import { runDaemon, type DaemonFlags } from '../common/daemon.js';
import { VmManager } from '../managers/vms.js';
import { SCHEDULER_ACTOR } from '../model/vm-lifecycle.js';
import { Scheduler } from './loop.js';

export function runScheduler(flags: DaemonFlags): Promise<void> {
  return runDaemon('scheduler', flags, [], async ({ config, log, store }) => {
    const vms = new VmManager(store, { actor: SCHEDULER_ACTOR });
    // Once per cluster from before the per-host VM index: until the marker is
    // written, every agent start reads all of vm/ to backfill its own mirrors.
    if (!(await vms.hostIndexComplete())) {
      const { written, removed } = await vms.backfillHostIndex();
      log.info({ written, removed }, 'per-host VM index backfilled');
    }
    const s = new Scheduler(store, vms, log, { drainParallel: config.drainParallel });
    await s.start();
    log.info('scheduler ready');
    return () => s.stop();
  });
}
