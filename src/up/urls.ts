import { METRICS_COMPONENTS, type Config } from '../common/config.js';
import { apiUrlFor } from '../common/paths.js';

/**
 * What `ucloud up` tells its user to open: the dashboard (the API's `/`, unless
 * web = off) and the Prometheus endpoint of each daemon it runs that serves one.
 */
export function upUrls(config: Config): { dashboard?: string; metrics: Record<string, string> } {
  const metrics: Record<string, string> = {};
  for (const c of METRICS_COMPONENTS) {
    const listen = config.metricsListen[c];
    if (listen) metrics[c] = `${apiUrlFor(listen)}/metrics`;
  }
  return { ...(config.web ? { dashboard: `${apiUrlFor(config.apiListen)}/` } : {}), metrics };
}
