// One `ucloud up` per state directory. The lock is flock(2) on a file in the
// state dir, taken on an open file description this process keeps for its
// whole life: the kernel drops it when the process dies, however it dies, so
// a killed `up` never leaves it stuck (a pid file alone would). Node has no
// flock of its own; util-linux's `flock` takes it on our descriptor and exits.

import { spawnSync } from 'node:child_process';
import { closeSync, constants, fstatSync, mkdirSync, openSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { UcloudError } from '../common/errors.js';
import { readLivePid, writePidFile } from '../common/proc.js';

export const LOCK_FILE = 'up.lock';
export const PID_FILE = 'up.pid';

/**
 * Takes the state dir's lock or throws UP_ALREADY_RUNNING naming the `up` that
 * holds it. Nothing else is touched before the lock is ours.
 */
export async function lockStateDir(stateDir: string): Promise<void> {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  assertPrivateDir(stateDir);
  const lockPath = join(stateDir, LOCK_FILE);
  // Never through a planted symlink, never blocked on a planted FIFO.
  const fd = openSync(lockPath, constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND | constants.O_NOFOLLOW | constants.O_NONBLOCK, 0o600);
  if (!fstatSync(fd).isFile()) {
    closeSync(fd);
    throw new UcloudError('INVALID_CONFIG', `${lockPath} is not a regular file`, { hint: 'remove it; ucloud up makes it' });
  }
  const r = spawnSync('flock', ['--nonblock', '3'], { stdio: ['ignore', 'ignore', 'pipe', fd], encoding: 'utf8' });
  if (r.error) {
    closeSync(fd);
    throw new UcloudError('PREFLIGHT_FAILED', `cannot run flock: ${r.error.message}`, { hint: 'apt-get install util-linux' });
  }
  if (r.status !== 0) {
    closeSync(fd);
    const pidPath = join(stateDir, PID_FILE);
    const holder = await readLivePid(pidPath);
    const since = holder === undefined ? undefined : statSync(pidPath, { throwIfNoEntry: false })?.mtime.toISOString();
    throw new UcloudError(
      'UP_ALREADY_RUNNING',
      holder === undefined
        ? `another ucloud up holds ${lockPath}`
        : `ucloud up already runs for ${stateDir}: pid ${holder}, started ${since}`,
      { details: { stateDir, ...(holder === undefined ? {} : { pid: holder }) } },
    );
  }
  // `fd` stays open on purpose until this process ends: it is the lock.
  await writePidFile(join(stateDir, PID_FILE), process.pid);
}

/**
 * `up` runs as root and acts on what it finds in the state dir (it stops the
 * processes its pid files name): a directory anyone else may write is refused.
 */
export function assertPrivateDir(dir: string): void {
  const st = statSync(dir);
  const uid = process.geteuid?.() ?? 0;
  if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o022) !== 0) {
    throw new UcloudError('INVALID_CONFIG', `${dir} must be a directory owned by uid ${uid} that no one else may write (it is uid ${st.uid}, mode ${(st.mode & 0o777).toString(8)})`, {
      hint: `chown ${uid} ${dir} && chmod go-w ${dir}`,
    });
  }
}
