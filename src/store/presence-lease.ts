import { EventEmitter } from 'node:events';
import type { IDuplexStream, ILeaseKeepAliveRequest, ILeaseKeepAliveResponse, Namespace } from 'etcd3';
import { call } from './store.js';

/** CLOCK_MONOTONIC in ms: one clock for every process on the machine, deaf to wall-clock jumps. */
export const monoMs = (): number => Number(process.hrtime.bigint() / 1_000_000n);

/** What PresenceLease needs of etcd3's connection pool (not public API; checked when a lease is made). */
interface PoolInternals {
  hosts: unknown[];
  withConnection<T>(service: 'Lease', fn: (c: { resource: unknown; client: LeaseService; metadata: unknown }) => T, hosts: Iterator<unknown>): Promise<T>;
  markFailed(resource: unknown, err: Error): void;
}
type LeaseService = { leaseKeepAlive(metadata: unknown, options: object): KeepAliveStream };
type KeepAliveStream = IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse> & { writable: boolean };

function poolOf(ns: Namespace): PoolInternals {
  const pool = (ns.leaseClient as unknown as { client: PoolInternals }).client;
  // Loud on an etcd3 upgrade that moved them: every agent test fails here.
  if (!Array.isArray(pool?.hosts) || typeof pool.withConnection !== 'function' || typeof pool.markFailed !== 'function') throw new Error('etcd3 internals changed: PresenceLease (src/store/presence-lease.ts) needs review');
  return pool;
}

function* always<T>(x: T): Generator<T> {
  for (;;) yield x;
}

/** One keepalive stream, on one endpoint, with the send times of its renewals not yet answered, oldest first (a stream answers in order). */
interface Channel {
  s: KeepAliveStream;
  inflight: number[];
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
 * Renewals go over one stream to one endpoint. A stream that fails, or leaves a
 * renewal unanswered for half the renewal interval (a frozen member, one whose
 * disk stalls, or a follower still forwarding to a leader that froze: a member
 * handles one stream's renewals one after another), is replaced by a stream to
 * the next endpoint in turn, so one bad member out of three costs at most two
 * such waits, short of fence_timeout. The stream replaced stays open until the
 * new one answers: a late answer to an earlier renewal still counts.
 *
 * Events: `renewed` (sentAtMono: number) after each renewal etcd answered;
 * `lost` (reason: string) once no renewal sent within the TTL was answered,
 * or etcd says the lease is gone. After `lost` it does nothing more.
 */
export class PresenceLease extends EventEmitter {
  private timer: NodeJS.Timeout | undefined;
  private watcher: NodeJS.Timeout | undefined;
  private current: Channel | undefined;
  /** Streams replaced that may still answer a renewal sent on them. */
  private readonly draining = new Set<Channel>();
  private opening = false;
  private closed = false;
  private readonly pool: PoolInternals;
  /** The endpoint the next stream opens on: agents start on different ones. */
  private at: number;
  private stallMs = 500;

  private constructor(
    private readonly ns: Namespace,
    readonly id: string,
    readonly ttlMs: number,
    /** Send time of the newest renewal etcd answered (or of the grant). */
    private renewedAt: number,
  ) {
    super();
    this.pool = poolOf(ns);
    this.at = Math.floor(Math.random() * this.pool.hosts.length);
  }

  /**
   * Resumes lease `resume` if etcd still holds it, else grants a new one of
   * `ttlMs` (whole seconds, at least 1). `resumed`: the old one lives on.
   */
  static async acquire(ns: Namespace, ttlMs: number, resume?: string): Promise<{ lease: PresenceLease; resumed: boolean }> {
    poolOf(ns);
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
    this.stallMs = everyMs / 2;
    this.timer = setInterval(() => this.tick(), everyMs);
    this.watcher = setInterval(() => this.watch(), everyMs / 4);
    this.tick();
  }

  private tick(): void {
    if (this.closed) return;
    if (monoMs() > this.aliveUntil) return this.lose('no renewal was answered within the lease TTL');
    if (!this.current) return void this.open();
    this.send(this.current);
  }

  private send(ch: Channel): void {
    ch.inflight.push(monoMs());
    ch.s.write({ ID: this.id });
  }

  /** Between renewals: a stream that has left one unanswered too long is replaced; with none, one is opened. */
  private watch(): void {
    if (this.closed) return;
    const ch = this.current;
    if (!ch) return void this.open();
    const oldest = ch.inflight[0];
    if (oldest === undefined || monoMs() - oldest <= this.stallMs) return;
    this.current = undefined;
    this.draining.add(ch);
    // With no quorum every stream stalls: the oldest give way, a few per endpoint stay to answer late.
    for (const old of this.draining) {
      if (this.draining.size <= 2 * this.pool.hosts.length) break;
      old.s.end();
      this.draining.delete(old);
    }
    this.at++;
    void this.open();
  }

  private async open(): Promise<void> {
    if (this.opening || this.closed) return;
    this.opening = true;
    const host = this.pool.hosts[this.at % this.pool.hosts.length];
    try {
      const ch: Channel = {
        s: await this.pool.withConnection('Lease', ({ resource, client, metadata }) => {
          const s = client.leaseKeepAlive(metadata, {});
          // As etcd3's own keepalive: a failed stream counts against its endpoint's breaker.
          s.on('error', (err: Error) => s.writable && this.pool.markFailed(resource, err));
          return s;
        }, always(host)),
        inflight: [],
      };
      if (this.closed) return void ch.s.end();
      const gone = () => {
        this.draining.delete(ch);
        if (this.current !== ch) return;
        this.current = undefined;
        this.at++;
        // At once, not at the next renewal: the next endpoint may answer within the fence's deadline.
        setImmediate(() => void this.open());
      };
      ch.s.on('error', gone);
      ch.s.on('end', gone);
      ch.s.on('data', (res: ILeaseKeepAliveResponse) => this.answered(ch, res));
      this.current = ch;
      this.send(ch);
    } catch {
      // That endpoint refused (or its breaker is open): the next watch tries the next one, until the TTL says lost.
      this.at++;
    } finally {
      this.opening = false;
    }
  }

  private answered(ch: Channel, res: ILeaseKeepAliveResponse): void {
    const sent = ch.inflight.shift();
    if (Number(res.TTL) <= 0) return this.lose('etcd says the lease is gone');
    if (ch === this.current) {
      // The streams it replaced are behind it now.
      for (const old of this.draining) old.s.end();
      this.draining.clear();
    }
    if (sent !== undefined && sent > this.renewedAt) {
      this.renewedAt = sent;
      this.emit('renewed', sent);
    }
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
    clearInterval(this.watcher);
    this.current?.s.end();
    for (const ch of this.draining) ch.s.end();
    this.draining.clear();
    this.current = undefined;
  }

  /** Ends the lease now: its keys vanish. */
  async revoke(): Promise<void> {
    this.close();
    await call(() => this.ns.leaseClient.leaseRevoke({ ID: this.id }), 'lease');
  }
}
