// A real single-node Ceph for integration tests, made by scripts/ceph-test-cluster.sh.
//
// Test files share one cluster in a fixed directory under the temp dir: it costs ~9 s
// and ~400 MiB of RAM, so two files running side by side should not each start one.
// The script serialises every start/stop on an flock in that directory and counts
// users: each test process registers its pid on start(); stop() removes it and stops
// the daemons only when no live process is left using the cluster (a worker that died
// without stopping is noticed by its pid being gone). Each test file should use pools
// of its own (e.g. `uniquePool()`), so files never see each other's images.

import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toUcloudError } from '../../src/common/errors.js';
import { packageRoot } from '../../src/common/paths.js';
import { RbdClient } from '../../src/storage/rbd.js';

// From the repository root, so a compiled bench (dist/…) finds it too.
const SCRIPT = join(packageRoot(), 'scripts', 'ceph-test-cluster.sh');

export const DEFAULT_CEPH_DIR = join(tmpdir(), 'ucloud-test-ceph');

/** The longest a start may take: the script's lock wait and two bootstrap attempts fit in it. */
const START_TIMEOUT_MS = 240_000;
/**
 * The hook timeout of a test file's setup that starts Ceph: more than a start's own
 * bound, so a failed start reports the script's progress lines, not just a hook timeout.
 */
export const CEPH_HOOK_TIMEOUT_MS = START_TIMEOUT_MS + 90_000;

/** Tries of `ensurePool`: the shared cluster's mon can miss a 10 s connect under the suite's load. */
const POOL_TRIES = 3;

export interface TestCeph {
  /** ceph.conf for clients (`ceph -c`, `rbd -c`, `rbd:…:conf=`). */
  conf: string;
  dir: string;
  /** Makes `pool` (RBD) unless it exists, trying again while the cluster does not answer in time. */
  ensurePool(pool: string): Promise<void>;
  /** Leaves the cluster; the last user stops its daemons. */
  stop(): Promise<void>;
}

function script(cmd: 'start' | 'stop' | 'status', dir: string, timeoutMs: number, env: NodeJS.ProcessEnv = {}): Promise<{ stdout: string; stderr: string }> {
  return new Promise((res, rej) => {
    execFile(
      'bash',
      [SCRIPT, cmd, dir],
      { timeout: timeoutMs, killSignal: 'SIGKILL', env: { ...process.env, ...env, CEPH_TEST_HOLDER: String(process.pid) } },
      (err, stdout, stderr) => {
        // Killed at our timeout, the script could not print its cluster's logs itself.
        if (err) rej(new Error(`ceph-test-cluster.sh ${cmd} ${dir} failed: ${err.message}\n${stderr}${err.killed ? logTails(dir) : ''}`));
        else res({ stdout, stderr });
      },
    );
  });
}

/** The last lines of each of the cluster's logs: what CI keeps of a failed start (the folder goes). */
function logTails(dir: string): string {
  const logDir = join(dir, 'log');
  let out = '';
  for (const name of existsSync(logDir) ? readdirSync(logDir).sort() : []) {
    const lines = readFileSync(join(logDir, name), 'utf8').trimEnd().split('\n').slice(-8);
    if (lines.join('')) out += `\n--- ${name}, last lines:\n${lines.join('\n')}`;
  }
  return out;
}

/**
 * `address`: what the daemons bind to (default 127.0.0.1, the root namespace
 * only); it takes effect when this start bootstraps the cluster in `dir`, so a
 * cluster on another address wants a directory of its own.
 */
export async function startCeph(dir: string = DEFAULT_CEPH_DIR, opts: { address?: string } = {}): Promise<TestCeph> {
  // The lock may be held by another file's start (≈ 5–10 s) or stop (≈ 6 s); the script bounds
  // each step and tries a bootstrap twice.
  const { stdout, stderr } = await script('start', dir, START_TIMEOUT_MS, opts.address ? { CEPH_TEST_ADDR: opts.address } : {});
  if (stderr.trim()) console.log(stderr.trim());
  const conf = stdout.trim().split('\n').pop() ?? join(dir, 'ceph.conf');
  let stopped = false;
  return {
    conf,
    dir,
    async ensurePool(pool: string) {
      for (let attempt = 1; ; attempt++) {
        try {
          return await new RbdClient({ conf }).ensurePool(pool);
        } catch (err) {
          // Only a cluster that did not answer: a refusal is the same code, and trying again would not help.
          if (attempt >= POOL_TRIES || !toUcloudError(err).message.startsWith('cannot reach')) throw err;
          console.log(`test Ceph: ensurePool(${pool}) try ${attempt} failed (${toUcloudError(err).message}); trying again`);
        }
      }
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await script('stop', dir, 120_000);
    },
  };
}

/** A pool name nobody else uses. */
export function uniquePool(prefix = 'test'): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}
