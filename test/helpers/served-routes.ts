import type { FastifyInstance } from 'fastify';

/**
 * Collects `METHOD /path/{param}` for every route `api` registers (HEAD left
 * out), as OpenAPI spells paths. Call before `api.ready()`: routes register then.
 */
export function collectServedRoutes(api: FastifyInstance, into = new Set<string>()): Set<string> {
  api.addHook('onRoute', (r) => {
    for (const m of [r.method].flat()) if (m !== 'HEAD') into.add(`${m} ${r.url.replace(/:(\w+)/g, '{$1}')}`);
  });
  return into;
}
