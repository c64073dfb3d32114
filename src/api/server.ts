import type { IncomingMessage } from 'node:http';
import swagger from '@fastify/swagger';
import Fastify, { LogController, type onSendHookHandler, type preHandlerHookHandler, type preValidationHookHandler } from 'fastify';
import fastifyRateLimit from '@fastify/rate-limit';
import fastifyWebsocket from '@fastify/websocket';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { toUcloudError, UcloudError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import type { TokenCache } from '../managers/token-cache.js';
import { VmCache } from '../managers/vm-cache.js';
import { EventManager } from '../managers/events.js';
import { Informer } from '../store/informer.js';
import { Keys, Kinds } from '../store/keys.js';
import { topLevelPrefix, writeJournal } from '../store/write-log.js';
import { answered, requestEvent } from './audit.js';
import { authenticate, tokenHashOf } from './auth.js';
import { requireDeclaredAction } from './authz.js';
import { routeOf } from './route-of.js';
import type { Api, Managers } from './context.js';
import { clientErrorHandler, errorHandler, notFoundHandler } from './errors.js';
import { ErrorResponseSchema, Health } from '../model/index.js';
import { openapiOptions } from './openapi.js';
import { rateLimitHook, rateLimitParts, UserRateLimit, type RateLimitOptions } from './rate-limit.js';
import { CachedReads } from './cached-reads.js';
import { waitForWrites } from './read-your-writes.js';
import { requestLogFactory } from './request-log.js';
import { requestMetrics } from './request-metrics.js';
import type { MetricsRegistry } from '../common/metrics.js';
import { consoleRoutes } from './routes/console.js';
import { eventRoutes } from './routes/events.js';
import { fileRoutes } from './routes/files.js';
import { hostRoutes } from './routes/hosts.js';
import { imageStoreRoutes } from './routes/image-stores.js';
import { keyRoutes } from './routes/keys.js';
import { migrationRoutes } from './routes/migrations.js';
import { networkRoutes } from './routes/networks.js';
import { imageRoutes } from './routes/images.js';
import { tokenRoutes } from './routes/tokens.js';
import { totpRoutes } from './routes/totp.js';
import { userRoutes } from './routes/users.js';
import { vmRoutes } from './routes/vms.js';
import { defaultWebDir, webRoutes } from './web.js';
import { validatorCompiler } from './validator.js';

/** Methods that change nothing, and so leave no audit event. */
const IS_READ = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Methods whose requests carry a body, and so get a deadline for it. */
const HAS_BODY = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Slow-loris bound: any socket idle this long is closed (a request body's own deadline is api_body_timeout). */
const CONNECTION_IDLE_MS = 120_000;

/** A request Node handed over as an upgrade: its socket left Node's HTTP server, which will never close it. */
function isUpgrade(raw: IncomingMessage): boolean {
  return (raw as { upgrade?: boolean }).upgrade === true;
}

/**
 * The REST API: authenticates, validates (unknown fields are errors), authorizes
 * and records intent through the managers. It never touches QEMU or the kernel.
 */
/**
 * `tokens`: the cache `m.users` authenticates from, started and stopped with the server.
 * `rateLimit`: requests per token and window (left out: no rate limit at all, not even
 * users' overrides; `ucloud api` always passes rate_limit_per_minute).
 * `contract`: bench/api only, to measure what the contract costs: `authorize: false`
 * skips the role check (the token is still checked). Never set by a daemon.
 * `web`: the folder of the dashboard's built files, served at `/` (default dist/web); false: no dashboard.
 */
export function buildApi(
  m: Managers,
  log: Logger,
  opts: { bodyTimeoutMs?: number; tokens?: TokenCache; haDefault?: boolean; rateLimit?: RateLimitOptions; documentOnly?: boolean; contract?: { authorize?: boolean }; eventHeartbeatMs?: number; metrics?: MetricsRegistry; web?: string | false } = {},
): Api {
  const bodyTimeoutMs = opts.bodyTimeoutMs ?? 30_000;
  // Long path parameters reach the schema (a 400 naming the parameter) instead of missing every route.
  // A URL Fastify cannot even decode (a stray "%") answers through the same error handler, with a code.
  const api = Fastify({
    loggerInstance: log,
    logController: new LogController({ disableRequestLogging: true }),
    childLoggerFactory: requestLogFactory,
    bodyLimit: 1 << 20,
    // A socket that sends and receives nothing this long goes. Not requestTimeout: in Fastify 5 that is
    // Node's server.requestTimeout, a deadline for the WHOLE request body, which would cut long uploads;
    // other routes get bodyTimeoutMs below, uploads their own idle timeout.
    connectionTimeout: CONNECTION_IDLE_MS,
    routerOptions: { maxParamLength: 16_384 },
    frameworkErrors: (err, req, reply) => {
      // A URL the router cannot decode is answered before any hook, so onResponse (below) never sees it.
      if (isUpgrade(req.raw)) reply.raw.once('finish', () => req.raw.socket.destroy());
      errorHandler(err, req, reply);
    },
    clientErrorHandler,
  })
    .setValidatorCompiler(validatorCompiler)
    .withTypeProvider<TypeBoxTypeProvider>() as unknown as Api;
  api.addSchema(ErrorResponseSchema);
  api.setErrorHandler(errorHandler);
  api.setNotFoundHandler(notFoundHandler);
  api.decorateRequest('user', null as never);
  api.decorateRequest('writeLog', null as never);
  api.decorateRequest('answered', null as never);
  api.decorateRequest('route', null);
  const events = m.eventLog;
  const streams = new Set<() => void>();
  // VMs and hosts are read from watch-fed caches (started with the server, stopped with it).
  const cache = new VmCache(m.store, log);
  // Users' quota overrides, watch-fed: the rate limit reads each request's, a create its owner's limits.
  const overrides = opts.rateLimit || m.quotas ? new Informer(m.store, Kinds.quota, Keys.quotas(), log) : undefined;
  const rate = opts.rateLimit && overrides && rateLimitParts(m.users, overrides, opts.rateLimit);
  const limits = opts.rateLimit && overrides ? new UserRateLimit(overrides, opts.rateLimit) : undefined;
  const measure = opts.metrics ? requestMetrics(opts.metrics) : undefined;
  // `vm show` and `vm list` from the cache, below Fastify's request lifecycle when they can be (cached-reads.ts).
  const reads = opts.documentOnly ? undefined : new CachedReads({ users: m.users, log, ready: () => cache.listed, authorize: opts.contract?.authorize !== false, ...(limits ? { limits } : {}), ...(measure ? { metrics: measure } : {}) });
  reads?.attach(api.server);
  const caches = [...cache.informers, ...(opts.tokens?.informers ?? []), ...(overrides ? [overrides as never] : [])];
  // A write log keeps one revision per top-level prefix: a cache on a deeper one could wait for a write it never sees.
  for (const c of caches) if (topLevelPrefix(c.prefix) !== c.prefix) throw new Error(`read-your-writes needs caches on top-level prefixes, not ${c.prefix}`);
  // The routes' managers: quota limits from the cache once it has listed (read-your-writes covers `quota/`);
  // an image delete's first look at the image's VMs from the cache's index by image.
  const rm: Managers = opts.documentOnly ? m : { ...m, images: m.images.withCachedUsers(cache.usersOfImage), ...(m.quotas && overrides ? { quotas: m.quotas.withCache(overrides) } : {}) };
  // documentOnly: the routes and their schemas, nothing started (`openapiDocument`, docs generation).
  if (!opts.documentOnly) api.addHook('onReady', async () => {
    reads?.prepare();
    cache.start();
    // Not awaited: it retries until etcd answers; until then a token check reads etcd.
    void opts.tokens?.start();
    if (overrides) void overrides.start();
    await cache.ready().catch(() => log.warn('api caches not listed yet; reads wait for them'));
  });
  // Open event streams would hold the server's close forever: they end first.
  api.addHook('preClose', (done) => {
    reads?.close();
    for (const end of streams) end();
    done();
  });
  if (!opts.documentOnly) api.addHook('onClose', async () => {
    // The audit events of the last requests are written before the server's close resolves.
    await Promise.all([cache.stop(), opts.tokens?.stop(), overrides?.stop(), events?.close()]);
  });
  // Hooks on the read path are callback-style and return at once for a GET: each
  // async hook costs promises per request, and lists and shows are most requests.
  api.addHook('onRequest', (req, reply, done) => {
    if (!HAS_BODY.has(req.method) || req.raw.complete || routeOf(req).config?.streamsBody) return done();
    const t = setTimeout(() => {
      if (!req.raw.complete) req.raw.socket.destroy();
    }, bodyTimeoutMs);
    t.unref();
    reply.raw.once('close', () => clearTimeout(t));
    done();
  });
  if (rate) {
    // Counted before the token is checked, so neither floods nor guessed tokens reach etcd unbounded; the hook is
    // added once the plugin has loaded, and Fastify queues addHook calls, so it still runs before authenticate.
    void api.register(fastifyRateLimit, rate.options);
    api.after(() => api.addHook('onRequest', rateLimitHook(m.users, limits!, api.rateLimit())));
  }
  api.addHook('onRequest', authenticate(m.users, { authorize: opts.contract?.authorize !== false }));
  // A body whose every field is optional may be left out (`POST /v1/vms/web1/reboot` with no body is `{}`).
  const defaultBody: preValidationHookHandler = (req, _reply, done) => {
    const body = routeOf(req).schema?.body as { type?: string; required?: string[] } | undefined;
    if (req.body === undefined && body?.type === 'object' && !body.required?.length) req.body = {};
    done();
  };
  // A route that declares no body takes none: whatever is sent is refused, not silently ignored
  // (a client that thinks it set something must learn it did not). After validation, so a bad path
  // parameter is still named first.
  const refuseBody: preHandlerHookHandler = (req, _reply, done) => {
    if (req.body === undefined || routeOf(req).schema?.body !== undefined || routeOf(req).config?.streamsBody) return done();
    done(new UcloudError('VALIDATION_FAILED', `${req.method} ${routeOf(req).url} takes no request body`));
  };
  // Read-your-writes: a write log is open while the handler runs (the Store
  // records each commit in it), and the answer to a request that wrote waits
  // until the caches holding those keys have applied it, so the same client's
  // next read through this API sees its write. Opened here, after the body is
  // read; closed when the answer is sent or the connection goes.
  // A client already gone gets no answer to wait for: no log.
  const openWriteLog: preHandlerHookHandler = (req, reply, done) => {
    if (reply.raw.destroyed) return done();
    const writeLog = writeJournal.open();
    req.writeLog = writeLog;
    reply.raw.once('close', () => writeJournal.close(writeLog));
    done();
  };
  const awaitWrites: onSendHookHandler = (req, reply, payload, done) => {
    if (events) req.answered = answered(payload, reply.statusCode);
    if (!req.writeLog) return done(null, payload);
    writeJournal.close(req.writeLog);
    if (req.writeLog.revisions.size === 0) return done(null, payload);
    waitForWrites(caches, req.writeLog, log).then(
      () => done(null, payload),
      (err: Error) => done(err),
    );
  };
  // Only on the routes that can write: Fastify runs a route's hooks through a runner per hook, and
  // GETs (lists and shows, most requests) read no body and write nothing. Route hooks run after the
  // server's own (rate limit, authentication), as these did.
  api.addHook('onRoute', (route) => {
    requireDeclaredAction(route);
    reads?.noteRoute(route);
    if ([route.method].flat().every((m) => IS_READ.has(m))) return;
    route.preValidation = [defaultBody, ...[route.preValidation ?? []].flat()];
    route.preHandler = [refuseBody, openWriteLog, ...[route.preHandler ?? []].flat()];
    route.onSend = [awaitWrites, ...[route.onSend ?? []].flat()];
  });
  api.addHook('onResponse', (req, reply, done) => {
    // An upgrade request a route answered over HTTP: its socket left Node's HTTP parser, so nothing else
    // would ever read from or close it (a console's upgrade is hijacked and never gets here).
    if (isUpgrade(req.raw)) req.raw.socket.destroy();
    measure?.measure(req, reply);
    if (log.isLevelEnabled('debug')) req.log.debug({ method: req.method, url: req.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request');
    // After the answer went out, so it never waits for the audit write (nor fails with it).
    // Only callers with a valid token, and not the requests the rate limit turned away: a flood of
    // those would spend the audit log's per-bucket budget and hide the real changes.
    if (events && req.user && reply.statusCode !== 429 && !IS_READ.has(req.method) && routeOf(req).url !== undefined) void events.record(requestEvent(req, reply, req.answered ?? undefined));
    done();
  });
  // The document is built from the same route schemas that validate (src/model), by @fastify/swagger.
  void api.register(swagger, openapiOptions());
  void api.register(async (scope) => {
    const r = scope as Api;
    r.get('/v1/health', { config: { action: 'health:read' }, schema: { operationId: 'health', summary: 'Is the API up', security: [], response: { 200: Health } } }, async () => ({ ok: true }));
    r.get('/openapi.json', { config: { action: 'openapi:read' }, schema: { hide: true } }, async () => r.swagger());
    if (opts.web !== false) webRoutes(r, opts.web ?? defaultWebDir());
    vmRoutes(r, rm, cache, { haDefault: opts.haDefault === true }, reads);
    // Consoles (routes/console.ts), in a scope of their own: @fastify/websocket's hooks and handler wrapper
    // cost every request of a route they cover, and only these take WebSockets. An upgrade request to any
    // other route is answered by that route over HTTP and its socket closed by the onResponse hook above.
    void r.register(async (scope) => {
      // A frame is a few keystrokes, never more than this.
      void scope.register(fastifyWebsocket, { options: { maxPayload: 64 * 1024, perMessageDeflate: false } });
      // In a plugin of its own, loaded after the one above, so the WebSocket plugin's onRoute hook wraps the route
      // (a route added beside an awaited register was not wrapped when the rate limit was on: api-upgrade.test).
      void scope.register(async (routes) => {
        // A console stays open while its ticket's token still lets the same user in with the same role.
        consoleRoutes(routes as Api, rm.consoles, log, async (t) => {
          if (!t.token || !t.user) return 'UNAUTHENTICATED';
          try {
            const u = await m.users.authenticateHash(t.token);
            return u.name === t.user && u.role === t.role ? undefined : 'FORBIDDEN';
          } catch (err) {
            return toUcloudError(err).code;
          }
        });
      });
    });
    hostRoutes(r, rm, cache);
    migrationRoutes(r, rm);
    imageRoutes(r, rm);
    imageStoreRoutes(r, rm);
    fileRoutes(r, rm);
    keyRoutes(r, rm);
    networkRoutes(r, rm);
    userRoutes(r, rm);
    tokenRoutes(r, rm);
    totpRoutes(r, rm);
    eventRoutes(r, new EventManager(m.store, log), streams, {
      ...(opts.eventHeartbeatMs !== undefined ? { heartbeatMs: opts.eventHeartbeatMs } : {}),
      ...(events ? { recorded: () => events.flushed() } : {}),
      // The same token, still valid, for the same user with the same role (a demoted admin's ?all stream ends).
      stillAllowed: async (req) => {
        const hash = tokenHashOf(req.raw);
        const now = hash === undefined ? undefined : await m.users.authenticateHash(hash).catch(() => undefined);
        return now !== undefined && now.name === req.user.name && now.role === req.user.role;
      },
    });
  });
  return api;
}
