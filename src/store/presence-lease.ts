import { EventEmitter } from 'node:events';
import type { IDuplexStream, ILeaseKeepAliveRequest, ILeaseKeepAliveResponse, Namespace } from 'etcd3';
import { monoMs } from '../common/clock.js';
import { poolOf, type PoolInternals } from './etcd3-pool.js';
import { call } from './store.js';

type LeaseService = { leaseKeepAlive(metadata: unknown, options: object): KeepAliveStream };
type KeepAliveStream = IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse> & { writable: boolean };

function* always<T>(x: T): Generator<T> {
  for (;;) yield x;
}

/** One keepalive stream, on one endpoint, with the send times of its renewals not yet answered, oldest first (a stream answers in order). */
interface Channel {
  s: KeepAliveStream;
  inflight: number[];
  /** Whether etcd answered a renewal on it. */
  answered: boolean;
}

/**
 * The lease a host agent announces itself on (its fencing epoch), kept alive
 * by hand so the agent knows when each renewal that etcd answered was *sent*.
 * etcd extends a lease from when its leader receives a keepalive, never
 * earlier, so "sent at t" means the lease lives at least until t + TTL: the
 * agent pets its fence watchdog with that bound (src/host/fence). A restarted
 * agent resumes its predecessor's lease by id while it lives, so an agent
 * restart neither fences HA VMs nor looks like a dead host.
 *
 * Renewals go over one stream to one endpoint. When every stream has left a
 * renewal unanswered for a quarter of the renewal interval (a member frozen or with a
 * stalled disk holds its connections and answers nothing; a follower handles
 * one stream's renewals one after another and holds each it forwards to a
 * leader that froze for seconds), or the last one failed, a fresh stream is
 * opened to every endpoint and each sends a renewal: the first to answer
 * carries on alone. After a leader froze, the first fresh stream that reaches a
 * follower knowing the new leader is answered. Stalled streams stay open for a
 * late answer, a few per endpoint.
 *
 * Events: `renewed` (sentAtMono: number) after each renewal etcd answered;
 * `lost` (reason: string) once no renewal sent within the TTL was answered,
 * or etcd says the lease is gone. After `lost` it does nothing more.
 */
export class PresenceLease extends EventEmitter {
  private timer: NodeJS.Timeout | undefined;
  private stallCheck: NodeJS.Timeout | undefined;
  private readonly channels = new Set<Channel>();
  private opening = 0;
  private closed = false;
  private readonly pool: PoolInternals;
  private stallMs = 250;
  private everyMs = 1000;
  /** No fresh streams before then (CLOCK_MONOTONIC ms): after streams that failed without an answer, a renewal interval. */
  private nextOpenAt = -Infinity;

  private constructor(
    private readonly ns: Namespace,
    readonly id: string,
    readonly ttlMs: number,
    /** Send time of the newest renewal etcd answered (or of the grant). */
    private renewedAt: number,
  ) {
    super();
    this.pool = poolOf(ns, 'PresenceLease');
  }

  /**
   * Resumes lease `resume` if etcd still holds it, else grants a new one of
   * `ttlMs` (whole seconds, at least 1). `resumed`: the old one lives on.
   */
  static async acquire(ns: Namespace, ttlMs: number, resume?: string): Promise<{ lease: PresenceLease; resumed: boolean }> {
    // Before a lease is granted: one that could not be kept alive would only expire.
    poolOf(ns, 'PresenceLease');
    const ttl = Math.max(1, Math.round(ttlMs / 1000));
    if (resume && /^\d+$/.test(resume)) {
      const sent = monoMs();
      const left = await call(() => ns.leaseClient.leaseTimeToLive({ ID: resume }), 'lease');
      // The lease lives at least `left` seconds from when the question was sent.
      if (Number(left.TTL) > 0) return { lease: new PresenceLease(ns, resume, ttl * 1000, sent + Number(left.TTL) * 1000 - ttl * 1000), resumed: true };
    }
    const sent = monoMs();
    const g = await call(() => ns.leaseClient.leaseGrant({ TTL: ttl, ID: 0 }), 'lease');
    return { lease: new PresenceLease(ns, String(g.ID), ttl * 1000, sent), resumed: false };
  }

  /** The newest bound: the lease lives at least until then (CLOCK_MONOTONIC ms). */
  get aliveUntil(): number {
    return this.renewedAt + this.ttlMs;
  }

  /** Starts renewing, every `everyMs` (default a third of the TTL, at most 1 s), and says `renewed` for the grant. */
  start(everyMs = Math.min(1000, this.ttlMs / 3)): void {
    this.emit('renewed', this.renewedAt);
    this.everyMs = everyMs;
    this.stallMs = everyMs / 4;
    this.timer = setInterval(() => this.tick(), everyMs);
    this.stallCheck = setInterval(() => this.checkStalls(), everyMs / 8);
    this.tick();
  }

  private stalled(ch: Channel, now = monoMs()): boolean {
    const oldest = ch.inflight[0];
    return oldest !== undefined && now - oldest > this.stallMs;
  }

  private tick(): void {
    if (this.closed) return;
    if (monoMs() > this.aliveUntil) return this.lose('no renewal was answered within the lease TTL');
    const live = [...this.channels].filter((ch) => !this.stalled(ch));
    if (live.length === 0) return this.openAll();
    for (const ch of live) this.send(ch);
  }

  private send(ch: Channel): void {
    ch.inflight.push(monoMs());
    ch.s.write({ ID: this.id });
  }

  /** Between renewals: when no stream is left that is not stalled, fresh ones. */
  private checkStalls(): void {
    if (this.closed) return;
    const now = monoMs();
    if ([...this.channels].some((ch) => !this.stalled(ch, now))) return;
    this.openAll();
  }

  /** A fresh stream to every endpoint, each sending a renewal; the oldest stalled ones give way past a few per endpoint. */
  private openAll(): void {
    const now = monoMs();
    if (this.closed || this.opening > 0 || now < this.nextOpenAt) return;
    this.nextOpenAt = now + this.stallMs;
    for (const ch of this.channels) {
      if (this.channels.size < 2 * this.pool.hosts.length) break;
      this.drop(ch);
    }
    for (const host of this.pool.hosts) void this.open(host);
  }

  private drop(ch: Channel): void {
    this.channels.delete(ch);
    ch.s.end();
  }

  private async open(host: unknown): Promise<void> {
    this.opening++;
    try {
      const ch: Channel = {
        s: await this.pool.withConnection('Lease', ({ resource, client, metadata }) => {
          const s = (client as LeaseService).leaseKeepAlive(metadata, {});
          // As etcd3's own keepalive: a failed stream counts against its endpoint's breaker.
          s.on('error', (err: Error) => s.writable && this.pool.markFailed(resource, err));
          return s;
        }, always(host)),
        inflight: [],
        answered: false,
      };
      // Another opened beside it answered meanwhile: that one carries on alone.
      if (this.closed || [...this.channels].some((c) => c.answered && !this.stalled(c))) return void ch.s.end();
      const gone = () => {
        if (!this.channels.delete(ch)) return;
        if (ch.answered && this.channels.size === 0) {
          // A stream that was answering ended (its member went away): fresh ones at once, not at the next renewal.
          this.nextOpenAt = -Infinity;
          setImmediate(() => this.openAll());
        } else if (!ch.answered) this.nextOpenAt = Math.max(this.nextOpenAt, monoMs() + this.everyMs);
      };
      ch.s.on('error', gone);
      ch.s.on('end', gone);
      ch.s.on('data', (res: ILeaseKeepAliveResponse) => this.answered(ch, res));
      this.channels.add(ch);
      this.send(ch);
    } catch {
      // That endpoint refused (or its breaker is open): the others may answer; if none does, checkStalls opens again.
    } finally {
      this.opening--;
    }
  }

  private answered(ch: Channel, res: ILeaseKeepAliveResponse): void {
    const sent = ch.inflight.shift();
    if (Number(res.TTL) <= 0) return this.lose('etcd says the lease is gone');
    if (sent !== undefined && sent > this.renewedAt) {
      this.renewedAt = sent;
      this.emit('renewed', sent);
    }
    // A stream dropped may still answer what it was sent: that counts, but it does not carry on.
    if (!this.channels.has(ch)) return;
    ch.answered = true;
    // The first to answer carries on alone.
    for (const other of this.channels) if (other !== ch) this.drop(other);
  }

  private lose(reason: string): void {
    if (this.closed) return;
    this.close();
    this.emit('lost', reason);
  }

  /** Stops renewing without revoking: the lease ends by itself after its TTL, or a successor resumes it. */
  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    clearInterval(this.stallCheck);
    for (const ch of [...this.channels]) this.drop(ch);
  }

  /** Ends the lease now: its keys vanish. */
  async revoke(): Promise<void> {
    this.close();
    await call(() => this.ns.leaseClient.leaseRevoke({ ID: this.id }), 'lease');
  }
}
