import type { FastifyReply, FastifyRequest } from 'fastify';
import { routeOf } from './route-of.js';
import { Counter, Histogram, LATENCY_BUCKETS, type Registry } from '../common/metrics.js';

/**
 * Counts and times each answered request by its route pattern (`/v1/vms/:ref`,
 * never the URL itself, so the series stay bounded); a request that matched
 * no route is `unmatched`.
 */
export function requestMetrics(registry: Registry): (req: FastifyRequest, reply: FastifyReply) => void {
  const requests = new Counter({ name: 'ucloud_api_requests_total', help: 'API requests answered, by method, route pattern and status code.', labelNames: ['method', 'route', 'status'], registers: [registry] });
  const duration = new Histogram({
    name: 'ucloud_api_request_duration_seconds',
    help: 'Time from a request to the end of its answer, by method and route pattern (event streams: their whole life).',
    labelNames: ['method', 'route'],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  return (req, reply) => {
    const route = routeOf(req).url ?? 'unmatched';
    // Methods outside the usual few are folded, so a client inventing verbs adds no series.
    const method = KNOWN_METHODS.has(req.method) ? req.method : 'OTHER';
    requests.inc({ method, route, status: String(reply.statusCode) });
    duration.observe({ method, route }, reply.elapsedTime / 1000);
  };
}

const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
