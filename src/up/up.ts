import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { loadConfig, parseOverrides } from '../common/config.js';
import type { DaemonFlags } from '../common/daemon.js';
import { toUcloudError, UcloudError } from '../common/errors.js';
import { createLogger, type Logger } from '../common/logger.js';
import { apiUrlFor, packageRoot } from '../common/paths.js';
import { preflight } from '../common/preflight.js';
import { ensurePasswordFile, storeOptions } from '../store/etcd-auth.js';
import { startLocalEtcd, type LocalEtcd } from '../store/local-etcd.js';
import { Store } from '../store/store.js';
import { bootstrap } from './bootstrap.js';

/** The daemons `ucloud up` runs, by their subcommand. */
export const UP_COMPONENTS = ['api', 'scheduler', 'host', 'metadata', 'filescanner', 'imagescanner'] as const;

interface Supervised {
  name: string;
  child?: ChildProcess;
  restarts: number;
}

/**
 * All of ucloud on one machine: a local etcd when none is configured (its data
 * dir persists, so a second `up` finds the same cloud), the bootstrap records,
 * then every daemon as a child process, restarted if it dies. Ctrl-C stops the
 * daemons and etcd; VMs keep running and are re-attached on the next `up`.
 */
export async function runUp(flags: DaemonFlags): Promise<void> {
  let log: Logger | undefined;
  let etcd: LocalEtcd | undefined;
  const children: Supervised[] = UP_COMPONENTS.map((name) => ({ name, restarts: 0 }));
  let stopping = false;
  try {
    const overrides = parseOverrides(flags.set ?? []);
    let { config } = loadConfig({ ...(flags.config ? { file: flags.config } : {}), overrides });
    log = createLogger({ component: 'up', logDir: config.logDir, level: config.logLevel });
    await preflight(config, ['qemu', 'qemuImg', 'bwrap', 'accel', 'stateDir', 'runDir', 'logDir', 'imagePath', 'filesPath', ...(config.etcdEndpoints.length ? [] : (['etcdBinary'] as const))]);
    const env: NodeJS.ProcessEnv = { ...process.env };
    if (config.etcdEndpoints.length === 0) {
      // Generated once, root-only; the local etcd refuses every client without it.
      const password = await ensurePasswordFile(config.etcdPasswordFile);
      const credentials = { username: config.etcdUsername, password };
      etcd = await startLocalEtcd({ dataDir: join(config.stateDir, 'etcd'), url: config.localEtcdUrl, logFile: join(config.logDir, 'etcd.log'), credentials });
      log.info({ url: etcd.url, dataDir: join(config.stateDir, 'etcd'), passwordFile: config.etcdPasswordFile }, 'local etcd ready');
      env.UCLOUD_ETCD_ENDPOINTS = etcd.url;
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
    const startChild = (s: Supervised) => {
      const child = spawn(process.execPath, [join(packageRoot(), 'bin', 'ucloud'), s.name, ...args], { env, stdio: ['ignore', 'inherit', 'inherit'] });
      s.child = child;
      child.on('exit', (code, signal) => {
        if (stopping) return;
        s.restarts++;
        const delay = Math.min(10_000, 500 * 2 ** Math.min(s.restarts, 5));
        log!.warn({ component: s.name, code, signal, restartInMs: delay }, 'daemon exited; restarting');
        setTimeout(() => !stopping && startChild(s), delay);
      });
    };
    children.forEach(startChild);
    const url = apiUrlFor(config.apiListen);
    await waitForApi(url);
    log.info({ api: url }, 'ucloud is up; try `ucloud image list` in another terminal (Ctrl-C stops the daemons; VMs keep running)');
  } catch (err) {
    const e = toUcloudError(err);
    if (log) log.fatal({ err }, 'ucloud up failed');
    else process.stderr.write(`up: ${e.code}: ${e.message}\n`);
    await stopAll(children, etcd);
    process.exit(1);
  }
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    log?.info('stopping the daemons');
    await stopAll(children, etcd);
    log?.info('stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown());
  process.on('SIGTERM', () => void shutdown());
}

async function stopAll(children: Supervised[], etcd: LocalEtcd | undefined): Promise<void> {
  await Promise.all(
    children.map(async ({ child }) => {
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    }),
  );
  await etcd?.stop();
}

// Generous: six Node daemons starting at once on a loaded 2-core host (TCG guests, builds) took over 30 s here.
async function waitForApi(url: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(`${url}/v1/health`, { signal: AbortSignal.timeout(500) })).ok) return;
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new UcloudError('API_UNREACHABLE', `the API did not answer at ${url} within ${timeoutMs} ms; see the api log`);
}
