import Fastify, { LogController } from 'fastify';
import { TypeBoxValidatorCompiler, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Logger } from '../common/logger.js';
import { authenticate } from './auth.js';
import type { Api, Managers } from './context.js';
import { errorHandler, notFoundHandler } from './errors.js';
import { fileRoutes } from './routes/files.js';
import { hostRoutes } from './routes/hosts.js';
import { imageStoreRoutes } from './routes/image-stores.js';
import { keyRoutes } from './routes/keys.js';
import { networkRoutes } from './routes/networks.js';
import { imageRoutes } from './routes/images.js';
import { userRoutes } from './routes/users.js';
import { vmRoutes } from './routes/vms.js';

/** Slow-loris bound: any socket idle this long is closed (a request body's own deadline is api_body_timeout). */
const CONNECTION_IDLE_MS = 120_000;

/**
 * The REST API: authenticates, validates (unknown fields are errors), authorizes
 * and records intent through the managers. It never touches QEMU or the kernel.
 */
export function buildApi(m: Managers, log: Logger, opts: { bodyTimeoutMs?: number } = {}): Api {
  const bodyTimeoutMs = opts.bodyTimeoutMs ?? 30_000;
  // Long path parameters reach the schema (a 400 naming the parameter) instead of missing every route.
  // A URL Fastify cannot even decode (a stray "%") answers through the same error handler, with a code.
  const api = Fastify({
    loggerInstance: log,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1 << 20,
    // A socket that sends and receives nothing this long goes. Not requestTimeout: in Fastify 5 that is
    // Node's server.requestTimeout, a deadline for the WHOLE request body, which would cut long uploads;
    // other routes get bodyTimeoutMs below, uploads their own idle timeout.
    connectionTimeout: CONNECTION_IDLE_MS,
    routerOptions: { maxParamLength: 16_384 },
    frameworkErrors: (err, req, reply) => errorHandler(err, req, reply),
  })
    .setValidatorCompiler(TypeBoxValidatorCompiler)
    .withTypeProvider<TypeBoxTypeProvider>() as unknown as Api;
  api.setErrorHandler(errorHandler);
  api.setNotFoundHandler(notFoundHandler);
  api.decorateRequest('user', null as never);
  api.addHook('onRequest', async (req, reply) => {
    if (req.raw.complete || (req.routeOptions.config as { streamsBody?: boolean } | undefined)?.streamsBody) return;
    const t = setTimeout(() => {
      if (!req.raw.complete) req.raw.socket.destroy();
    }, bodyTimeoutMs);
    t.unref();
    reply.raw.once('close', () => clearTimeout(t));
  });
  api.addHook('onRequest', authenticate(m.users));
  api.addHook('onResponse', async (req, reply) => {
    req.log.debug({ method: req.method, url: req.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request');
  });
  api.get('/v1/health', { config: { public: true } }, async () => ({ ok: true }));
  vmRoutes(api, m);
  hostRoutes(api, m);
  imageRoutes(api, m);
  imageStoreRoutes(api, m);
  fileRoutes(api, m);
  keyRoutes(api, m);
  networkRoutes(api, m);
  userRoutes(api, m);
  return api;
}
