import { createServer, type Server } from 'node:http';
import { collectDefaultMetrics, Registry } from 'prom-client';
import type { Logger } from './logger.js';

// Each daemon's Prometheus endpoint (docs/metrics.md). A Registry of its own
// per daemon, never prom-client's global one: tests build several APIs and
// schedulers in one process, and a metric registered twice on one registry throws.

export { Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * A registry that also serves families formatted by their owner: prom-client
 * spends some 10 µs a series formatting, and a host's per-VM families run to
 * thousands of series read at each scrape (src/host/vm-metrics.ts).
 */
export class MetricsRegistry extends Registry {
  private readonly expositions: (() => Promise<string>)[] = [];
  private defaults = '';

  override setDefaultLabels(labels: object): void {
    super.setDefaultLabels(labels);
    this.defaults = Object.entries(labels)
      .map(([k, v]) => `${k}="${escapeLabel(String(v))}"`)
      .join(',');
  }

  /** The registry's default labels as an exposition writes them (`component="api"`), for families formatted by their owner. */
  defaultLabelText(): string {
    return this.defaults;
  }

  /** `text`: whole families in the text exposition format (HELP, TYPE, then samples), each line ending in \n. */
  addExposition(text: () => Promise<string>): void {
    this.expositions.push(text);
  }

  override async metrics(): Promise<string> {
    const [own, ...rest] = await Promise.all([super.metrics(), ...this.expositions.map((f) => f())]);
    return own + rest.join('');
  }
}

/** A label value or HELP text as the text exposition format escapes it. */
export function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** A daemon's registry, with Node's process metrics (CPU, memory, event-loop lag, open fds). */
export function daemonRegistry(component: string): MetricsRegistry {
  const registry = new MetricsRegistry();
  registry.setDefaultLabels({ component });
  collectDefaultMetrics({ register: registry });
  return registry;
}

/** Buckets (seconds) for calls that take from a millisecond to a few seconds: etcd round trips, API requests, passes. */
export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * Serves `GET /metrics` (anything else: 404) on `listen`. Resolves with the
 * server once it listens (its port, when `listen.port` was 0, in address()).
 */
export async function serveMetrics(registry: Registry, listen: { host: string; port: number }, log: Pick<Logger, 'warn'>): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (req.method !== 'GET' || path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: GET /metrics\n');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (err: unknown) => {
        log.warn({ err }, 'metrics collection failed');
        res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics collection failed\n');
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}
