// One standing QMP session per running VM, on the VM's event socket: the agent
// learns that a guest powered off, paused or resumed, or that its QEMU is gone
// (the socket closes when the process exits, SIGKILL included), the moment it
// happens, instead of reading /proc on a timer.

import { stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../common/logger.js';
import { waitForExit } from '../common/proc.js';
import { isOurQemu, QmpMonitor, type QmpEvent, type QmpExecutor } from './qemu/index.js';

export interface VmMonitorHooks {
  /** An event QEMU sent (SHUTDOWN, STOP, RESUME, MIGRATION, …). */
  event(id: string, e: QmpEvent): void;
  /** The VM's QEMU process has exited; the watch is over. */
  gone(id: string): void;
}

export interface VmMonitorOptions {
  /** First wait before connecting again after the session dropped with QEMU still alive. */
  backoffMinMs?: number;
  backoffMaxMs?: number;
  /** How long a closed socket may precede the process's exit (QEMU closes its chardevs, then exits). */
  exitGraceMs?: number;
}

interface Watch {
  pid: number;
  mon?: QmpMonitor;
  stopped: boolean;
}

export class VmMonitors {
  private readonly watches = new Map<string, Watch>();
  /** QEMUs found without an event socket (`id pid`): said once, not looked for again. */
  private readonly socketless = new Set<string>();

  constructor(
    private readonly socketOf: (id: string) => string,
    private readonly hooks: VmMonitorHooks,
    private readonly log: Logger,
    private readonly opts: VmMonitorOptions = {},
  ) {}

  /** VMs watched now. */
  ids(): string[] {
    return [...this.watches.keys()];
  }

  /** Whether VM `id`'s QEMU `pid` is watched (another pid: a QEMU since replaced). */
  watching(id: string, pid?: number): boolean {
    const w = this.watches.get(id);
    return w !== undefined && (pid === undefined || w.pid === pid);
  }

  /**
   * Watches VM `id`'s QEMU `pid` until it exits or `unwatch`. Idempotent for
   * the same pid; a new pid replaces the old watch. False when QEMU has no
   * event socket (started by an agent before this one): that VM is looked at
   * only by the periodic resync.
   */
  async watch(id: string, pid: number): Promise<boolean> {
    const cur = this.watches.get(id);
    if (cur?.pid === pid) return true;
    if (cur) this.unwatch(id);
    if (this.socketless.has(`${id} ${pid}`)) return false;
    if (!(await exists(this.socketOf(id)))) {
      this.socketless.add(`${id} ${pid}`);
      this.log.warn({ vm: id, pid }, 'QEMU has no event socket (started by an older agent): its exit is noticed by the periodic resync only');
      return false;
    }
    const w: Watch = { pid, stopped: false };
    this.watches.set(id, w);
    void this.run(id, w);
    return true;
  }

  /** The open session to VM `id`'s QEMU, if any: a scrape asks it for figures (src/host/vm-metrics.ts). */
  session(id: string): QmpExecutor | undefined {
    return this.watches.get(id)?.mon;
  }

  unwatch(id: string): void {
    const w = this.watches.get(id);
    if (!w) return;
    w.stopped = true;
    this.watches.delete(id);
    void w.mon?.close();
  }

  /** Closes every session (QEMU keeps running): the agent is stopping. */
  async close(): Promise<void> {
    const all = [...this.watches.values()];
    this.watches.clear();
    for (const w of all) w.stopped = true;
    await Promise.all(all.map((w) => w.mon?.close()));
  }

  private async run(id: string, w: Watch): Promise<void> {
    const min = this.opts.backoffMinMs ?? 100;
    const max = this.opts.backoffMaxMs ?? 5000;
    let wait = min;
    while (!w.stopped) {
      try {
        const mon = await QmpMonitor.connect(this.socketOf(id), { timeoutMs: 5000 });
        w.mon = mon;
        if (w.stopped) {
          await mon.close();
          return;
        }
        const closed = new Promise<void>((resolve) => mon.once('close', resolve));
        mon.on('event', (e) => {
          if (!w.stopped) this.hooks.event(id, e);
        });
        wait = min;
        await closed;
        w.mon = undefined;
      } catch (err) {
        if (w.stopped) return;
        if (isOurQemu(w.pid, id)) this.log.debug({ err, vm: id }, 'cannot open the VM event monitor; trying again');
      }
      if (w.stopped) return;
      // A dropped session is QEMU exiting, unless the process lives on.
      if (await waitForExit(w.pid, this.opts.exitGraceMs ?? 2000)) {
        if (w.stopped) return;
        this.watches.delete(id);
        w.stopped = true;
        this.hooks.gone(id);
        return;
      }
      this.log.warn({ vm: id, pid: w.pid, retryMs: wait }, 'VM event monitor dropped while QEMU runs; connecting again');
      await sleep(wait);
      wait = Math.min(wait * 2, max);
    }
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
