import { EventEmitter } from 'node:events';
import type { IDuplexStream, ILeaseKeepAliveRequest, ILeaseKeepAliveResponse, Namespace } from 'etcd3';
import { call } from './store.js';

/** CLOCK_MONOTONIC in ms: one clock for every process on the machine, deaf to wall-clock jumps. */
export const monoMs = (): number => Number(process.hrtime.bigint() / 1_000_000n);

/**
 * The lease a host agent announces itself on (its fencing epoch), kept alive
 * by hand so the agent knows when each renewal that etcd answered was *sent*.
 * etcd extends a lease from when its leader receives a keepalive, never
 * earlier, so "sent at t" means the lease lives at least until t + TTL: the
 * agent pets its fence watchdog with that bound (src/host/fence). A restarted
 * agent resumes its predecessor's lease by id while it lives, so an agent
 * restart neither fences HA VMs nor looks like a dead host.
 *
 * Events: `renewed` (sentAtMono: number) after each renewal etcd answered;
 * `lost` (reason: string) once no renewal sent within the TTL was answered,
 * or etcd says the lease is gone. After `lost` it does nothing more.
 */
export class PresenceLease extends EventEmitter {
  private timer: NodeJS.Timeout | undefined;
  private stream: IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse> | undefined;
  private opening = false;
  /** Send times of keepalives not yet answered, oldest first (one stream answers in order). */
  private inflight: number[] = [];
  private closed = false;

  private constructor(
    private readonly ns: Namespace,
    readonly id: string,
    readonly ttlMs: number,
    /** Send time of the newest renewal etcd answered (or of the grant). */
    private renewedAt: number,
  ) {
    super();
  }

  /**
   * Resumes lease `resume` if etcd still holds it, else grants a new one of
   * `ttlMs` (whole seconds, at least 1). `resumed`: the old one lives on.
   */
  static async acquire(ns: Namespace, ttlMs: number, resume?: string): Promise<{ lease: PresenceLease; resumed: boolean }> {
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
    this.timer = setInterval(() => this.tick(), everyMs);
    this.tick();
  }

  private tick(): void {
    if (this.closed) return;
    if (monoMs() > this.aliveUntil) return this.lose('no renewal was answered within the lease TTL');
    if (!this.stream) return void this.open();
    this.inflight.push(monoMs());
    this.stream.write({ ID: this.id });
  }

  private async open(): Promise<void> {
    if (this.opening) return;
    this.opening = true;
    try {
      const s = await this.ns.leaseClient.leaseKeepAlive();
      if (this.closed) return void s.end();
      const drop = () => {
        if (this.stream === s) {
          this.stream = undefined;
          this.inflight = [];
        }
      };
      s.on('error', drop);
      s.on('end', drop);
      s.on('data', (res: ILeaseKeepAliveResponse) => {
        const sent = this.inflight.shift();
        if (Number(res.TTL) <= 0) return this.lose('etcd says the lease is gone');
        if (sent !== undefined && sent > this.renewedAt) {
          this.renewedAt = sent;
          this.emit('renewed', sent);
        }
      });
      this.stream = s;
      this.inflight = [];
      this.tick();
    } catch {
      // etcd unreachable: the next tick tries again, until the TTL says lost.
    } finally {
      this.opening = false;
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
    this.stream?.end();
    this.stream = undefined;
  }

  /** Ends the lease now: its keys vanish. */
  async revoke(): Promise<void> {
    this.close();
    await call(() => this.ns.leaseClient.leaseRevoke({ ID: this.id }), 'lease');
  }
}
