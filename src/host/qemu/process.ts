// Supervision of detached QEMU processes. QEMU runs with -daemonize so it
// outlives the agent that started it; afterwards it is nobody's child we can
// wait() on, so everything here goes through the pid file and /proc.

import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { UcloudError } from '../../common/errors.js';
import { run } from '../../common/exec.js';
import { argvHasVmMarker } from './cmdline.js';

export const DEFAULT_QEMU_BINARY = 'qemu-system-x86_64';

export interface LaunchResult {
  pid: number;
  /** What QEMU printed on stderr while starting (warnings); empty when nothing. */
  warnings: string;
}

// A /proc read costs microseconds. Polls start at 5 ms because QEMU usually
// exits within a few ms of quit/SIGTERM, then back off to 25 ms, still well
// under what a person or a migration cut-over notices.
const EXIT_POLL_FIRST_MS = 5;
const EXIT_POLL_MAX_MS = 25;

/**
 * Starts a QEMU whose args include `-daemonize` and `-pidfile`. QEMU's first
 * process exits once the VM is set up (devices opened, QMP listening), so a
 * zero exit means the VM exists; the pid file then names the daemon.
 *
 * A stale pid file is left alone on purpose: QEMU locks it, so a second QEMU
 * for a VM whose first one still runs fails here instead of sharing its disks.
 */
export async function launchQemu(binary: string, args: readonly string[], opts: { timeoutMs?: number } = {}): Promise<LaunchResult> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const pidIdx = args.indexOf('-pidfile');
  const pidFile = pidIdx >= 0 ? args[pidIdx + 1] : undefined;
  if (!pidFile || !args.includes('-daemonize')) {
    throw new UcloudError('QEMU_START_FAILED', 'QEMU arguments must include -daemonize and -pidfile <path>', {
      details: { binary, args: [...args] },
    });
  }

  let stderr: string;
  try {
    ({ stderr } = await run(binary, args, { timeoutMs }));
  } catch (err) {
    if (err instanceof UcloudError && err.code === 'COMMAND_TIMEOUT') {
      // run() killed only the foreground process; the daemon it forked may be
      // half set up. Kill it if the pid file names exactly this command line.
      await killIfArgvMatches(pidFile, [binary, ...args]);
    }
    throw startFailed(binary, args, err, timeoutMs);
  }

  const pid = await readPidFile(pidFile);
  if (pid === undefined) {
    throw new UcloudError('QEMU_START_FAILED', `QEMU reported success but wrote no pid to ${pidFile}`, {
      details: { binary, args: [...args], pidFile, stderr: stderr.trim() },
    });
  }
  return { pid, warnings: stderr.trim() };
}

/** The pid in a QEMU pid file; undefined when the file is missing or not (yet) a pid. */
export async function readPidFile(path: string): Promise<number | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  // QEMU truncates then writes, so a reader can briefly see an empty file.
  const m = /^\s*(\d+)\s*$/.exec(text);
  if (!m) return undefined;
  const pid = Number(m[1]);
  return pid > 0 ? pid : undefined;
}

/**
 * True when `pid` is alive and its command line carries the marker of VM
 * `vmId`. A pid from a pid file alone proves nothing: after a reboot or a
 * crash the number may belong to any other process.
 */
export function isOurQemu(pid: number, vmId: string): boolean {
  const argv = readArgv(pid);
  return argv !== undefined && argvHasVmMarker(argv, vmId);
}

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

/**
 * Stops VM `vmId`'s QEMU: SIGTERM (QEMU exits cleanly, the guest is not asked),
 * then SIGKILL after `graceMs`. Returns false, touching nothing, when `pid` is
 * not that VM's QEMU; true once it is gone.
 */
export async function killQemu(pid: number, vmId: string, opts: { graceMs?: number } = {}): Promise<boolean> {
  if (!isOurQemu(pid, vmId)) return false;
  if (!signal(pid, 'SIGTERM')) return true;
  if (await waitForExit(pid, opts.graceMs ?? 10_000)) return true;
  if (!isOurQemu(pid, vmId)) return true;
  if (!signal(pid, 'SIGKILL')) return true;
  // SIGKILL cannot be caught, but a process in uninterruptible I/O (a hung
  // NFS or Ceph disk) only dies when that I/O returns.
  if (await waitForExit(pid, 10_000)) return true;
  throw new UcloudError('COMMAND_TIMEOUT', `QEMU ${pid} of VM ${vmId} did not exit after SIGKILL`, {
    hint: 'the process is probably stuck in disk I/O; check the storage backend',
    details: { pid, vmId },
  });
}

function signal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

function readArgv(pid: number): string[] | undefined {
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

async function readStat(pid: number): Promise<{ gone: boolean; startTime: string } | undefined> {
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

async function killIfArgvMatches(pidFile: string, argv: readonly string[]): Promise<void> {
  const pid = await readPidFile(pidFile).catch(() => undefined);
  if (pid === undefined) return;
  const actual = readArgv(pid);
  if (!actual || actual.length !== argv.length || actual.some((a, i) => a !== argv[i])) return;
  signal(pid, 'SIGKILL');
  await waitForExit(pid, 5000);
}

function startFailed(binary: string, args: readonly string[], err: unknown, timeoutMs: number): UcloudError {
  const details: Record<string, unknown> = { binary, args: [...args] };
  if (err instanceof UcloudError && err.details) Object.assign(details, { stderr: err.details.stderr ?? '' });
  if (err instanceof UcloudError && err.code === 'COMMAND_TIMEOUT') {
    return new UcloudError('QEMU_START_FAILED', `QEMU did not finish starting within ${timeoutMs} ms`, { details, cause: err });
  }
  const stderr = typeof details.stderr === 'string' ? details.stderr : '';
  const reason = qemuErrorLine(binary, stderr) ?? (err instanceof Error ? err.message : String(err));
  return new UcloudError('QEMU_START_FAILED', `QEMU failed to start: ${reason}`, { details, cause: err });
}

/**
 * QEMU prefixes its errors with its program name and may follow them with
 * advice ("Use -machine help to list supported machines"), so the last line
 * is not the reason: take the last prefixed one.
 */
function qemuErrorLine(binary: string, stderr: string): string | undefined {
  const prefix = `${basename(binary)}: `;
  const lines = stderr.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  const tagged = lines.filter((l) => l.startsWith(prefix));
  const line = tagged[tagged.length - 1] ?? lines[lines.length - 1];
  return line?.startsWith(prefix) ? line.slice(prefix.length) : line;
}
