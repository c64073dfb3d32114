import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Api } from '../../src/api/context.js';
import { buildApi } from '../../src/api/server.js';
import { silentLogger } from '../../src/common/logger.js';
import { MetricsRegistry } from '../../src/common/metrics.js';
import { TestCluster, until } from '../helpers/cluster.js';
import { freePort } from '../helpers/ports.js';

// The API's request metrics are labelled by route pattern, never by URL: a
// thousand VM names make one series, and URLs that match no route make one more.
describe('API request metrics', () => {
  let c: TestCluster;
  let api: Api;
  const registry = new MetricsRegistry();

  beforeAll(async () => {
    c = await TestCluster.start();
    await c.bootstrap({ guestImage: c.tinyImage() });
    api = buildApi(c.managers(), silentLogger, { metrics: registry });
    await api.ready();
  });
  afterAll(async () => {
    await api?.close();
    await c?.stop();
  });

  const get = (url: string) => api.inject({ method: 'GET', url, headers: { authorization: `Bearer ${c.adminToken}` } });

  it('counts requests by method, route pattern and status, and times them', async () => {
    for (let i = 0; i < 50; i++) expect((await get(`/v1/vms/nope${i}`)).statusCode).toBe(404);
    for (let i = 0; i < 20; i++) expect((await get(`/v1/no/such/path/${i}`)).statusCode).toBe(404);
    expect((await get('/v1/health')).statusCode).toBe(200);
    const text = await registry.metrics();
    const requests = text.split('\n').filter((l) => l.startsWith('ucloud_api_requests_total{'));
    expect(requests).toContain('ucloud_api_requests_total{method="GET",route="/v1/vms/:ref",status="404"} 50');
    expect(requests).toContain('ucloud_api_requests_total{method="GET",route="unmatched",status="404"} 20');
    expect(requests).toContain('ucloud_api_requests_total{method="GET",route="/v1/health",status="200"} 1');
    // 71 requests, 3 series: nothing of the URL itself.
    expect(requests).toHaveLength(3);
    expect(text).not.toMatch(/nope\d|such\/path/);
    expect(text).toMatch(/^ucloud_api_request_duration_seconds_count\{method="GET",route="\/v1\/vms\/:ref"\} 50$/m);
  });

  it('the api daemon serves GET /metrics on api_metrics_listen, and starts anyway when that port is taken', async () => {
    const port = await freePort('::1');
    const api1 = c.spawn('api', { UCLOUD_API_LISTEN: `[::1]:${await freePort('::1')}`, UCLOUD_API_METRICS_LISTEN: `[::1]:${port}` });
    await api1.ready;
    const text = await (await fetch(`http://[::1]:${port}/metrics`)).text();
    expect(text).toMatch(/^ucloud_etcd_request_duration_seconds_count\{component="api",op="get",outcome="ok"\} [1-9]/m);
    expect(text).toContain('process_cpu_seconds_total{component="api"}');
    expect((await fetch(`http://[::1]:${port}/other`)).status).toBe(404);
    await api1.stop();

    const held = createServer();
    await new Promise<void>((r) => held.listen(port, '::1', () => r()));
    try {
      const api2 = c.spawn('api', { UCLOUD_API_LISTEN: `[::1]:${await freePort('::1')}`, UCLOUD_API_METRICS_LISTEN: `[::1]:${port}` });
      await api2.ready;
      await until('the error logged', () => api2.stderr().includes('cannot serve metrics'), 10_000);
      expect(api2.child.exitCode).toBeNull();
      await api2.stop();
    } finally {
      held.close();
    }
  }, 60_000);
});
