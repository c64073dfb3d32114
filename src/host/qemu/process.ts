// Supervision of detached QEMU processes. QEMU is started in a session of its
// own so it outlives the agent that started it; a later agent cannot wait() on
// it, so everything after the launch goes through the pid file and /proc.
//
// QEMU does not daemonize itself (-daemonize): its fork comes after the seccomp
// filter is installed, and that filter denies fork (`-sandbox spawn=deny`).

import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { UcloudError } from '../../common/errors.js';
import { readArgv, signal, waitForExit } from '../../common/proc.js';
import { argvHasVmMarker } from './cmdline.js';
import { QmpMonitor } from './qmp-monitor.js';

export const DEFAULT_QEMU_BINARY = 'qemu-system-x86_64';

export interface LaunchResult {
  pid: number;
  /** What QEMU printed on stderr while starting (warnings); empty when nothing. */
  warnings: string;
}

// What is kept of QEMU's stderr while it starts: its errors are one line.
const MAX_STDERR_BYTES = 64 * 1024;
// How long a QEMU whose monitor failed is given to exit (and so say why) before it is killed.
const EXIT_GRACE_MS = 2000;
// How long a QEMU killed because its start failed is waited for.
const KILL_WAIT_MS = 10_000;

/**
 * Starts a QEMU whose args include `-pidfile` and a `-qmp unix:` socket, in a
 * session of its own, and resolves once it is set up: QEMU answers QMP only
 * from its main loop, which it enters after opening every device and dropping
 * to its `-runas` uid — the point at which `-daemonize` would have returned.
 * An exit before that is a failed start, reported with QEMU's own error line.
 *
 * A stale pid file is left alone on purpose: QEMU locks it, so a second QEMU
 * for a VM whose first one still runs fails here instead of sharing its disks.
 */
export async function launchQemu(binary: string, args: readonly string[], opts: { timeoutMs?: number } = {}): Promise<LaunchResult> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const pidIdx = args.indexOf('-pidfile');
  const pidFile = pidIdx >= 0 ? args[pidIdx + 1] : undefined;
  const qmpSocket = qmpSocketOf(args);
  if (!pidFile || !qmpSocket || args.includes('-daemonize')) {
    throw new UcloudError('QEMU_START_FAILED', 'QEMU arguments must include -pidfile <path> and -qmp unix:<path>,server=on,wait=off, and not -daemonize', {
      details: { binary, args: [...args] },
    });
  }

  // stdout is QEMU's monitor-less console output (none with -display none);
  // stderr is read until QEMU is up, then let go: QEMU ignores SIGPIPE.
  const child = spawn(binary, args, { detached: true, cwd: '/', stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    if (stderr.length < MAX_STDERR_BYTES) stderr += chunk;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
    child.once('error', (error) => resolve({ code: null, signal: null, error }));
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  const ready = QmpMonitor.connect(qmpSocket, { timeoutMs }).then(async (mon) => {
    await mon.close();
    return 'ready' as const;
  });
  ready.catch(() => undefined);

  let outcome = await Promise.race([ready.catch((err: unknown) => ({ monitor: err })), exited]);
  if (outcome !== 'ready' && 'monitor' in outcome) {
    // A monitor that failed before the deadline is mostly a QEMU on its way out
    // (an error, or killed): its exit, which says why, follows at once.
    const failed = outcome.monitor;
    const exit = isTimeout(failed) ? undefined : await Promise.race([exited, sleep(EXIT_GRACE_MS, undefined, { ref: false })]);
    if (!exit) {
      child.kill('SIGKILL');
      // A QEMU stuck in disk I/O dies only when that returns: the start has failed either way.
      await Promise.race([exited, sleep(KILL_WAIT_MS, undefined, { ref: false })]);
      throw startFailed(binary, args, failed, stderr, timeoutMs);
    }
    outcome = exit;
  }
  if (outcome !== 'ready') {
    // Let the last of stderr arrive: it holds the reason.
    await new Promise((r) => (child.stderr.readableEnded ? r(undefined) : child.stderr.once('close', r)));
    const cause = outcome.error ?? new Error(`QEMU exited with ${outcome.signal ?? `code ${String(outcome.code)}`}`);
    // Killed, its last line is no reason (a warning at most): the signal is.
    throw startFailed(binary, args, cause, stderr, timeoutMs, outcome.signal !== null);
  }
  child.stderr.destroy();
  child.unref();
  const pid = child.pid!;
  const fromFile = await readPidFile(pidFile);
  if (fromFile !== pid) {
    child.kill('SIGKILL');
    throw new UcloudError('QEMU_START_FAILED', `QEMU ${pid} is up but its pid file ${pidFile} says ${String(fromFile)}`, {
      details: { binary, args: [...args], pidFile, stderr: stderr.trim() },
    });
  }
  return { pid, warnings: stderr.trim() };
}

/** The path of the `-qmp unix:<path>,…` socket (doubled commas undone). */
function qmpSocketOf(args: readonly string[]): string | undefined {
  const i = args.indexOf('-qmp');
  const value = i >= 0 ? args[i + 1] : undefined;
  if (!value?.startsWith('unix:')) return undefined;
  const m = /^unix:((?:[^,]|,,)*)/.exec(value);
  return m?.[1]?.replaceAll(',,', ',') || undefined;
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

/** The monitor's own deadline (no socket, or no greeting, in time), not a failure of QEMU. */
const isTimeout = (err: unknown): boolean => err instanceof UcloudError && err.code === 'QMP_TIMEOUT';

function startFailed(binary: string, args: readonly string[], err: unknown, stderr: string, timeoutMs: number, killed = false): UcloudError {
  const details: Record<string, unknown> = { binary, args: [...args], stderr: stderr.trim().slice(-2000) };
  if (isTimeout(err)) {
    return new UcloudError('QEMU_START_FAILED', `QEMU did not finish starting within ${timeoutMs} ms`, { details, cause: err });
  }
  if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
    return new UcloudError('QEMU_START_FAILED', `cannot run ${binary}: not installed`, { details, cause: err });
  }
  const reason = (killed ? undefined : qemuErrorLine(binary, stderr)) ?? (err instanceof Error ? err.message : String(err));
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
