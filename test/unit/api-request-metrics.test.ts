import fc from 'fast-check';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { describe, expect, it } from 'vitest';
import { requestMetrics } from '../../src/api/request-metrics.js';
import { Counter, Histogram, LATENCY_BUCKETS, MetricsRegistry } from '../../src/common/metrics.js';

/** Samples of an exposition as `name{sorted labels}` → value. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^(\w+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || !m[1]!.startsWith('ucloud_api_')) continue;
    const labels = (m[2] ?? '').match(/\w+="(?:[^"\\]|\\.)*"/g) ?? [];
    out.set(`${m[1]}{${labels.sort().join(',')}}`, Number(m[3]));
  }
  return out;
}

interface Obs {
  method: string;
  route: string | undefined;
  status: number;
  ms: number;
}

describe('API request metrics', () => {
  it("write what prom-client's Counter and Histogram would for the same requests (fast-check)", async () => {
    const obs = fc.record({
      method: fc.constantFrom('GET', 'POST', 'DELETE', 'BREW'),
      route: fc.constantFrom(undefined, '/v1/vms', '/v1/vms/:ref', '/v1/a"b\\c'),
      status: fc.constantFrom(200, 201, 404, 429, 500),
      ms: fc.oneof(fc.double({ min: 0, max: 20_000, noNaN: true }), fc.constantFrom(...LATENCY_BUCKETS.map((b) => b * 1000))),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(obs, { maxLength: 60 }), async (list: Obs[]) => {
        const ours = new MetricsRegistry();
        ours.setDefaultLabels({ component: 'api' });
        const { measure } = requestMetrics(ours);
        const theirs = new MetricsRegistry();
        theirs.setDefaultLabels({ component: 'api' });
        const requests = new Counter({ name: 'ucloud_api_requests_total', help: 'x', labelNames: ['method', 'route', 'status'], registers: [theirs] });
        const duration = new Histogram({ name: 'ucloud_api_request_duration_seconds', help: 'x', labelNames: ['method', 'route'], buckets: LATENCY_BUCKETS, registers: [theirs] });
        for (const o of list) {
          measure({ method: o.method, route: { url: o.route } } as unknown as FastifyRequest, { statusCode: o.status, elapsedTime: o.ms } as FastifyReply);
          const method = o.method === 'BREW' ? 'OTHER' : o.method;
          const route = o.route ?? 'unmatched';
          requests.inc({ method, route, status: String(o.status) });
          duration.observe({ method, route }, o.ms / 1000);
        }
        const a = samples(await ours.metrics());
        const b = samples(await theirs.metrics());
        expect([...a.keys()].sort()).toEqual([...b.keys()].sort());
        for (const [k, v] of b) expect(a.get(k)).toBeCloseTo(v, 6);
      }),
      { numRuns: 200 },
    );
  });
});
