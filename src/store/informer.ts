import { EventEmitter } from 'node:events';
import type { Static, TSchema } from 'typebox';
import type { Logger } from '../common/logger.js';
import type { RecordKind } from './keys.js';
import type { Store, Versioned } from './store.js';
import type { WatchSession } from './watch-session.js';

/**
 * A local copy of every record under a prefix, kept current by a watch that
 * resumes from the last revision it saw. When the watch breaks (etcd compacted
 * the revision away, or the stream ended) it re-lists and watches again; records
 * that changed meanwhile are reported as changes, so consumers stay
 * level-triggered and never miss a state.
 */
export interface InformerOptions<T> {
  /**
   * Secondary indexes: each maps a record to the value it is found under
   * (undefined: not in that index), kept as records arrive, so a lookup costs
   * the size of its answer, not a scan.
   */
  indexes?: Record<string, (value: T) => string | undefined>;
}

export class Informer<S extends TSchema> extends EventEmitter<{ change: [key: string]; synced: [] }> {
  readonly items = new Map<string, Versioned<Static<S>>>();
  /**
   * Keys present in etcd whose record fails its schema. They are skipped, not
   * fatal; a record that was readable before keeps its last good value in
   * `items`, so a consumer never mistakes a corrupt record for a deleted one
   * (an agent would remove a VM it thought deleted).
   */
  readonly unreadable = new Set<string>();
  private watcher: WatchSession | undefined;
  private stopped = false;
  private rev = 0n;
  private waiters: { rev: bigint; resolve: (ok: boolean) => void }[] = [];
  private readonly index = new Map<string, Map<string, Set<string>>>();
  private readonly indexed = new Map<string, Map<string, string>>();
  private readonly indexFns: [string, (value: Static<S>) => string | undefined][];
  synced = false;
  private readonly syncedOnce: Promise<void>;

  constructor(
    private readonly store: Store,
    private readonly kind: RecordKind<S>,
    readonly prefix: string,
    private readonly log: Logger,
    opts: InformerOptions<Static<S>> = {},
  ) {
    super();
    this.setMaxListeners(0);
    this.indexFns = Object.entries(opts.indexes ?? {});
    for (const [name] of this.indexFns) this.index.set(name, new Map());
    this.syncedOnce = new Promise((resolve) => this.once('synced', resolve));
  }

  /** The highest store revision whose events (in this prefix) have all been applied. */
  get revision(): string {
    return String(this.rev);
  }

  /**
   * Resolves true once every change up to `revision` has been applied (false
   * after `timeoutMs`; never throws). A writer that knows its commit's revision
   * waits here before reading its own write from the cache.
   */
  waitFor(revision: string | bigint, timeoutMs = 5000): Promise<boolean> {
    const rev = BigInt(revision);
    if (this.synced && this.rev >= rev) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve(false);
      }, timeoutMs);
      timer.unref();
      const waiter = {
        rev,
        resolve: (ok: boolean) => {
          clearTimeout(timer);
          resolve(ok);
        },
      };
      this.waiters.push(waiter);
    });
  }

  /** True once the first full list is in (false after `timeoutMs`). */
  async whenSynced(timeoutMs = 5000): Promise<boolean> {
    if (this.synced) return true;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
      timer.unref();
    });
    const ok = await Promise.race([this.syncedOnce.then(() => true), timeout]);
    clearTimeout(timer);
    return ok;
  }

  /** How many records index `index` holds under `value` (no array built). */
  countByIndex(index: string, value: string): number {
    const m = this.index.get(index);
    if (!m) throw new Error(`informer on ${this.prefix} has no index "${index}"`);
    return m.get(value)?.size ?? 0;
  }

  /** Records whose index function `index` returned `value`. */
  byIndex(index: string, value: string): Versioned<Static<S>>[] {
    const m = this.index.get(index);
    if (!m) throw new Error(`informer on ${this.prefix} has no index "${index}"`);
    const keys = m.get(value);
    if (!keys) return [];
    const out: Versioned<Static<S>>[] = [];
    for (const k of keys) {
      const item = this.items.get(k);
      if (item) out.push(item);
    }
    return out;
  }

  private advance(revision: string): void {
    const rev = BigInt(revision);
    if (rev > this.rev) this.rev = rev;
    if (!this.synced || this.waiters.length === 0) return;
    const ready = this.waiters.filter((w) => w.rev <= this.rev);
    if (ready.length === 0) return;
    this.waiters = this.waiters.filter((w) => w.rev > this.rev);
    for (const w of ready) w.resolve(true);
  }

  private setItem(item: Versioned<Static<S>>): void {
    this.items.set(item.key, item);
    if (this.indexFns.length === 0) return;
    let mine = this.indexed.get(item.key);
    for (const [name, fn] of this.indexFns) {
      const value = fn(item.value);
      const old = mine?.get(name);
      if (old === value) continue;
      if (old !== undefined) this.unindex(name, old, item.key);
      if (value === undefined) {
        mine?.delete(name);
        continue;
      }
      const m = this.index.get(name)!;
      let keys = m.get(value);
      if (!keys) m.set(value, (keys = new Set()));
      keys.add(item.key);
      if (!mine) this.indexed.set(item.key, (mine = new Map()));
      mine.set(name, value);
    }
  }

  private deleteItem(key: string): void {
    this.items.delete(key);
    const mine = this.indexed.get(key);
    if (!mine) return;
    for (const [name, value] of mine) this.unindex(name, value, key);
    this.indexed.delete(key);
  }

  private unindex(name: string, value: string, key: string): void {
    const m = this.index.get(name)!;
    const keys = m.get(value);
    if (!keys) return;
    keys.delete(key);
    if (keys.size === 0) m.delete(value);
  }

  async start(): Promise<void> {
    await this.relist();
  }

  values(): Static<S>[] {
    return [...this.items.values()].map((v) => v.value);
  }

  get(key: string): Versioned<Static<S>> | undefined {
    return this.items.get(key);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const w of this.waiters.splice(0)) w.resolve(false);
    const w = this.watcher;
    this.watcher = undefined;
    // Canceled and its client closed, without waiting: a cancel could wait on a stream that never answers.
    w?.close();
  }

  /** Drops the current watch (it broke, or went silent) and lists again. */
  private rewatch(session: WatchSession): void {
    this.watcher = undefined;
    session.close();
    void this.relist();
  }

  private async relist(): Promise<void> {
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        const { items, revision, skipped } = await this.store.list(this.kind, this.prefix);
        const seen = new Set<string>(skipped);
        this.unreadable.clear();
        for (const key of skipped) this.unreadable.add(key);
        for (const item of items) {
          seen.add(item.key);
          const old = this.items.get(item.key);
          this.setItem(item);
          if (!old || old.modRevision !== item.modRevision) this.emit('change', item.key);
        }
        for (const key of [...this.items.keys()]) {
          if (!seen.has(key)) {
            this.deleteItem(key);
            this.emit('change', key);
          }
        }
        await this.watch(revision);
        if (!this.synced) {
          this.synced = true;
          this.emit('synced');
        }
        this.advance(revision);
        return;
      } catch (err) {
        this.log.warn({ err, prefix: this.prefix, attempt }, 'list/watch failed; retrying');
        await new Promise((r) => setTimeout(r, Math.min(5000, 200 * 2 ** attempt)));
      }
    }
  }

  private async watch(revision: string): Promise<void> {
    // A watch on a member that froze goes silent without an error (see watchSession): listed and watched again elsewhere.
    const onSilent = (endpoint: string | undefined, silentMs: number) => {
      if (this.watcher !== session) return;
      this.log.warn({ prefix: this.prefix, silentMs, endpoint }, 'watch silent: its member answers no progress request; re-listing');
      this.rewatch(session);
    };
    const session: WatchSession = await this.store.watch(this.prefix, String(BigInt(revision) + 1n), { onSilent });
    const w = session.watcher;
    if (this.stopped) {
      session.close();
      return;
    }
    this.watcher = session;
    w.on('put', (kv) => {
      // A watch replaced may still deliver (its member woke up): its events are older than the list that replaced it.
      if (this.watcher !== session) return;
      let item: Versioned<Static<S>>;
      try {
        item = this.store.parse(this.kind, kv);
      } catch (err) {
        this.unreadable.add(this.store.relativeKey(kv.key));
        this.store.reportSkipped(kv, err);
        return;
      }
      this.unreadable.delete(item.key);
      this.setItem(item);
      this.emit('change', item.key);
    });
    w.on('delete', (kv) => {
      if (this.watcher !== session) return;
      const key = this.store.relativeKey(kv.key);
      this.unreadable.delete(key);
      this.deleteItem(key);
      this.emit('change', key);
    });
    // After the puts and deletes of one response (etcd3's own 'data' listener
    // emits them first). A watch catching up on old revisions gets its events in
    // batches whose header carries the CURRENT revision, so only the last event
    // says how far it got; a response without events (a progress notification,
    // sent to a watch that has caught up) may use its header.
    w.on('data', (res) => {
      if (this.watcher !== session) return;
      const last = res.events[res.events.length - 1];
      this.advance(last ? last.kv.mod_revision : res.header.revision);
    });
    // etcd3 resumes a dropped watch from the last header revision + 1, which
    // skips whatever a catch-up had not delivered yet (see above), silently.
    // So a watch that was disconnected is not trusted once it is back: it
    // re-lists (from a reachable etcd: 'connected' means it answers again).
    let dropped = false;
    w.on('disconnected', () => {
      dropped = true;
    });
    w.on('connected', () => {
      if (!dropped || this.stopped || this.watcher !== session) return;
      this.log.info({ prefix: this.prefix }, 'watch reconnected; re-listing');
      this.rewatch(session);
    });
    w.on('error', (err) => {
      if (this.stopped || this.watcher !== session) return;
      this.log.warn({ err, prefix: this.prefix }, 'watch broke; re-listing');
      this.rewatch(session);
    });
  }
}

/**
 * Runs `fn` whenever triggered, never twice at once; triggers that arrive while it
 * runs fold into one more run. Also runs every `resyncMs` as a safety net.
 */
export class Reconciler {
  private running = false;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly fn: () => Promise<void>,
    private readonly log: Logger,
    private readonly resyncMs = 30_000,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.trigger(), this.resyncMs);
    this.trigger();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
  }

  trigger(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    void (async () => {
      do {
        this.again = false;
        try {
          await this.fn();
        } catch (err) {
          this.log.error({ err }, 'reconcile pass failed');
        }
      } while (this.again && !this.stopped);
      this.running = false;
    })();
  }
}
