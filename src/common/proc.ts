// A process's identity and end, read from /proc: a pid alone may have been
// reused, so identity is the pid plus its start time (and, where it matters,
// its command line). Shared by the host agent (QEMU, console keepers) and by
// `ucloud up` (its daemons and etcd), which cannot wait() on processes a
// previous instance started.

import { readFileSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { UcloudError } from './errors.js';

// A /proc read costs microseconds. Polls start at 5 ms because QEMU usually
// exits within a few ms of quit/SIGTERM, then back off to 25 ms, still well
// under what a person or a migration cut-over notices.
const EXIT_POLL_FIRST_MS = 5;
const EXIT_POLL_MAX_MS = 25;

/**
 * Resolves true once `pid` has exited (zombies count as exited), false when
 * it is still running at the deadline. Linux has pidfd for this, but Node does
 * not expose it, so this polls /proc. The process's start time is recorded
 * first so that a new process reusing the pid is not mistaken for it.
 */
export async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const first = await readStat(pid);
  if (!first || first.gone) return true;
  const deadline = Date.now() + timeoutMs;
  let interval = EXIT_POLL_FIRST_MS;
  for (;;) {
    const now = await readStat(pid);
    if (!now || now.gone || now.startTime !== first.startTime) return true;
    const left = deadline - Date.now();
    if (left <= 0) return false;
    await sleep(Math.min(interval, left));
    interval = Math.min(interval * 2, EXIT_POLL_MAX_MS);
  }
}

/** Sends `sig`; false when the process is already gone. */
export function signal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

/** A process's argv from /proc; undefined when it is gone or a zombie. */
export function readArgv(pid: number): string[] | undefined {
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
  let raw: Buffer;
  try {
    raw = readFileSync(`/proc/${pid}/cmdline`);
  } catch {
    return undefined;
  }
  // A zombie's cmdline is empty: it has exited, whatever its pid says.
  if (raw.length === 0) return undefined;
  const argv = raw.toString('utf8').split('\0');
  if (argv[argv.length - 1] === '') argv.pop();
  return argv;
}

/** State and start time (clock ticks since boot) of a process: together with the pid, its identity. */
export async function readStat(pid: number): Promise<{ gone: boolean; startTime: string } | undefined> {
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
  let text: string;
  try {
    text = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const state = fields[0] ?? '';
  return { gone: state === 'Z' || state === 'X', startTime: fields[19] ?? '' };
}

/**
 * Records `pid` for `readLivePid` in a later process: the pid, its start time,
 * this boot's id (start times restart at every boot) and a hash of its command
 * line, so a pid file can only ever name the very process it was written for.
 * Written to a new temporary file (O_EXCL never follows a planted symlink),
 * then renamed over the old one.
 */
export async function writePidFile(path: string, pid: number): Promise<void> {
  const stat = await readStat(pid);
  const argv = readArgv(pid);
  if (!stat || stat.gone || !argv) throw new UcloudError('COMMAND_FAILED', `process ${pid} is not running`);
  // Unique per write: two writers of one pid file (a restart racing a reconcile) never share a temporary.
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(tmp, `${pid} ${stat.startTime} ${await bootId()} ${argvHash(argv)}\n`, { flag: 'wx', mode: 0o600 });
  await rename(tmp, path);
}

/**
 * The pid in a `writePidFile` file when that very process still runs (same pid,
 * start time, boot and command line); else undefined. Files holding only a pid
 * and a start time (written by older versions) are checked on those two.
 */
export async function readLivePid(path: string): Promise<number | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
  const m = /^(\d+) (\d+)(?: ([0-9a-f-]+) ([0-9a-f]{64}))?\s*$/.exec(text);
  if (!m) return undefined;
  const pid = Number(m[1]);
  const stat = await readStat(pid);
  if (!stat || stat.gone || stat.startTime !== m[2]) return undefined;
  if (m[3] !== undefined) {
    const argv = readArgv(pid);
    if (m[3] !== (await bootId()) || !argv || argvHash(argv) !== m[4]) return undefined;
  }
  return pid;
}

async function bootId(): Promise<string> {
  return (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();
}

function argvHash(argv: readonly string[]): string {
  return createHash('sha256').update(argv.join('\0')).digest('hex');
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once `pid` is gone (false if it outlived SIGKILL by `graceMs`). */
export async function terminate(pid: number, graceMs: number): Promise<boolean> {
  if (!signal(pid, 'SIGTERM') || (await waitForExit(pid, graceMs))) return true;
  if (!signal(pid, 'SIGKILL')) return true;
  return waitForExit(pid, graceMs);
}
