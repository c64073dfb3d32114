import type { FastifyInstance } from 'fastify';

/**
 * Collects `METHOD /path/{param}` for every route `api` registers (HEAD left
 * out), as OpenAPI spells paths. Call before `api.ready()`: routes register then.
 * `apiOnly`: leaves out the routes hidden from the OpenAPI document (`schema.hide`:
 * the document itself and the web dashboard's files), which are no API operations.
 */
export function collectServedRoutes(api: FastifyInstance, into = new Set<string>(), opts: { apiOnly?: boolean } = {}): Set<string> {
  api.addHook('onRoute', (r) => {
    if (opts.apiOnly && (r.schema as { hide?: boolean } | undefined)?.hide) return;
    for (const m of [r.method].flat()) if (m !== 'HEAD') into.add(`${m} ${r.url.replace(/:(\w+)/g, '{$1}')}`);
  });
  return into;
}
