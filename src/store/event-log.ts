import { randomBytes } from 'node:crypto';
import type { Logger } from '../common/logger.js';
import type { Event, EventInput } from '../model/index.js';
import { Keys, Kinds } from './keys.js';
import type { Store } from './store.js';

/** event_retention's default: a week. */
export const EVENT_RETENTION_DEFAULT_MS = 7 * 24 * 3600_000;
/** event_bucket_max's default: events one writer keeps per bucket. */
export const EVENT_BUCKET_MAX_DEFAULT = 2000;

export interface EventLogOptions {
  /** How long an event is kept at least (event_retention). */
  retentionMs?: number;
  /** Most events this writer records per bucket; more are dropped (logged once per bucket). */
  bucketMax?: number;
  log?: Logger;
  now?: () => number;
}

interface Bucket {
  start: number;
  lease: Promise<string>;
  count: number;
  dropped: number;
}

/** A time-ordered id: zero-padded ms, then randomness so two writers in one ms never collide. */
export function eventId(ms: number): string {
  return `${String(ms).padStart(13, '0')}-${randomBytes(4).toString('hex')}`;
}

/**
 * The audit log's writer, one per process. Retention without a lease per event:
 * time is cut into buckets (retention/24, between 1 s and 1 h), and every event
 * this writer records in a bucket is put on one lease granted at the bucket's
 * first event, with TTL retention + bucket, not kept alive. So an event lives
 * between `retention` and `retention + bucket`, a writer holds at most
 * retention/bucket + 1 leases at a time (169 for a week), and the events on
 * record are at most writers × that × bucketMax whatever the request rate: a
 * writer records at most `bucketMax` per bucket and drops the rest (a warning
 * per bucket says so).
 *
 * Recording never fails the caller's operation: `record` resolves either way
 * and a failed write is a warning in the log.
 */
export class EventLog {
  readonly retentionMs: number;
  readonly bucketMs: number;
  private readonly bucketMax: number;
  private bucket: Bucket | undefined;

  constructor(
    private readonly store: Store,
    private readonly opts: EventLogOptions = {},
  ) {
    this.retentionMs = Math.max(1000, opts.retentionMs ?? EVENT_RETENTION_DEFAULT_MS);
    this.bucketMs = Math.min(3600_000, Math.max(1000, Math.floor(this.retentionMs / 24)));
    this.bucketMax = opts.bucketMax ?? EVENT_BUCKET_MAX_DEFAULT;
  }

  /** Records one event; resolves to it (undefined when it was not written). Never rejects. */
  async record(input: EventInput): Promise<Event | undefined> {
    const ms = (this.opts.now ?? Date.now)();
    const event: Event = { id: eventId(ms), time: new Date(ms).toISOString(), ...input };
    try {
      const bucket = this.bucketAt(ms);
      if (bucket.count >= this.bucketMax) {
        if (bucket.dropped++ === 0) this.opts.log?.warn({ bucketMax: this.bucketMax, action: input.action }, 'event bucket full: dropping events until the next bucket');
        return undefined;
      }
      bucket.count++;
      await this.store.put(Kinds.event, Keys.event(input.object.owner, event.id), event, await bucket.lease);
      return event;
    } catch (err) {
      this.opts.log?.warn({ err, action: input.action, object: input.object }, 'cannot record an audit event; the change itself stands');
      return undefined;
    }
  }

  private bucketAt(ms: number): Bucket {
    const start = ms - (ms % this.bucketMs);
    if (this.bucket?.start === start) return this.bucket;
    const lease = this.store.lease(this.retentionMs + this.bucketMs, { keepAlive: false }).grant();
    const bucket: Bucket = { start, lease, count: 0, dropped: 0 };
    // A grant that failed is asked again by the next event rather than failing the whole bucket.
    lease.catch(() => {
      if (this.bucket === bucket) this.bucket = undefined;
    });
    this.bucket = bucket;
    return bucket;
  }
}
