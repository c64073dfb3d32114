import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { UcloudError } from '../common/errors.js';

export interface LocalEtcd {
  url: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

/**
 * Starts a single-member etcd for `ucloud up` (persistent data dir) and for tests
 * (a temporary one). The peer port is the client port + 1. Resolves once etcd
 * answers its health endpoint.
 */
export async function startLocalEtcd(opts: { dataDir: string; url: string; logFile?: string; timeoutMs?: number }): Promise<LocalEtcd> {
  const u = new URL(opts.url);
  const peer = `${u.protocol}//${u.hostname}:${Number(u.port) + 1}`;
  mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  const logFd = openSync(opts.logFile ?? join(opts.dataDir, 'etcd.log'), 'a');
  const child = spawn(
    'etcd',
    [
      '--name', 'ucloud',
      '--data-dir', opts.dataDir,
      '--listen-client-urls', opts.url,
      '--advertise-client-urls', opts.url,
      '--listen-peer-urls', peer,
      '--initial-advertise-peer-urls', peer,
      '--initial-cluster', `ucloud=${peer}`,
      // Revisions older than an hour are compacted away; watchers re-list when that bites.
      '--auto-compaction-retention', '1',
    ],
    { stdio: ['ignore', logFd, logFd] },
  );
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let spawnError: Error | undefined;
  child.once('error', (e) => (spawnError = e));
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  };
  const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
  while (Date.now() < deadline) {
    if (spawnError) throw new UcloudError('PREFLIGHT_FAILED', `cannot start etcd: ${spawnError.message}`, { hint: 'apt-get install etcd-server' });
    if (child.exitCode !== null) {
      throw new UcloudError('ETCD_UNAVAILABLE', `local etcd exited with code ${child.exitCode}; see ${opts.logFile ?? join(opts.dataDir, 'etcd.log')}`, {
        hint: `is another etcd already using ${opts.url}?`,
      });
    }
    try {
      const res = await fetch(`${opts.url}/health`, { signal: AbortSignal.timeout(500) });
      if (res.ok) return { url: opts.url, process: child, stop };
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  await stop();
  throw new UcloudError('ETCD_UNAVAILABLE', `local etcd did not become healthy at ${opts.url}`);
}
