import { loadConfig, parseOverrides, type Config, type MetricsComponent } from '../common/config.js';
import { toUcloudError } from '../common/errors.js';
import { createLogger, type Logger } from '../common/logger.js';
import { daemonRegistry, serveMetrics, type MetricsRegistry } from '../common/metrics.js';
import { preflight, type CheckName } from '../common/preflight.js';
import { storeOptions } from './etcd-auth.js';
import { measureEtcd, Store } from './store.js';

export interface DaemonFlags {
  config?: string;
  set?: string[];
}

export interface DaemonContext {
  config: Config;
  log: Logger;
  store: Store;
  /** The daemon's Prometheus registry, served on its `<component>_metrics_listen` (docs/metrics.md). */
  metrics: MetricsRegistry;
}

/**
 * The life of every daemon: configuration, its log file, its preflight checks,
 * the etcd connection, then `body`, which returns how to stop. SIGINT/SIGTERM
 * stop it cleanly; a failure to start prints one line and exits non-zero.
 */
export async function runDaemon(component: MetricsComponent, flags: DaemonFlags, checks: CheckName[], body: (ctx: DaemonContext) => Promise<() => Promise<void>>): Promise<void> {
  let log: Logger | undefined;
  // From the first moment: `up` may die while this daemon is still starting
  // (an agent re-attaching VMs), and then there is nothing to stop cleanly yet.
  let onSupervisorGone: () => void = () => process.exit(0);
  watchSupervisor(() => onSupervisorGone());
  try {
    const { config } = loadConfig({ ...(flags.config ? { file: flags.config } : {}), overrides: parseOverrides(flags.set ?? []) });
    log = createLogger({ component, logDir: config.logDir, level: config.logLevel });
    // A bug that escapes every handler: the stack goes to the log file, one line to the terminal.
    const crash = (err: unknown) => {
      log!.fatal({ err }, `${component} crashed`);
      process.exit(1);
    };
    process.on('uncaughtException', crash);
    process.on('unhandledRejection', crash);
    await preflight(config, ['etcdEndpoints', 'etcdCredentials', 'logDir', ...checks]);
    const metrics = daemonRegistry(component);
    measureEtcd(metrics);
    const store = new Store({ ...(await storeOptions(config)), log });
    await store.ping();
    const stop = await body({ config, log, store, metrics });
    // After the body: its metrics are registered by then. A port in use is said loudly but stops nothing:
    // the control plane matters more than its graphs.
    const listen = config.metricsListen[component];
    const server = listen ? await serveMetrics(metrics, listen, log).catch((err: unknown) => void log!.error({ err, listen }, `cannot serve metrics on [${listen.host}]:${listen.port}`)) : undefined;
    if (server) log.info({ listen: `[${listen!.host}]:${listen!.port}` }, 'metrics served');
    let stopping = false;
    const shutdown = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      log!.info({ signal }, 'stopping');
      server?.close();
      try {
        await stop();
      } finally {
        store.close();
        process.exit(0);
      }
    };
    process.on('SIGINT', () => void shutdown('SIGINT'));
    process.on('SIGTERM', () => void shutdown('SIGTERM'));
    onSupervisorGone = () => void shutdown('supervisor gone');
  } catch (err) {
    const e = toUcloudError(err);
    if (log) log.fatal({ err }, `${component} cannot start`);
    else process.stderr.write(`${component}: ${e.code}: ${e.message}\n`);
    process.exit(1);
  }
}

/**
 * Under `ucloud up` a daemon's stdin is a pipe from `up` that is never written:
 * it reaches end-of-file when `up` dies, however it dies (SIGKILL included, and
 * also when `up` died before this process got here), so the daemon never
 * outlives it. Node has no prctl(PR_SET_PDEATHSIG); this is the portable way.
 */
export function watchSupervisor(onGone: () => void): void {
  if (process.env[SUPERVISED_ENV] !== '1') return;
  // Not for grandchildren (console keepers, QEMU): their stdin is no such pipe, and they must outlive `up`.
  delete process.env[SUPERVISED_ENV];
  // stderr is a pipe that `up` reads: once it is gone every write fails with
  // EPIPE, which must not turn a clean shutdown into an uncaught exception.
  process.stderr.on('error', () => undefined);
  process.stdin.on('end', onGone);
  process.stdin.on('error', onGone);
  process.stdin.resume();
}

/** Set by `ucloud up` in its children's environment: stdin is the supervisor's pipe. */
export const SUPERVISED_ENV = 'UCLOUD_SUPERVISED';
