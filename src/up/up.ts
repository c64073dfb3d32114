import { join } from 'node:path';
import { loadConfig, parseOverrides } from '../common/config.js';
import type { DaemonFlags } from '../store/daemon.js';
import type { paths } from '../client/api-types.js';
import { exitCodeOf, toUcloudError, UcloudError } from '../common/errors.js';
import { createLogger, type Logger } from '../common/logger.js';
import { apiUrlFor } from '../common/paths.js';
import { preflight } from '../common/preflight.js';
import { ensurePasswordFile, storeOptions } from '../store/etcd-auth.js';
import { Store } from '../store/store.js';
import { bootstrap } from './bootstrap.js';
import { lockStateDir } from './instance-lock.js';
import { daemonService, localEtcdService } from './services.js';
import { Supervisor } from './supervisor.js';
import { upUrls } from './urls.js';

/** The daemons `ucloud up` runs, by their subcommand. */
export const UP_COMPONENTS = ['api', 'scheduler', 'host', 'metadata', 'filescanner', 'imagescanner'] as const;

/**
 * All of ucloud on one machine, supervised like a service manager would: one
 * `up` per state directory (instance-lock.ts); whatever a killed `up` left is
 * stopped first; a local etcd when none is configured (its data dir persists,
 * so a second `up` finds the same cloud), then the bootstrap records, then
 * every daemon, each restarted when it dies (supervisor.ts). Children end
 * when `up` ends, even by SIGKILL; VMs keep running and are re-attached by
 * the next `up`.
 */
export async function runUp(flags: DaemonFlags): Promise<void> {
  let log: Logger | undefined;
  let supervisor: Supervisor | undefined;
  let stopping = false;
  try {
    const overrides = parseOverrides(flags.set ?? []);
    let { config } = loadConfig({ ...(flags.config ? { file: flags.config } : {}), overrides });
    // Before anything is written, even a log line: a refused second `up` changes nothing.
    await lockStateDir(config.stateDir);
    log = createLogger({ component: 'up', logDir: config.logDir, level: config.logLevel });
    await preflight(config, ['qemu', 'qemuImg', 'bwrap', 'accel', 'stateDir', 'runDir', 'logDir', 'imagePath', 'filesPath', ...(config.etcdEndpoints.length ? [] : (['etcdBinary'] as const))]);
    supervisor = new Supervisor(join(config.stateDir, 'up'), log);
    const leftovers = await supervisor.stopLeftovers();
    if (leftovers.length) log.warn({ stopped: leftovers }, 'stopped the leftovers of an earlier ucloud up');
    const env: NodeJS.ProcessEnv = { ...process.env };
    if (config.etcdEndpoints.length === 0) {
      // Generated once, root-only; the local etcd refuses every client without it.
      const password = await ensurePasswordFile(config.etcdPasswordFile);
      const credentials = { username: config.etcdUsername, password };
      const dataDir = join(config.stateDir, 'etcd');
      await supervisor.add(localEtcdService({ dataDir, url: config.localEtcdUrl, logFile: join(config.logDir, 'etcd.log'), credentials }));
      log.info({ url: config.localEtcdUrl, dataDir, passwordFile: config.etcdPasswordFile }, 'local etcd ready');
      env.UCLOUD_ETCD_ENDPOINTS = config.localEtcdUrl;
      env.UCLOUD_ETCD_USERNAME = credentials.username;
      env.UCLOUD_ETCD_PASSWORD_FILE = config.etcdPasswordFile;
      config = loadConfig({ ...(flags.config ? { file: flags.config } : {}), env, overrides }).config;
    } else {
      await preflight(config, ['etcdCredentials']);
    }
    const store = new Store(await storeOptions(config));
    await store.ping();
    await bootstrap(config, store, log);
    store.close();

    const args = [...(flags.config ? ['--config', flags.config] : []), ...(flags.set ?? []).flatMap((s) => ['--set', s])];
    for (const name of UP_COMPONENTS) await supervisor.add(daemonService(name, args, env));
    const url = apiUrlFor(config.apiListen);
    await waitForApi(url, () => supervisor!.pid('api'));
    log.info({ api: url }, 'ucloud is up; try `ucloud image list` in another terminal (Ctrl-C stops the daemons; VMs keep running)');
    const where = upUrls(config);
    log.info(where, `dashboard: ${where.dashboard ?? 'off (web = off)'}; metrics: ${Object.entries(where.metrics).map(([c, u]) => `${c} ${u}`).join(', ') || 'off'}`);
  } catch (err) {
    const e = toUcloudError(err);
    if (log) log.fatal({ err }, 'ucloud up failed');
    else process.stderr.write(`up: ${e.code}: ${e.message}\n${e.hint ? `hint: ${e.hint}\n` : ''}`);
    await supervisor?.stopAll();
    process.exit(exitCodeOf(e.code));
  }
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    log?.info('stopping the daemons');
    await supervisor?.stopAll();
    log?.info('stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown());
  process.on('SIGTERM', () => void shutdown());
}

const HEALTH: keyof paths = '/v1/health';

// Generous: six Node daemons starting at once on a loaded 2-core host (TCG guests, builds) took over 30 s here.
// The answer counts only while our own API child runs: one that died on "address
// in use" must not pass for ready because a stranger answers on its port.
async function waitForApi(url: string, ourApi: () => number | undefined, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const before = ourApi();
      const ok = (await fetch(`${url}${HEALTH}`, { signal: AbortSignal.timeout(500) })).ok;
      if (ok && before !== undefined && ourApi() === before) return;
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new UcloudError('API_UNREACHABLE', `the API did not answer at ${url} within ${timeoutMs} ms; see the api log`);
}
