// The fence watchdog: a tiny process beside the host agent, sharing nothing
// with it but files (files.ts). The agent pets it after each renewal of its
// presence lease that etcd answered, with a deadline that ends before the
// lease can (fence_timeout < host_lease_ttl). Past the deadline (a crashed or
// frozen agent, one cut off from etcd) it kills every QEMU of a VM marked HA
// here, so the scheduler, which restarts HA VMs elsewhere only after the
// lease ended plus failover_margin, never finds one still running.

import { readdirSync } from 'node:fs';
import { join, sep } from 'node:path';
import type { Logger } from '../../common/logger.js';
import { readArgv, signal, waitForExit } from '../../common/proc.js';
import { monoMs } from '../../store/presence-lease.js';
import { vmIdOfArgv } from '../qemu/cmdline.js';
import { haVmIds, readPet, writeBeat } from './files.js';

export interface WatchdogOptions {
  runDir: string;
  /** How often it looks (ms); the kill comes at most this late. */
  everyMs?: number;
}

/**
 * The pids of this host's QEMUs of VMs `ids` (by their command-line marker,
 * not pid files; and by their pid file's place under `runDir`: another host's
 * QEMU of the same VM, on a machine that runs several, is not this host's).
 */
export function qemusOf(ids: ReadonlySet<string>, runDir: string): { pid: number; vm: string }[] {
  const out: { pid: number; vm: string }[] = [];
  const mine = join(runDir, 'vms') + sep;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const argv = readArgv(Number(name));
    const vm = argv && vmIdOfArgv(argv);
    if (vm && ids.has(vm) && argv[argv.indexOf('-pidfile') + 1]?.startsWith(mine)) out.push({ pid: Number(name), vm });
  }
  return out;
}

export class FenceWatchdog {
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  /** Fencing now (logged once an episode). */
  private fencing = false;

  constructor(
    private readonly opts: WatchdogOptions,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.opts.everyMs ?? 200);
    void this.tick();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** One look: beat, read the pet, kill HA QEMUs if it ran out. Exposed for tests. */
  async tick(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      await writeBeat(this.opts.runDir, { at: monoMs(), pid: process.pid });
      const pet = await readPet(this.opts.runDir);
      const now = monoMs();
      if (pet && now <= pet.until) {
        if (this.fencing) this.log.info({ epoch: pet.epoch, agentPid: pet.agentPid }, 'agent petting again: fencing over');
        this.fencing = false;
        return;
      }
      const ids = new Set(await haVmIds(this.opts.runDir));
      const victims = ids.size ? qemusOf(ids, this.opts.runDir) : [];
      if (!this.fencing || victims.length) {
        this.log.warn({ silentMs: pet ? now - pet.until : undefined, epoch: pet?.epoch, killing: victims.map((v) => v.vm) }, pet ? 'agent silent past its deadline: fencing HA VMs' : 'no pet from the agent: fencing HA VMs');
      }
      this.fencing = true;
      await Promise.all(
        victims.map(async (v) => {
          signal(v.pid, 'SIGKILL');
          if (await waitForExit(v.pid, 5000)) this.log.warn({ vm: v.vm, pid: v.pid }, 'fenced: HA VM QEMU killed');
        }),
      );
    } catch (err) {
      this.log.error({ err }, 'fence watchdog pass failed');
    } finally {
      this.busy = false;
    }
  }
}
