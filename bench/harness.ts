// What the VM benchmarks share: a whole ucloud (`ucloud up`) in a scratch
// directory with its own ports, a client for it, and the median.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '../src/client/client.js';
import { packageRoot } from '../src/common/paths.js';

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

function freePort(host: string): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen({ port: 0, host }, () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

export interface BenchCloud {
  dir: string;
  env: NodeJS.ProcessEnv;
  client: Client;
  stop(): Promise<void>;
}

/** Runs `ucloud up` (local etcd, every daemon, TCG unless UCLOUD_ACCEL says otherwise) in a new scratch directory. */
export async function startCloud(name: string): Promise<BenchCloud> {
  const dir = mkdtempSync(join(tmpdir(), `ucloud-bench-${name}-`));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    UCLOUD_CONFIG: join(dir, 'ucloud.conf'),
    UCLOUD_CLI_CONFIG: join(dir, 'cli.json'),
    UCLOUD_LOCAL_ETCD_URL: `http://127.0.0.1:${await freePort('127.0.0.1')}`,
    UCLOUD_STATE_DIR: join(dir, 'state'),
    UCLOUD_RUN_DIR: join(dir, 'run'),
    UCLOUD_LOG_DIR: join(dir, 'log'),
    IMAGE_PATH: join(dir, 'images'),
    FILES_PATH: join(dir, 'files'),
    UCLOUD_API_LISTEN: `[::1]:${await freePort('::1')}`,
    UCLOUD_HOST_NAME: 'bench',
    UCLOUD_ACCEL: process.env.UCLOUD_ACCEL ?? 'tcg',
  };
  // `up` runs its own etcd and generates its password into the state dir.
  delete env.UCLOUD_ETCD_ENDPOINTS;
  delete env.UCLOUD_ETCD_USERNAME;
  delete env.UCLOUD_ETCD_PASSWORD_FILE;
  writeFileSync(env.UCLOUD_CONFIG!, '');
  const up = spawn(process.execPath, [join(packageRoot(), 'bin', 'ucloud'), 'up'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let upErr = '';
  up.stderr.on('data', (b: Buffer) => (upErr += b.toString()));
  const stop = async () => {
    if (up.exitCode === null) {
      up.kill('SIGINT');
      await new Promise((r) => up.once('exit', r));
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 180_000;
  while (!upErr.includes('ucloud is up')) {
    if (up.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`ucloud up failed:\n${upErr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const { url, token } = JSON.parse(readFileSync(env.UCLOUD_CLI_CONFIG!, 'utf8')) as { url: string; token: string };
  return { dir, env, client: new Client({ url, token }), stop };
}
