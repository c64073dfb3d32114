// Refusals counted per source in fixed windows, so a source that keeps
// presenting wrong credentials is turned away before each one costs a lookup
// (the host console endpoint: an etcd take per ticket). Memory is bounded:
// past `maxKeys` sources the oldest windows are forgotten first.

export interface FailureLimiterOptions {
  /** Refusals a source may have per window; the next attempt is turned away until the window ends. */
  max: number;
  windowMs: number;
  maxKeys?: number;
  now?: () => number;
}

export class FailureLimiter {
  private readonly windows = new Map<string, { n: number; until: number }>();
  private readonly maxKeys: number;
  private readonly now: () => number;

  constructor(private readonly o: FailureLimiterOptions) {
    this.maxKeys = o.maxKeys ?? 4096;
    this.now = o.now ?? Date.now;
  }

  /** ms until `key` may try again; 0 when it may now. */
  retryAfterMs(key: string): number {
    const w = this.windows.get(key);
    if (!w) return 0;
    const left = w.until - this.now();
    if (left <= 0) {
      this.windows.delete(key);
      return 0;
    }
    return w.n >= this.o.max ? left : 0;
  }

  /** One more refusal of `key`. */
  refused(key: string): void {
    const t = this.now();
    let w = this.windows.get(key);
    if (!w || w.until <= t) {
      this.windows.delete(key);
      if (this.windows.size >= this.maxKeys) this.forget(t);
      w = { n: 0, until: t + this.o.windowMs };
      this.windows.set(key, w);
    }
    w.n++;
  }

  get size(): number {
    return this.windows.size;
  }

  private forget(t: number): void {
    for (const [k, w] of this.windows) if (w.until <= t) this.windows.delete(k);
    // Still full: the oldest windows first (a Map keeps insertion order).
    for (const k of this.windows.keys()) {
      if (this.windows.size < this.maxKeys) break;
      this.windows.delete(k);
    }
  }
}
