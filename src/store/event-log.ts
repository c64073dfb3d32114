import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
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
  /** Most events this writer records per bucket for each owner's log; more of that owner's are dropped (logged once per owner and bucket). */
  bucketMax?: number;
  log?: Logger;
  now?: () => number;
  /** Least time between two batch writes (EVENT_LINGER_MS): a busy writer's events wait that long to share one. */
  lingerMs?: number;
  /** Makes event ids (default eventId; a test forces a collision with it). */
  newId?: (ms: number) => string;
}

interface Bucket {
  start: number;
  lease: Promise<string>;
  /** Events recorded (or dropped) in this bucket, per owner ('' the cluster's): one tenant's flood uses up only its own share. */
  count: Map<string, number>;
}

/** One event waiting for its batch. */
interface Queued {
  event: Event;
  lease: Promise<string>;
  done: (written: Event | undefined) => void;
}

/** Events in one transaction: below etcd's --max-txn-ops (128), with room for the batch's compare. */
export const EVENT_BATCH_MAX = 100;
/**
 * Each batch is an etcd transaction, a raft entry and an fsync, competing with
 * the changes the events record: under load at most one per this many ms.
 */
export const EVENT_LINGER_MS = 50;
/**
 * Full batches written at once. One at a time held a scheduler's burst to
 * 100 events per transaction round trip (about 2,000/s under load), which
 * then held placement to that rate through `roomFor`; etcd groups concurrent
 * transactions into one fsync, as it does the scheduler's.
 */
export const EVENT_WRITES_IN_FLIGHT = 4;
/** Events waiting at most (a stalled etcd): more are dropped and logged, never held without bound. */
export const EVENT_QUEUE_MAX = 10_000;

/** This process's event id counter and the random key that scrambles it (below). */
const idKey = randomBytes(8);
let idSeq = idKey.readUInt32BE(0);
const idMix = idKey.readUInt32BE(4);

/**
 * A time-ordered id: zero-padded ms, then 32 bits no other writer is likely to
 * use in the same ms. They are a per-process counter (from a random start)
 * scrambled with a random key by a one-to-one mix: one writer's ids never
 * repeat until 2^32 of them, no id costs a getrandom call (that call was a
 * scheduler's largest cost of recording a burst), and the difference between
 * two ids a tenant sees does not count the events recorded in between.
 */
export function eventId(ms: number): string {
  idSeq = (idSeq + 1) >>> 0;
  let x = (idSeq ^ idMix) >>> 0;
  // murmur3's finalizer: each step (xor-shift, multiply by an odd number) is one-to-one on 32 bits.
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return `${String(ms).padStart(13, '0')}-${(x >>> 0).toString(16).padStart(8, '0')}`;
}

/**
 * The audit log's writer, one per process. Retention without a lease per event:
 * time is cut into buckets (retention/24, between 1 s and 1 h), and every event
 * this writer records in a bucket is put on one lease granted at the bucket's
 * first event, with TTL retention + bucket, not kept alive. So an event lives
 * between `retention` and `retention + bucket`, a writer holds at most
 * retention/bucket + 1 leases at a time (169 for a week), and the events on
 * record are at most writers × that × owners × bucketMax whatever the request
 * rate: a writer records at most `bucketMax` per bucket for each owner's log
 * and drops the rest (a warning per owner and bucket says so). Per owner, so a
 * tenant who floods the API with refused requests (each one an event in their
 * own log) silences only their own log, never another's or the cluster's.
 *
 * Group commit: an etcd put per event cost a busy API more than the request it
 * recorded (a gRPC call and a raft entry each). Events queue, in the order they
 * were recorded, and go in one transaction per batch (at most EVENT_BATCH_MAX);
 * an idle writer adds no delay and a busy one writes fewer, larger
 * transactions. A short batch waits out the linger; full ones go back to back,
 * up to EVENT_WRITES_IN_FLIGHT at once, so a burst (a scheduler's thousands of
 * placements) is on record at once, not spread over minutes. `flushed()` waits
 * for what was recorded so far (the API's event list does, so a command's own
 * event is listed right after it); `close()` writes what is left.
 *
 * Recording never fails the caller's operation: `record` resolves either way
 * and a failed write is a warning in the log.
 */
export class EventLog {
  readonly retentionMs: number;
  readonly bucketMs: number;
  private readonly bucketMax: number;
  private bucket: Bucket | undefined;
  private queue: Queued[] = [];
  private writing: Promise<void> | undefined;
  /** Resolves once the last event recorded so far is written (or given up). */
  private last: Promise<unknown> = Promise.resolve();
  private overflowing = false;
  /** When the last batch write started (Date.now()). */
  private lastWriteAt = 0;
  /** Batches written and not yet told, and the promise each batch's telling waits for: the batch before it has been told. */
  private inFlight = 0;
  private settled: Promise<void> = Promise.resolve();
  /** Wakes the drain waiting for a batch to be told (at EVENT_WRITES_IN_FLIGHT). */
  private wakeSlot: (() => void) | undefined;
  /** Ends the linger early: a batch filled while it waited. */
  private wakeLinger: (() => void) | undefined;
  /** Writers waiting for the queue to shrink (roomFor). */
  private roomWaiters: { below: number; resolve: () => void }[] = [];
  private readonly newId: (ms: number) => string;

  constructor(
    private readonly store: Store,
    private readonly opts: EventLogOptions = {},
  ) {
    this.retentionMs = Math.max(1000, opts.retentionMs ?? EVENT_RETENTION_DEFAULT_MS);
    this.bucketMs = Math.min(3600_000, Math.max(1000, Math.floor(this.retentionMs / 24)));
    this.bucketMax = opts.bucketMax ?? EVENT_BUCKET_MAX_DEFAULT;
    this.newId = opts.newId ?? eventId;
  }

  /** Records one event; resolves to it once written (undefined when it was not). Never rejects. */
  record(input: EventInput): Promise<Event | undefined> {
    const ms = (this.opts.now ?? Date.now)();
    const event: Event = { id: this.newId(ms), time: new Date(ms).toISOString(), ...input };
    let bucket: Bucket;
    try {
      bucket = this.bucketAt(ms);
    } catch (err) {
      this.opts.log?.warn({ err, action: input.action, object: input.object }, 'cannot record an audit event; the change itself stands');
      return Promise.resolve(undefined);
    }
    const owner = input.object.owner;
    const count = bucket.count.get(owner) ?? 0;
    if (count >= this.bucketMax) {
      if (count === this.bucketMax) this.opts.log?.warn({ bucketMax: this.bucketMax, owner, action: input.action }, "event bucket full for this owner: dropping the owner's events until the next bucket");
      bucket.count.set(owner, count + 1);
      return Promise.resolve(undefined);
    }
    if (this.queue.length >= EVENT_QUEUE_MAX) {
      if (!this.overflowing) this.opts.log?.warn({ queued: this.queue.length, action: input.action }, 'audit events are not being written fast enough: dropping events until the queue drains');
      this.overflowing = true;
      return Promise.resolve(undefined);
    }
    bucket.count.set(owner, count + 1);
    const written = new Promise<Event | undefined>((done) => this.queue.push({ event, lease: bucket.lease, done }));
    this.last = written;
    if (this.queue.length >= EVENT_BATCH_MAX) this.wakeLinger?.();
    // The batch starts on the next turn of the event loop (answers sent in this one all join it), or
    // once the last batch is lingerMs old: an idle writer adds no delay, a busy one writes fewer, larger batches.
    this.writing ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.drain());
    return written;
  }

  /** Waits until every event recorded before the call is written or given up (a warning says which). */
  async flushed(): Promise<void> {
    await this.last;
  }

  /**
   * Resolves once `n` more events fit below half the queue's bound (or the
   * queue is empty, for `n` beyond it): a writer that records thousands
   * at a time (the scheduler's placements) waits here rather than have the log
   * drop events when etcd is slower than it.
   */
  roomFor(n: number): Promise<void> {
    const below = Math.max(0, EVENT_QUEUE_MAX / 2 - n);
    if (this.queue.length <= below) return Promise.resolve();
    return new Promise((resolve) => this.roomWaiters.push({ below, resolve }));
  }

  private wakeRoomWaiters(): void {
    if (!this.roomWaiters.length) return;
    const left = this.queue.length;
    this.roomWaiters = this.roomWaiters.filter((w) => {
      if (left > w.below) return true;
      w.resolve();
      return false;
    });
  }

  /** Writes what is queued; a writer being shut down calls it so no event it took is left behind. */
  async close(): Promise<void> {
    await this.flushed();
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length) {
        // A full batch has nothing to wait for: lingering only lets a short one fill.
        const wait = this.queue.length >= EVENT_BATCH_MAX ? 0 : this.lastWriteAt + (this.opts.lingerMs ?? EVENT_LINGER_MS) - Date.now();
        if (wait > 0) await this.linger(wait);
        while (this.inFlight >= EVENT_WRITES_IN_FLIGHT) await new Promise<void>((resolve) => (this.wakeSlot = resolve));
        this.lastWriteAt = Date.now();
        const batch = this.queue.splice(0, EVENT_BATCH_MAX);
        if (this.queue.length < EVENT_QUEUE_MAX / 2) this.overflowing = false;
        this.wakeRoomWaiters();
        // Each batch's outcomes are told once the batch before it has settled, so an event's promise
        // (and flushed()) resolving means every event recorded before it is written or given up too.
        // A batch keeps its slot until then: behind a slow one, at most EVENT_WRITES_IN_FLIGHT wait in memory.
        const before = this.settled;
        const outcomes: [Queued, Event | undefined][] = [];
        this.inFlight++;
        const tell = async () => {
          let thrown: { err: unknown } | undefined;
          try {
            await this.write(batch, outcomes);
          } catch (err) {
            // Nothing a write throws may leave its events, or every later one, waiting.
            const told = new Set(outcomes.map(([q]) => q));
            for (const q of batch) if (!told.has(q)) outcomes.push([q, undefined]);
            thrown = { err };
          }
          await before;
          for (const [q, e] of outcomes) q.done(e);
          if (thrown) this.opts.log?.warn({ err: thrown.err }, 'cannot record audit events; the changes themselves stand');
        };
        this.settled = tell()
          .catch(() => undefined)
          .finally(() => {
            this.inFlight--;
            this.wakeSlot?.();
            this.wakeSlot = undefined;
          });
      }
    } finally {
      this.writing = undefined;
      this.wakeRoomWaiters();
    }
  }

  /** Waits `ms`, or less if a full batch gathers meanwhile. */
  private async linger(ms: number): Promise<void> {
    const ac = new AbortController();
    this.wakeLinger = () => ac.abort();
    try {
      await sleep(ms, undefined, { signal: ac.signal });
    } catch {
      // woken: a batch is full
    } finally {
      this.wakeLinger = undefined;
    }
  }

  /** Writes one batch; each event's outcome goes into `outcomes`, for the caller to tell in order. */
  private async write(batch: Queued[], outcomes: [Queued, Event | undefined][]): Promise<void> {
    const leases = await Promise.allSettled(batch.map((q) => q.lease));
    const ready: { q: Queued; lease: string }[] = [];
    batch.forEach((q, i) => {
      const l = leases[i]!;
      if (l.status === 'fulfilled') ready.push({ q, lease: l.value });
      else this.failed(q, l.reason, outcomes);
    });
    const t = this.store.txn();
    const staged: Queued[] = [];
    for (const { q, lease } of ready) {
      const key = Keys.event(q.event.object.owner, q.event.id);
      try {
        t.put(Kinds.event, key, q.event, lease);
      } catch (err) {
        // One event its schema refuses is lost alone, not with its batch.
        this.failed(q, err, outcomes);
        continue;
      }
      // Ids are unique (time, and this process's scrambled counter), so the first key is absent unless a retried
      // commit already wrote the batch: a repeat writes nothing twice.
      if (!staged.length) t.absent(key);
      staged.push(q);
    }
    if (!staged.length) return;
    try {
      const first = staged[0]!.event;
      if (!(await t.commit({ witness: Keys.event(first.object.owner, first.id) }))) {
        // The first key was another writer's event (ids collide once in 2^32): the batch again, under new ids.
        for (const q of staged) q.event = { ...q.event, id: this.newId(Date.parse(q.event.time)) };
        await this.write(staged, outcomes);
        return;
      }
      for (const q of staged) outcomes.push([q, q.event]);
    } catch (err) {
      for (const q of staged) this.failed(q, err, outcomes);
    }
  }

  private failed(q: Queued, err: unknown, outcomes: [Queued, Event | undefined][]): void {
    this.opts.log?.warn({ err, action: q.event.action, object: q.event.object }, 'cannot record an audit event; the change itself stands');
    outcomes.push([q, undefined]);
  }

  private bucketAt(ms: number): Bucket {
    const start = ms - (ms % this.bucketMs);
    if (this.bucket?.start === start) return this.bucket;
    const lease = this.store.lease(this.retentionMs + this.bucketMs, { keepAlive: false }).grant();
    const bucket: Bucket = { start, lease, count: new Map() };
    // A grant that failed is asked again by the next event rather than failing the whole bucket.
    lease.catch(() => {
      if (this.bucket === bucket) this.bucket = undefined;
    });
    this.bucket = bucket;
    return bucket;
  }
}
