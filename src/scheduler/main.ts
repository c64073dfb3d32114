import { runDaemon, type DaemonFlags } from '../common/daemon.js';
import { HostManager } from '../managers/hosts.js';
import { VmManager } from '../managers/vms.js';
import { Scheduler } from './loop.js';

export function runScheduler(flags: DaemonFlags): Promise<void> {
  return runDaemon('scheduler', flags, [], async ({ log, store }) => {
    const s = new Scheduler(store, new VmManager(store), new HostManager(store), log);
    await s.start();
    log.info('scheduler ready');
    return () => s.stop();
  });
}
