import type { FastifyReply, FastifyRequest } from 'fastify';
import { routeOf } from './route-of.js';
import { escapeLabel, LATENCY_BUCKETS, type MetricsRegistry } from '../common/metrics.js';

/** One method of one route: its answers by status, and their times. */
interface Series {
  labels: string;
  statuses: Map<number, number>;
  /** Per bucket of LATENCY_BUCKETS (not cumulative), then one for +Inf. */
  buckets: number[];
  sum: number;
  count: number;
}

const REQUESTS = 'ucloud_api_requests_total';
const DURATION = 'ucloud_api_request_duration_seconds';

export interface RequestMetrics {
  /** The onResponse hook's part: one answered request Fastify served. */
  measure(req: FastifyRequest, reply: FastifyReply): void;
  /** One answered request of `route` (its pattern, or undefined: matched none), however it was served. */
  record(route: string | undefined, method: string, status: number, seconds: number): void;
}

/**
 * Counts and times each answered request by its route pattern (`/v1/vms/:ref`,
 * never the URL itself, so the series stay bounded); a request that matched
 * no route is `unmatched`.
 *
 * Kept in plain numbers and formatted at a scrape, not in prom-client's
 * Counter and Histogram: those build and hash a label string for every
 * observation, a few µs of every cached read (bench/scale).
 */
export function requestMetrics(registry: MetricsRegistry): RequestMetrics {
  const byRoute = new Map<string, Map<string, Series>>();
  registry.addExposition(async () => exposition(byRoute, registry.defaultLabelText()));
  const record = (url: string | undefined, verb: string, status: number, seconds: number): void => {
    const route = url ?? 'unmatched';
    // Methods outside the usual few are folded, so a client inventing verbs adds no series.
    const method = KNOWN_METHODS.has(verb) ? verb : 'OTHER';
    let methods = byRoute.get(route);
    if (!methods) byRoute.set(route, (methods = new Map()));
    let s = methods.get(method);
    if (!s) methods.set(method, (s = { labels: `method="${method}",route="${escapeLabel(route)}"`, statuses: new Map(), buckets: new Array<number>(LATENCY_BUCKETS.length + 1).fill(0), sum: 0, count: 0 }));
    s.statuses.set(status, (s.statuses.get(status) ?? 0) + 1);
    let b = 0;
    while (b < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[b]!) b++;
    s.buckets[b]!++;
    s.sum += seconds;
    s.count++;
  };
  return { record, measure: (req, reply) => record(routeOf(req).url, req.method, reply.statusCode, reply.elapsedTime / 1000) };
}

/** Both families in the text exposition format, as prom-client would write them. */
function exposition(byRoute: Map<string, Map<string, Series>>, defaults: string): string {
  const tail = defaults ? `,${defaults}` : '';
  const series = [...byRoute.values()].flatMap((m) => [...m.values()]);
  const out = [`# HELP ${REQUESTS} API requests answered, by method, route pattern and status code.\n# TYPE ${REQUESTS} counter\n`];
  for (const s of series) for (const [status, n] of s.statuses) out.push(`${REQUESTS}{${s.labels},status="${status}"${tail}} ${n}\n`);
  out.push(`# HELP ${DURATION} Time from a request to the end of its answer, by method and route pattern (event streams: their whole life).\n# TYPE ${DURATION} histogram\n`);
  for (const s of series) {
    let cumulative = 0;
    LATENCY_BUCKETS.forEach((le, i) => {
      cumulative += s.buckets[i]!;
      out.push(`${DURATION}_bucket{${s.labels},le="${le}"${tail}} ${cumulative}\n`);
    });
    out.push(`${DURATION}_bucket{${s.labels},le="+Inf"${tail}} ${s.count}\n`, `${DURATION}_sum{${s.labels}${tail}} ${s.sum}\n`, `${DURATION}_count{${s.labels}${tail}} ${s.count}\n`);
  }
  return out.join('');
}

const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
