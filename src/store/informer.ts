import { EventEmitter } from 'node:events';
import type { Watcher } from 'etcd3';
import type { Static, TSchema } from 'typebox';
import type { Logger } from '../common/logger.js';
import type { RecordKind } from './keys.js';
import type { Store, Versioned } from './store.js';

/**
 * A local copy of every record under a prefix, kept current by a watch that
 * resumes from the last revision it saw. When the watch breaks (etcd compacted
 * the revision away, or the stream ended) it re-lists and watches again; records
 * that changed meanwhile are reported as changes, so consumers stay
 * level-triggered and never miss a state.
 */
export class Informer<S extends TSchema> extends EventEmitter<{ change: [key: string]; synced: [] }> {
  readonly items = new Map<string, Versioned<Static<S>>>();
  /**
   * Keys present in etcd whose record fails its schema. They are skipped, not
   * fatal; a record that was readable before keeps its last good value in
   * `items`, so a consumer never mistakes a corrupt record for a deleted one
   * (an agent would remove a VM it thought deleted).
   */
  readonly unreadable = new Set<string>();
  private watcher: { watcher: Watcher; close(): void } | undefined;
  private stopped = false;
  private revision = '0';

  constructor(
    private readonly store: Store,
    private readonly kind: RecordKind<S>,
    private readonly prefix: string,
    private readonly log: Logger,
  ) {
    super();
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
    const w = this.watcher;
    this.watcher = undefined;
    // Closing its client ends the watch; a cancel could wait on a stream that never answers.
    w?.close();
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
          this.items.set(item.key, item);
          if (!old || old.modRevision !== item.modRevision) this.emit('change', item.key);
        }
        for (const key of [...this.items.keys()]) {
          if (!seen.has(key)) {
            this.items.delete(key);
            this.emit('change', key);
          }
        }
        this.revision = revision;
        await this.watch();
        this.emit('synced');
        return;
      } catch (err) {
        this.log.warn({ err, prefix: this.prefix, attempt }, 'list/watch failed; retrying');
        await new Promise((r) => setTimeout(r, Math.min(5000, 200 * 2 ** attempt)));
      }
    }
  }

  private async watch(): Promise<void> {
    const session = await this.store.watch(this.prefix, String(BigInt(this.revision) + 1n));
    const w = session.watcher;
    if (this.stopped) {
      session.close();
      return;
    }
    this.watcher = session;
    w.on('put', (kv) => {
      this.revision = kv.mod_revision;
      let item: Versioned<Static<S>>;
      try {
        item = this.store.parse(this.kind, kv);
      } catch (err) {
        this.unreadable.add(this.store.relativeKey(kv.key));
        this.store.reportSkipped(kv, err);
        return;
      }
      this.unreadable.delete(item.key);
      this.items.set(item.key, item);
      this.emit('change', item.key);
    });
    w.on('delete', (kv) => {
      const key = this.store.relativeKey(kv.key);
      this.unreadable.delete(key);
      this.items.delete(key);
      this.revision = kv.mod_revision;
      this.emit('change', key);
    });
    w.on('error', (err) => {
      if (this.stopped || this.watcher !== session) return;
      this.log.warn({ err, prefix: this.prefix }, 'watch broke; re-listing');
      this.watcher = undefined;
      session.close();
      void this.relist();
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
