// Refusals counted per source in fixed windows, so a source that keeps
// presenting wrong credentials is turned away before each one costs a lookup
// (the host console endpoint: an etcd take per ticket). An attempt counts as
// refused from the moment it starts until it is known to have succeeded, so
// many at once cannot all slip past the count. Memory is bounded: past
// `maxKeys` sources the oldest windows are forgotten first.

export interface FailureLimiterOptions {
  /** Refused attempts a source may have per window; the next is turned away until the window ends. */
  max: number;
  windowMs: number;
  maxKeys?: number;
  /** A monotonic clock (ms). */
  now?: () => number;
}

interface Window {
  n: number;
  until: number;
}

export class FailureLimiter {
  private readonly windows = new Map<string, Window>();
  private readonly maxKeys: number;
  private readonly now: () => number;

  constructor(private readonly o: FailureLimiterOptions) {
    this.maxKeys = o.maxKeys ?? 4096;
    this.now = o.now ?? (() => performance.now());
  }

  /**
   * Starts an attempt of `key`, counted as refused until `succeeded` is
   * called with what this returns. Turned away (nothing counted):
   * `{ retryAfterMs, first }`, `first` on the first turn-away of the window.
   */
  attempt(key: string): { window: Window } | { retryAfterMs: number; first: boolean } {
    const t = this.now();
    let w = this.windows.get(key);
    if (!w || w.until <= t) {
      this.windows.delete(key);
      if (this.windows.size >= this.maxKeys) this.forget(t);
      w = { n: 0, until: t + this.o.windowMs };
      this.windows.set(key, w);
    }
    if (w.n >= this.o.max) {
      const first = w.n === this.o.max;
      if (first) w.n++;
      return { retryAfterMs: w.until - t, first };
    }
    w.n++;
    return { window: w };
  }

  /** The attempt did not fail after all: it no longer counts (unless its window has ended). */
  succeeded(a: { window: Window }): void {
    if (a.window.n > 0) a.window.n--;
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
