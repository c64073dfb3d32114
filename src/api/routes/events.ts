import { Type } from 'typebox';
import { ErrorResponse, Event, LIST_LIMITS, Name, VmRef } from '../../model/index.js';
import { eventScope, type EventManager } from '../../managers/events.js';
import { can } from '../authz.js';
import type { Api } from '../context.js';
import { listQuery, listResponses } from '../pages.js';

// The audit log: a user reads the events about their own objects; an admin
// anyone's (`all`) or one user's (`owner`). Another user's events are simply
// not there, never a 403.

const Scope = {
  vm: Type.Optional(VmRef),
  all: Type.Optional(Type.Boolean()),
  owner: Type.Optional(Name),
};
const ListQuery = listQuery(Scope);
const StreamQuery = Type.Object(
  { ...Scope, since: Type.Optional(Type.String({ pattern: '^[0-9]{1,19}$', description: 'etcd revision to start from (an event id: line of a stream)' })) },
  { additionalProperties: false },
);

/** A comment line this often keeps proxies and idle timeouts from closing a quiet stream. */
export const HEARTBEAT_MS = 15_000;

/** `streams`: how to end each open stream, so the server's close does not wait for them. */
export function eventRoutes(api: Api, events: EventManager, streams: Set<() => void>, opts: { heartbeatMs?: number } = {}): void {
  api.get('/v1/events', { config: { action: 'event:list' }, schema: { operationId: 'listEvents', querystring: ListQuery, response: listResponses(Event) } }, async (req) =>
    events.list(eventScope(req.user, req.query, can(req.user, 'event:read-any')), { limit: req.query.limit ?? LIST_LIMITS.default, ...(req.query.cursor !== undefined ? { cursor: req.query.cursor } : {}) }),
  );

  // Server-sent events from an etcd watch: `id:` is the record's revision, so a
  // client that reconnects (Last-Event-ID, or `since` = id + 1) misses nothing
  // etcd still keeps.
  api.get('/v1/events/stream', { config: { action: 'event:stream' }, schema: { operationId: 'streamEvents', querystring: StreamQuery, response: { 400: ErrorResponse, 401: ErrorResponse, 503: ErrorResponse } } }, async (req, reply) => {
    const last = req.headers['last-event-id'];
    const from = req.query.since ?? (typeof last === 'string' && /^[0-9]{1,19}$/.test(last) ? String(BigInt(last) + 1n) : undefined);
    const res = reply.raw;
    let open = false;
    const early: string[] = [];
    const send = (text: string) => (open ? res.write(text) : early.push(text));
    // Set once each, after `finish` is made (which the watch may call).
    const held: { heartbeat?: NodeJS.Timeout; watch?: { close(): void } } = {};
    let ended = false;
    const finish = () => {
      if (ended) return;
      ended = true;
      clearInterval(held.heartbeat);
      streams.delete(finish);
      held.watch?.close();
      if (open) res.end();
    };
    // Opened before the answer starts, so a watch that cannot start is an ordinary error answer.
    const watch = (held.watch = await events.watch(
      eventScope(req.user, req.query, can(req.user, 'event:read-any')),
      from,
      (e, revision) => send(`id: ${revision}\ndata: ${JSON.stringify(e)}\n\n`),
      () => finish(),
    ));
    if (ended) return reply.status(503).send({ code: 'ETCD_UNAVAILABLE', message: 'the event watch ended as it started; try again' });
    reply.hijack();
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' });
    open = true;
    res.write(`retry: 2000\n: watching from revision ${watch.revision}\n\n`);
    for (const text of early.splice(0)) res.write(text);
    held.heartbeat = setInterval(() => res.write(': heartbeat\n\n'), opts.heartbeatMs ?? HEARTBEAT_MS);
    streams.add(finish);
    res.once('close', finish);
  });
}
