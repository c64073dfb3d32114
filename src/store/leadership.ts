import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Election } from 'etcd3';
import type { Logger } from '../common/logger.js';
import type { ElectionName } from './keys.js';
import type { Store } from './store.js';

/** Stops what a leader started; its daemon keeps running and campaigns again. */
export type StopWork = () => Promise<void>;

export interface LeadershipOptions {
  election: ElectionName;
  /** The candidate's lease TTL (config leader_lease_ttl), whole seconds. */
  ttlMs: number;
  log: Logger;
  /** Starts the work one daemon of the cluster does; runs each time this one becomes leader. */
  lead: () => Promise<StopWork>;
  /** What this candidate announces (default `<hostname>:<pid>`): what `leaderOf` answers. */
  identity?: string;
}

export type Role = 'leader' | 'standby';

/** A failed campaign (etcd unreachable, the work would not start) is tried again after this, doubling up to the TTL. */
const RETRY_MS = 250;

/**
 * Runs `lead`'s work only while this daemon leads its etcd election (etcd3's
 * Election: each candidate puts a key on a lease of its own; the earliest key
 * leads, the others wait for the keys before theirs to go). The work stops,
 * without the daemon exiting, when the lease is lost: etcd said it expired, or
 * etcd was out of reach for 2 × TTL (etcd3's rule); then it campaigns again.
 * A clean `stop` resigns (revokes the lease), so a standby takes over at
 * once; a leader killed outright is replaced when its lease's TTL runs out.
 *
 * The election only spares work: for up to about one TTL a leader cut off from
 * etcd may still run while another has taken over, so what the work writes
 * must be safe with two writers (the scheduler's bookings are
 * compare-and-swaps).
 */
export class Leadership {
  readonly identity: string;
  private readonly stopping = new AbortController();
  private loop?: Promise<void>;
  private firstRole?: (role: Role) => void;
  private leading = false;

  constructor(
    private readonly store: Store,
    private readonly opts: LeadershipOptions,
  ) {
    this.identity = opts.identity ?? `${hostname()}:${process.pid}`;
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /** Campaigns; resolves once this daemon leads (its work started) or knows another does. */
  start(): Promise<Role> {
    const first = new Promise<Role>((resolve) => (this.firstRole = resolve));
    this.opts.log.info({ election: this.opts.election, identity: this.identity }, 'campaigning for leadership');
    this.loop = this.run();
    return first;
  }

  /** Stops the work and resigns. */
  async stop(): Promise<void> {
    this.stopping.abort();
    await this.loop;
  }

  private role(role: Role): void {
    this.firstRole?.(role);
    this.firstRole = undefined;
  }

  private async run(): Promise<void> {
    const { election, log } = this.opts;
    const signal = this.stopping.signal;
    let backoff = RETRY_MS;
    while (!signal.aborted) {
      // One per campaign, its listener removed after: a daemon may campaign many times while etcd is away.
      let onStop!: () => void;
      const stopped = new Promise<'stop'>((resolve) => (onStop = () => resolve('stop')));
      signal.addEventListener('abort', onStop, { once: true });
      const conn = this.store.connection();
      const elect = conn.ns.election(election, Math.max(1, Math.round(this.opts.ttlMs / 1000)));
      const campaign = elect.campaign(this.identity);
      // Its lease lost, or the campaign failed; etcd3 may say so more than once.
      const ended = new Promise<Error>((resolve) => campaign.on('error', resolve));
      const elected = new Promise<'elected'>((resolve) => campaign.on('elected', () => resolve('elected')));
      void this.noteStandby(elect, elected, ended);
      let failed = false;
      const first = await Promise.race([elected, ended, stopped]);
      if (first === 'elected') {
        let stopWork: StopWork | undefined;
        try {
          stopWork = await this.opts.lead();
        } catch (err) {
          failed = true;
          log.warn({ err, election }, 'the leader could not start its work; resigning');
        }
        if (stopWork) {
          this.leading = true;
          backoff = RETRY_MS;
          log.info({ election, identity: this.identity }, 'became leader');
          this.role('leader');
          const why = await Promise.race([ended, stopped]);
          this.leading = false;
          if (why instanceof Error) log.warn({ err: why, election, identity: this.identity }, 'lost leadership; stopping its work');
          else log.info({ election, identity: this.identity }, 'resigning leadership');
          await stopWork().catch((err: unknown) => log.warn({ err, election }, 'stopping the work failed'));
        }
      } else if (first instanceof Error) {
        failed = true;
        log.warn({ err: first, election }, 'campaign failed; campaigning again');
      }
      // Bounded: with etcd out of reach the revoke cannot land, and the lease then simply runs out.
      await Promise.race([campaign.resign().catch(() => undefined), sleep(this.opts.ttlMs, undefined, { ref: false })]);
      conn.close();
      signal.removeEventListener('abort', onStop);
      if (failed && !signal.aborted) {
        await sleep(backoff, undefined, { signal }).catch(() => undefined);
        backoff = Math.min(backoff * 2, this.opts.ttlMs);
      }
    }
  }

  /**
   * Tells (once per campaign) who leads while this one waits. Our own key is
   * written a moment after the campaign starts: until then the earliest key is
   * another candidate's (we wait), or there is none (we are about to lead).
   */
  private async noteStandby(elect: Election, elected: Promise<unknown>, ended: Promise<unknown>): Promise<void> {
    let done = false;
    void Promise.race([elected, ended]).then(() => (done = true));
    for (let tries = 0; tries < 50 && !done && !this.stopping.signal.aborted; tries++) {
      const leader = await elect.leader().catch(() => undefined);
      if (done || leader === this.identity) return;
      if (leader !== undefined) {
        this.opts.log.info({ election: this.opts.election, identity: this.identity, leader }, 'standing by');
        this.role('standby');
        return;
      }
      await sleep(100, undefined, { ref: false });
    }
  }
}

/** Who leads `election` now (the identity it campaigned with), or undefined. */
export function leaderOf(store: Store, election: ElectionName): Promise<string | undefined> {
  return store.ns.election(election).leader();
}
