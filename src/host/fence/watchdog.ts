// The fence watchdog: a tiny process beside the host agent, sharing nothing
// with it but files (files.ts). The agent pets it after each renewal of its
// presence lease that etcd answered, with a deadline that ends before the
// lease can (fence_timeout < host_lease_ttl). Past the deadline (a crashed or
// frozen agent, one cut off from etcd) it kills every QEMU of a VM marked HA
// here, and at any time one marked under another epoch than the petting one,
// so the scheduler, which restarts HA VMs elsewhere only after the lease ended
// plus failover_margin, finds none still running (docs/architecture.md, HA
// and fencing, says what this rests on).

import { readdirSync } from 'node:fs';
import { join, sep } from 'node:path';
import type { Logger } from '../../common/logger.js';
import { readArgv, signal, waitForExit } from '../../common/proc.js';
import { monoMs } from '../../common/clock.js';
import { vmIdOfArgv } from '../qemu/cmdline.js';
import { haVms, readPet, writeBeat } from './files.js';

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

  private async kill(victims: { pid: number; vm: string }[], why: string): Promise<void> {
    await Promise.all(
      victims.map(async (v) => {
        signal(v.pid, 'SIGKILL');
        if (await waitForExit(v.pid, 5000)) this.log.warn({ vm: v.vm, pid: v.pid, why }, 'fenced: HA VM QEMU killed');
      }),
    );
  }

  /** One look: beat, read the pet, kill HA QEMUs if it ran out. Exposed for tests. */
  async tick(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      await writeBeat(this.opts.runDir, { at: monoMs(), pid: process.pid });
      const pet = await readPet(this.opts.runDir);
      const now = monoMs();
      const marked = await haVms(this.opts.runDir);
      if (pet && now <= pet.until) {
        if (this.fencing) this.log.info({ epoch: pet.epoch, agentPid: pet.agentPid }, 'agent petting again: fencing over');
        this.fencing = false;
        // Petted, but a VM armed under another incarnation (before a lost lease) is no VM this one vouches for.
        const stale = new Set([...marked].filter(([, epoch]) => epoch !== pet.epoch).map(([id]) => id));
        await this.kill(stale.size ? qemusOf(stale, this.opts.runDir) : [], `armed under another epoch than ${pet.epoch}`);
        return;
      }
      const victims = marked.size ? qemusOf(new Set(marked.keys()), this.opts.runDir) : [];
      if (!this.fencing || victims.length) {
        this.log.warn({ silentMs: pet ? now - pet.until : undefined, epoch: pet?.epoch, killing: victims.map((v) => v.vm) }, pet ? 'agent silent past its deadline: fencing HA VMs' : 'no pet from the agent: fencing HA VMs');
      }
      this.fencing = true;
      await this.kill(victims, 'the agent went silent');
    } catch (err) {
      this.log.error({ err }, 'fence watchdog pass failed');
    } finally {
      this.busy = false;
    }
  }
}
