import { UcloudError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { decodeCursor, pageOf } from '../common/page.js';
import type { Event, User } from '../model/index.js';
import { Keys, Kinds } from '../store/keys.js';
import type { Store } from '../store/store.js';

/** Whose events a reader asks for: `owner` undefined is everyone's (admins only). */
export interface EventScope {
  owner: string | undefined;
  /** Only events about this VM (its name or id). */
  vm?: string;
}

/** Most records one list page reads past the filter before it answers (with a `next`) anyway. */
const SCAN_MAX = 5000;
const SCAN_CHUNK = 500;

/** What a caller may read: their own objects' events; with `anyOwner` (an admin) anyone's (`all`) or one owner's. */
export function eventScope(user: User, q: { all?: boolean; owner?: string; vm?: string }, anyOwner: boolean): EventScope {
  const admin = anyOwner;
  const owner = admin && q.all ? undefined : admin && q.owner !== undefined ? q.owner : user.name;
  return { owner, ...(q.vm !== undefined ? { vm: q.vm } : {}) };
}

const matches = (scope: EventScope, e: Event) => scope.vm === undefined || (e.object.kind === 'vm' && (e.object.id === scope.vm || e.object.name === scope.vm));

/**
 * Reads the audit log (src/store/event-log.ts writes it). Events are kept under
 * their object's owner, so a user's list and stream read only their own prefix.
 */
export class EventManager {
  constructor(
    private readonly store: Store,
    private readonly log?: Logger,
  ) {}

  private prefixOf(scope: EventScope): string {
    return scope.owner === undefined ? Keys.events() : Keys.eventsOf(scope.owner);
  }

  /**
   * A page in key order: one owner's events oldest first (all owners': grouped by owner).
   * A filtered page may hold fewer than `limit` and still have a `next`.
   */
  async list(scope: EventScope, q: { limit: number; cursor?: string }): Promise<{ items: Event[]; next?: string }> {
    const list = `events/${scope.owner ?? '*'}/${scope.vm ?? ''}`;
    let after = q.cursor === undefined ? undefined : decodeCursor(list, q.cursor);
    const prefix = this.prefixOf(scope);
    const items: Event[] = [];
    let lastKey: string | undefined;
    let more = false;
    for (let scanned = 0; items.length < q.limit && scanned < SCAN_MAX; ) {
      const r = await this.store.range(Kinds.event, prefix, after, scope.vm === undefined ? q.limit - items.length : SCAN_CHUNK);
      let full = false;
      for (const e of r.items) {
        if (items.length >= q.limit) {
          full = true;
          break;
        }
        lastKey = e.key;
        if (matches(scope, e.value)) items.push(e.value);
      }
      scanned += r.items.length;
      more = full || r.more;
      if (full || !r.more || r.lastKey === undefined) break;
      after = lastKey = r.lastKey;
    }
    return pageOf(list, items, lastKey, more);
  }

  /**
   * Calls `onEvent` for each event recorded from revision `from` on (absent: from
   * now), until `close`. `onEnd` once if the watch breaks (the reader resumes
   * from the last revision it saw).
   */
  async watch(scope: EventScope, from: string | undefined, onEvent: (e: Event, revision: string) => void, onEnd: (err?: unknown) => void): Promise<{ close(): void; revision: string }> {
    const start = from ?? String(BigInt(await this.store.revision()) + 1n);
    // Silent (its member froze): ended like a broken watch, so the reader resumes through another member.
    const onSilent = (endpoint: string | undefined, silentMs: number) => {
      this.log?.warn({ endpoint, silentMs }, 'event watch silent: its member answers no progress request');
      end(new UcloudError('ETCD_UNAVAILABLE', `the event watch heard nothing from etcd for ${silentMs} ms`));
    };
    const w = await this.store.watch(this.prefixOf(scope), start, { onSilent });
    let ended = false;
    const end = (err?: unknown) => {
      if (ended) return;
      ended = true;
      w.close();
      onEnd(err);
    };
    w.watcher.on('put', (kv) => {
      try {
        const e = this.store.parse(Kinds.event, kv).value;
        if (matches(scope, e)) onEvent(e, kv.mod_revision);
      } catch (err) {
        this.store.reportSkipped(kv, err);
      }
    });
    w.watcher.on('error', (err) => {
      this.log?.warn({ err }, 'event watch broke');
      end(err);
    });
    w.watcher.on('end', () => end());
    // etcd3 resumes a dropped watch from its last header revision + 1, which skips what a catch-up had not delivered
    // yet: ended instead, so the reader resumes from the last event it saw.
    w.watcher.on('disconnected', () => end(new UcloudError('ETCD_UNAVAILABLE', 'the event watch lost its connection to etcd')));
    return { close: () => end(), revision: start };
  }
}
