import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { RouteOptions } from 'fastify';
import type { TSchema } from 'typebox';
import type { Logger } from '../common/logger.js';
import type { UserManager } from '../managers/users.js';
import type { User } from '../model/index.js';
import { cachedCaller } from './auth.js';
import type { Action } from './authz.js';
import { setAllowanceHeaders, type UserRateLimit } from './rate-limit.js';
import type { RequestMetrics } from './request-metrics.js';
import { validatorCompiler } from './validator.js';

/**
 * A read's answer from a cache: the JSON bytes to send, or undefined when this
 * request needs the full path (its answer is not bytes the cache holds).
 * Throwing means the same: the full path answers, with its error.
 */
export type CachedAnswer = (user: User, params: Record<string, unknown>, query: Record<string, unknown>, res: ServerResponse) => Buffer | undefined;

interface Entry {
  /** The route's pattern, as Fastify and the metrics name it. */
  url: string;
  action: Action;
  param?: string;
  params?: (value: unknown) => { value?: unknown; error?: unknown };
  query: (value: unknown) => { value?: unknown; error?: unknown };
  answer: CachedAnswer;
}

/** What a URL's path segment or query value may hold to be taken as it is: RFC 3986's unreserved characters, which no decoding changes. */
const PLAIN = /^[A-Za-z0-9._~-]*$/;
const KEY = /^[A-Za-z]+$/;

/** The type of every JSON answer, on either path. */
export const JSON_TYPE = 'application/json; charset=utf-8';

/** The query check of a route without a querystring schema: Fastify ignores such a query, so a request with one is left to it. */
const noQuery = (value: unknown) => (Object.keys(value as object).length === 0 ? { value } : { error: 'left to Fastify' });

/** Route-level hooks: a route with any of these is not answered below Fastify, which would skip them. */
const ROUTE_HOOKS = ['onRequest', 'preParsing', 'preValidation', 'preHandler', 'preSerialization', 'onSend', 'onResponse', 'onTimeout', 'onError'] as const;

/**
 * Cached reads (`vm show`, `vm list`) answered below Fastify's request
 * lifecycle. Fastify's per-request machinery (its request and reply objects,
 * the child logger, response listeners, the hook runners) cost a cached read
 * more than the read itself: answered from its first onRequest hook, `vm show`
 * ran no faster than through the whole path (docs/performance.md). So the
 * server's requests come here first; a request is answered here only when
 * every check of the full path would pass and its answer is bytes a cache
 * holds, else it goes on to Fastify untouched, which answers it (and every
 * refusal) as before:
 * - a GET with no body, not an upgrade, whose path and query are plain
 *   characters (nothing to decode) and pass the route's own schemas
 *   (the validator Fastify compiles them with);
 * - a caller whose token the token cache knows and whose role allows the
 *   route's declared action (auth.ts cachedCaller);
 * - within the caller's rate limit, counted here once (the same UserRateLimit
 *   as the onRequest hook; a request over it goes on uncounted, and the hook
 *   counts and refuses it);
 * - the route's answer from its cache (undefined, or a throw: Fastify's).
 * The answer carries the headers Fastify's would (rate limit, type, length)
 * and is measured in the same request metrics. Nothing is read from etcd here
 * and nothing is written: reads leave no audit event on either path. While the
 * debug log is on (it logs every request) or the server closes, nothing is
 * answered here.
 */
export class CachedReads {
  private readonly exact = new Map<string, Entry>();
  /** Routes of one trailing parameter, by their path before it (`/v1/vms/`). */
  private readonly byPrefix = new Map<string, Entry>();
  /** Every GET route without parameters: a static route under a prefix (`/v1/vms/x`) wins over its parameter in Fastify's router too. */
  private readonly statics = new Set<string>();
  /** Answers declared by routes (`add`), by route pattern, until `prepare`. */
  private readonly answers = new Map<string, CachedAnswer>();
  /** The GET routes Fastify added, by pattern. */
  private readonly routes = new Map<string, RouteOptions>();
  private open = true;

  constructor(
    private readonly deps: {
      users: UserManager;
      log: Logger;
      /** Whether the caches have listed: before that, reads wait for them on the full path. */
      ready: () => boolean;
      /** false: bench/api's contract-off server, which checks no role (authenticate's `authorize`). */
      authorize: boolean;
      limits?: UserRateLimit;
      metrics?: RequestMetrics;
    },
  ) {}

  /**
   * The cached answer of a GET route (`/v1/vms` or `/v1/vms/:ref`: at most one
   * parameter, at its end), declared beside the route. Its action and schemas
   * are the route's own, taken when the server is ready (`prepare`).
   */
  add(url: string, answer: CachedAnswer): void {
    this.answers.set(url, answer);
  }

  /** Told of every route Fastify adds (its onRoute hook). */
  noteRoute(route: RouteOptions): void {
    if (![route.method].flat().includes('GET')) return;
    this.routes.set(route.url, route);
    if (!/[:*]/.test(route.url)) this.statics.add(route.url);
  }

  /**
   * Makes each declared answer servable from its route as Fastify holds it
   * (its onReady): the route's declared action and its params and querystring
   * schemas, compiled by the validator Fastify compiles them with. A route
   * with hooks of its own would have them skipped here: refused, as is an
   * answer for a route that does not exist.
   */
  prepare(): void {
    for (const [url, answer] of this.answers) {
      const route = this.routes.get(url);
      const m = /^(\/[^:]*?)(?::(\w+))?$/.exec(url);
      if (!route || !m) throw new Error(`a cached read for ${url}, which is no GET route of at most one parameter, at its end`);
      const own = ROUTE_HOOKS.filter((h) => [route[h] ?? []].flat().length > 0);
      if (own.length) throw new Error(`a cached read for ${url}, whose route has hooks of its own (${own.join(', ')}) it would skip`);
      const action = (route.config as { action?: Action } | undefined)?.action;
      if (!action) throw new Error(`a cached read for ${url}, whose route declares no action`);
      const schema = route.schema as { params?: TSchema; querystring?: TSchema } | undefined;
      const compile = (s: TSchema, httpPart: string) => validatorCompiler({ schema: s, httpPart, method: 'GET', url }) as Entry['query'];
      const entry: Entry = {
        url,
        action,
        ...(m[2] ? { param: m[2] } : {}),
        ...(schema?.params ? { params: compile(schema.params, 'params') } : {}),
        query: schema?.querystring ? compile(schema.querystring, 'querystring') : noQuery,
        answer,
      };
      (m[2] ? this.byPrefix : this.exact).set(m[1]!, entry);
    }
  }

  /** From now on every request goes to Fastify (which answers 503 while it closes). */
  close(): void {
    this.open = false;
  }

  /**
   * The server's requests come here first; any this does not answer goes on to
   * the handler Fastify gave the server (its only `request` listener).
   */
  attach(server: Server): void {
    const handlers = server.listeners('request') as ((req: IncomingMessage, res: ServerResponse) => void)[];
    if (handlers.length !== 1) throw new Error(`cached reads expect Fastify's one request handler, found ${handlers.length}`);
    const full = handlers[0]!;
    server.removeListener('request', full);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      if (!this.serve(req, res)) full.call(server, req, res);
    });
  }

  /** Answers `req` if it is a cached read every check allows; false: `res` is untouched and the full path must answer. */
  serve(req: IncomingMessage, res: ServerResponse): boolean {
    try {
      return this.answer(req, res);
    } catch (err) {
      // A route's answer throws for its refusals (not found, forbidden, a bad cursor): Fastify answers those, with
      // their codes. Anything thrown once the answer is written is logged, not thrown out of the server's listener.
      if (!res.headersSent) return false;
      this.deps.log.error({ err }, 'a cached read failed after its answer was written');
      return true;
    }
  }

  private answer(req: IncomingMessage, res: ServerResponse): boolean {
    if (req.method !== 'GET' || !this.open || (req as { upgrade?: boolean }).upgrade === true) return false;
    const length = req.headers['content-length'];
    if ((length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined) return false;
    const start = performance.now();
    const url = req.url ?? '';
    const mark = url.indexOf('?');
    const path = mark < 0 ? url : url.slice(0, mark);
    let entry = this.exact.get(path);
    let params: Record<string, unknown> = {};
    if (!entry) {
      if (this.statics.has(path)) return false;
      const slash = path.lastIndexOf('/');
      entry = this.byPrefix.get(path.slice(0, slash + 1));
      const value = path.slice(slash + 1);
      if (!entry || value === '' || !PLAIN.test(value)) return false;
      params = { [entry.param!]: value };
      if (entry.params) {
        const checked = entry.params(params);
        if (checked.error !== undefined) return false;
        params = checked.value as Record<string, unknown>;
      }
    }
    const raw = mark < 0 ? {} : plainQuery(url.slice(mark + 1));
    if (!raw) return false;
    const checked = entry.query(raw);
    if (checked.error !== undefined) return false;
    if (!this.deps.ready() || this.deps.log.isLevelEnabled('debug')) return false;
    const user = cachedCaller(this.deps.users, req, this.deps.authorize ? entry.action : undefined);
    if (!user) return false;
    // Over the limit: nothing made, nothing counted; the onRequest hook counts it and refuses it.
    const limits = this.deps.limits;
    const max = limits?.limitOf(user);
    if (max !== undefined && !limits!.admits(user, max)) return false;
    const body = entry.answer(user, params, checked.value as Record<string, unknown>, res);
    if (!body) return false;
    const headers: Record<string, string | number> = {};
    if (max !== undefined) {
      // Counted only now that it is answered here; nothing ran between the look above and this.
      const { current, ttl } = limits!.count(user);
      setAllowanceHeaders((name, value) => (headers[name] = value), max, current, ttl);
    }
    headers['content-type'] = JSON_TYPE;
    headers['content-length'] = body.length;
    res.writeHead(200, headers);
    res.end(body);
    this.deps.metrics?.record(entry.url, 'GET', 200, (performance.now() - start) / 1000);
    return true;
  }
}

/** `a=1&b=x` of plain keys and values, each key once; undefined for anything a query parser could read otherwise. */
function plainQuery(search: string): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  if (search === '') return out;
  for (const pair of search.split('&')) {
    const eq = pair.indexOf('=');
    if (eq < 0) return undefined;
    const key = pair.slice(0, eq);
    const value = pair.slice(eq + 1);
    if (!KEY.test(key) || !PLAIN.test(value) || Object.hasOwn(out, key)) return undefined;
    out[key] = value;
  }
  return out;
}
