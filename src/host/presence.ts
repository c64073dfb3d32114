// The host's presence in etcd: its `host-alive/<name>` record on a lease whose
// id is the host's fencing epoch (a VM placed here records it, and only this
// incarnation's writes land on it). Each renewal etcd answered pets the fence
// watchdog with a deadline before the lease can end; a lost lease means this
// host may already be declared dead: it announces itself again on a new lease
// (a new epoch) and looks at every VM again. The lease id is kept in run_dir,
// so a restarted agent resumes it while it lives: an agent restart neither
// fences HA VMs nor looks like a dead host.

import { UcloudError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { Serial } from '../common/serial.js';
import type { HostManager } from '../managers/hosts.js';
import type { HostAlive } from '../model/index.js';
import { monoMs } from '../common/clock.js';
import { PresenceLease } from '../store/presence-lease.js';
import type { Store } from '../store/store.js';
import { BEAT_FRESH_MS, readBeat, readLeaseId, writeLeaseId, writePet } from './fence/files.js';


export interface PresenceOptions {
  name: string;
  ttlMs: number;
  /** Where the lease id, the pet and the watchdog's beat live (run_dir). */
  runDir: string;
  /** fence_timeout: the pet's deadline after the send of the last answered renewal. */
  fenceTimeoutMs: number;
}

export class HostPresence {
  private lease: PresenceLease | undefined;
  /** The lease the presence record was last written on: a VM write under an epoch no record announces would be read as a dead host's. */
  private announced: PresenceLease | undefined;
  private stopped = false;
  /** What the record says besides name, epoch and fence (asked at each write; set by start). */
  private describe: (() => Omit<HostAlive, 'name' | 'epoch' | 'fence'>) | undefined;

  constructor(
    private readonly store: Store,
    private readonly hosts: HostManager,
    private readonly opts: PresenceOptions,
    private readonly log: Logger,
    /** Called after the host announced itself on a new lease (it was lost): every VM is to be looked at again. */
    private readonly onNewEpoch: () => void,
    /** Called when the fence watchdog starts or stops beating: HA VMs are armed or disarmed. */
    private readonly onWatchdogChange: () => void = () => undefined,
    /** Called once a live pet lands after one ran out, or after none (the watchdog stops fencing): HA VMs can start. */
    private readonly onPetsResumed: () => void = () => undefined,
  ) {}

  /** The deadline of the last pet written (CLOCK_MONOTONIC ms); -Infinity before the first. */
  private petUntil = -Infinity;
  /** How many times a pet landed after the one before had run out. */
  private resumes = 0;

  /**
   * Whether the fence watchdog may be fencing now: the last pet's deadline
   * passed. The epoch outlives it (fence_timeout < host_lease_ttl), so an HA VM
   * started in between would be killed by the watchdog as it starts.
   */
  get petLapsed(): boolean {
    return monoMs() > this.petUntil;
  }

  /** Changes whenever a live pet follows a lapsed one (or none): a start that saw it change may have been fenced. */
  get petResumes(): number {
    return this.resumes;
  }

  /** Pets, one after another: renewals answered together after a freeze must not leave an older deadline in the file last. */
  private readonly pets = new Serial();

  private pet(lease: PresenceLease, sentAt: number): Promise<void> {
    const until = sentAt + this.opts.fenceTimeoutMs;
    return this.pets.run(async () => {
      if (until <= this.petUntil) return;
      await writePet(this.opts.runDir, { until, epoch: lease.id, agentPid: process.pid });
      // Only now does the watchdog read a live pet; before, it may still be fencing. The first pet counts
      // too: a start put off before it is not left to the next resync.
      const before = this.petUntil;
      this.petUntil = until;
      if (monoMs() > before && !this.petLapsed) {
        this.resumes++;
        if (Number.isFinite(before)) this.log.info({ epoch: lease.id }, 'fence watchdog petted again after its deadline: HA VMs may start');
        this.onPetsResumed();
      }
    });
  }

  /**
   * This incarnation's epoch (its lease id); undefined while it has none:
   * lost, not yet announced again, or past the time its lease surely lives
   * (a frozen agent that wakes up writes nothing before it knows).
   */
  get epoch(): string | undefined {
    const lease = this.lease;
    return lease && lease === this.announced && monoMs() <= lease.aliveUntil ? lease.id : undefined;
  }

  private watchdogSeen: boolean | undefined;

  /** Each renewal: a watchdog that stopped (or started) beating is announced, and every VM looked at (armed or not). */
  private async checkWatchdog(): Promise<void> {
    const running = await this.watchdogRunning();
    if (running === this.watchdogSeen) return;
    const first = this.watchdogSeen === undefined;
    this.watchdogSeen = running;
    if (first) return;
    this.log.warn({ running }, running ? 'fence watchdog beating: HA VMs are armed' : 'fence watchdog not beating: HA VMs are disarmed (not restarted elsewhere if this host dies)');
    await this.put().catch((err: unknown) => this.log.warn({ err }, 'cannot announce the fence watchdog'));
    this.onWatchdogChange();
  }

  /** Whether this host's fence watchdog is beating. */
  async watchdogRunning(): Promise<boolean> {
    const beat = await readBeat(this.opts.runDir);
    return beat !== undefined && monoMs() - beat.at < BEAT_FRESH_MS;
  }

  async start(describe: () => Omit<HostAlive, 'name' | 'epoch' | 'fence'>): Promise<void> {
    this.describe = describe;
    await this.acquire(await readLeaseId(this.opts.runDir));
  }

  private async acquire(resume: string | undefined): Promise<void> {
    const { lease, resumed } = await PresenceLease.acquire(this.store.ns, this.opts.ttlMs, resume);
    await writeLeaseId(this.opts.runDir, lease.id);
    lease.on('renewed', (sentAt: number) => {
      // Only the current lease pets: a lost one's late answer says nothing of the new one.
      if (this.lease !== lease) return;
      void this.pet(lease, sentAt).catch((err: unknown) => this.log.error({ err }, 'cannot pet the fence watchdog'));
      void this.checkWatchdog();
    });
    lease.on('lost', (reason: string) => {
      if (this.lease !== lease) return;
      this.lease = undefined;
      if (this.stopped) return;
      this.log.warn({ epoch: lease.id, reason }, 'presence lease lost: this host may be declared dead; announcing on a new lease');
      void this.again();
    });
    this.lease = lease;
    lease.start();
    try {
      await this.put();
      // Lost while its record was written: that record goes with it, so this lease is no epoch.
      if (this.lease !== lease) throw new UcloudError('HOST_FENCED', `presence lease ${lease.id} lost while announcing`);
      this.announced = lease;
    } catch (err) {
      // Not announced: this lease must not go on renewing and petting as if it were.
      lease.close();
      if (this.lease === lease) this.lease = undefined;
      throw err;
    }
    this.log.info({ epoch: lease.id, resumed }, resumed ? 'presence lease resumed' : 'presence lease granted');
  }

  /** The re-announce loop under way, if any: one at a time (a lease lost while announcing is retried by it). */
  private reannouncing: Promise<void> | undefined;

  private again(): Promise<void> {
    return (this.reannouncing ??= this.reannounce().finally(() => (this.reannouncing = undefined)));
  }

  /** A new lease after a lost one, retried until etcd answers. */
  private async reannounce(): Promise<void> {
    for (let wait = 500; !this.stopped; wait = Math.min(wait * 2, 5000)) {
      try {
        await this.acquire(undefined);
        this.onNewEpoch();
        return;
      } catch (err) {
        this.log.warn({ err }, 'cannot announce this host yet');
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  /** Record writes, one after another: a late write on a lost lease must never land after its successor's. */
  private readonly writes = new Serial();

  /** Writes the presence record again, on the current lease (what it says changed). */
  put(): Promise<void> {
    return this.writes.run(() => this.write());
  }

  private async write(): Promise<void> {
    const lease = this.lease;
    if (!lease || !this.describe) return;
    const fence = await this.watchdogRunning();
    // Lost meanwhile: the next lease's own write says it all.
    if (this.lease !== lease) return;
    await this.hosts.announce({ ...this.describe(), name: this.opts.name, epoch: lease.id, fence }, lease.id);
  }

  /**
   * Stops renewing. `revoke`: the host is gone now (its record vanishes at
   * once); else the lease runs out by itself (a successor agent resumes it).
   */
  async stop(revoke: boolean): Promise<void> {
    this.stopped = true;
    const lease = this.lease;
    this.lease = undefined;
    if (revoke) await lease?.revoke().catch(() => undefined);
    else lease?.close();
  }
}
