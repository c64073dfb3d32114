import type { FastifyRequest } from 'fastify';
import { UcloudError } from '../../common/errors.js';
import { ErrorResponse, Event, EventFilter, EventStreamQuery, LIST_LIMITS, ListQuery } from '../../model/index.js';
import { eventScope, type EventManager } from '../../managers/events.js';
import { can } from '../authz.js';
import type { Api } from '../context.js';
import { listResponses } from '../pages.js';

// The audit log: a user reads the events about their own objects; an admin
// anyone's (`all`) or one user's (`owner`). Another user's events are simply
// not there, never a 403.

const EventListQuery = ListQuery(EventFilter);

/** A comment line this often keeps proxies and idle timeouts from closing a quiet stream. */
export const HEARTBEAT_MS = 15_000;

/** Open streams a user may hold at once, and the API in all: each holds a socket and an etcd watch. */
export const STREAMS_PER_USER = 5;
export const STREAMS_TOTAL = 512;
/** A stream ends after this long; the client reconnects (Last-Event-ID) and is authenticated afresh. */
export const STREAM_MAX_MS = 3_600_000;

export interface StreamOptions {
  heartbeatMs?: number;
  /**
   * Whether the request's token still stands (not revoked or expired, its user
   * not disabled, deleted or demoted): asked at each heartbeat, so a stream
   * outlives none of these by more than one.
   */
  stillAllowed?: (req: FastifyRequest) => Promise<boolean>;
  /** Waits for the events this API recorded so far (its EventLog's batches): a list shows the caller's last request. */
  recorded?: () => Promise<void>;
}

/** `streams`: how to end each open stream, so the server's close does not wait for them. */
export function eventRoutes(api: Api, events: EventManager, streams: Set<() => void>, opts: StreamOptions = {}): void {
  const perUser = new Map<string, number>();
  api.get('/v1/events', { config: { action: 'event:list' }, schema: { operationId: 'listEvents', querystring: EventListQuery, response: listResponses(Event) } }, async (req) => {
    await opts.recorded?.();
    return events.list(eventScope(req.user, req.query, can(req.user, 'event:read-any')), { limit: req.query.limit ?? LIST_LIMITS.default, ...(req.query.cursor !== undefined ? { cursor: req.query.cursor } : {}) });
  });

  // Server-sent events from an etcd watch: `id:` is the record's revision, so a
  // client that reconnects (Last-Event-ID, or `since` = id + 1) misses nothing
  // etcd still keeps.
  api.get('/v1/events/stream', { config: { action: 'event:stream' }, schema: { operationId: 'streamEvents', querystring: EventStreamQuery, response: { 400: ErrorResponse, 401: ErrorResponse, 503: ErrorResponse } } }, async (req, reply) => {
    const user = req.user.name;
    if ((perUser.get(user) ?? 0) >= STREAMS_PER_USER || streams.size >= STREAMS_TOTAL) {
      throw new UcloudError('TOO_MANY_STREAMS', `you have ${perUser.get(user) ?? 0} event streams open (at most ${STREAMS_PER_USER} each, ${STREAMS_TOTAL} in all)`);
    }
    const last = req.headers['last-event-id'];
    const from = req.query.since ?? (typeof last === 'string' && /^[0-9]{1,19}$/.test(last) ? String(BigInt(last) + 1n) : undefined);
    const res = reply.raw;
    let open = false;
    const early: string[] = [];
    const send = (text: string) => (open ? res.write(text) : early.push(text));
    // Set once each, after `finish` is made (which the watch may call).
    const held: { heartbeat?: NodeJS.Timeout; lifetime?: NodeJS.Timeout; watch?: { close(): void } } = {};
    let ended = false;
    perUser.set(user, (perUser.get(user) ?? 0) + 1);
    const finish = () => {
      if (ended) return;
      ended = true;
      clearInterval(held.heartbeat);
      clearTimeout(held.lifetime);
      streams.delete(finish);
      const n = (perUser.get(user) ?? 1) - 1;
      if (n > 0) perUser.set(user, n);
      else perUser.delete(user);
      held.watch?.close();
      if (open) res.end();
    };
    // Before the watch is awaited: a client that hangs up meanwhile must not leave the watch behind.
    res.once('close', finish);
    streams.add(finish);
    // Opened before the answer starts, so a watch that cannot start is an ordinary error answer.
    let watch: Awaited<ReturnType<EventManager['watch']>>;
    try {
      watch = held.watch = await events.watch(
        eventScope(req.user, req.query, can(req.user, 'event:read-any')),
        from,
        (e, revision) => send(`id: ${revision}\ndata: ${JSON.stringify(e)}\n\n`),
        () => finish(),
      );
    } catch (err) {
      finish();
      throw err;
    }
    if (req.raw.destroyed || res.destroyed) {
      // The client left (or the server is closing) while the watch started: nobody to stream to.
      finish();
      watch.close();
      return reply.hijack();
    }
    if (ended) {
      watch.close();
      throw new UcloudError('ETCD_UNAVAILABLE', 'the event watch ended as it started; try again');
    }
    reply.hijack();
    // Where it watches from, before any event: a reader that breaks off before the first event resumes there, not
    // from "now" (the header for ucloud's client, the id for any EventSource's Last-Event-ID).
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-accel-buffering': 'no', 'x-ucloud-watch-from': watch.revision });
    open = true;
    res.write(`retry: 2000\nid: ${BigInt(watch.revision) - 1n}\n: watching from revision ${watch.revision}\n\n`);
    for (const text of early.splice(0)) res.write(text);
    held.heartbeat = setInterval(() => {
      res.write(': heartbeat\n\n');
      void opts.stillAllowed?.(req).then(
        (ok) => ok || finish(),
        () => finish(),
      );
    }, opts.heartbeatMs ?? HEARTBEAT_MS);
    held.lifetime = setTimeout(finish, STREAM_MAX_MS);
    held.lifetime.unref();
  });
}
