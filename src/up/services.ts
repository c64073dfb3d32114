// The two kinds of service `ucloud up` supervises: a ucloud daemon (a child
// Node process) and its local etcd.

import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SUPERVISED_ENV } from '../store/daemon.js';
import { daemonNodeFlags } from '../common/cache-heap.js';
import { tailLines } from '../common/file-tail.js';
import { packageRoot } from '../common/paths.js';
import { terminate } from '../common/proc.js';
import { startLocalEtcd } from '../store/local-etcd.js';
import type { ExitStatus, Run, Service } from './supervisor.js';

const KEPT_LINES = 20;
const DAEMON_STOP_GRACE_MS = 10_000;
const LAST_WORDS_MS = 500;

/**
 * `ucloud <name>` as a child whose stdin is a pipe it watches (store/daemon.ts):
 * it ends when `up` ends, even by SIGKILL.
 */
export function daemonService(name: string, args: readonly string[], env: NodeJS.ProcessEnv): Service {
  return processService(name, process.execPath, daemonArgv(name, args), { ...env, [SUPERVISED_ENV]: '1' });
}

/** Node's arguments for `ucloud <name> <args>` as `up` runs it: its node flags (`nodeFlags` after them), the CLI, the daemon. */
export function daemonArgv(name: string, args: readonly string[] = [], nodeFlags: readonly string[] = []): string[] {
  return [...daemonNodeFlags(name), ...nodeFlags, join(packageRoot(), 'bin', 'ucloud'), name, ...args];
}

/**
 * A child process with a stdin pipe that is never written (so it can tell when
 * we are gone); its stderr passes through to ours, and its last lines are kept
 * for a crash report.
 */
export function processService(name: string, command: string, args: readonly string[], env: NodeJS.ProcessEnv): Service {
  let kept: string[] = [];
  return {
    name,
    lastLines: async () => kept,
    async start(): Promise<Run> {
      kept = [];
      const child = spawn(command, args, { env, stdio: ['pipe', 'inherit', 'pipe'] });
      // Ended once its last words are read too (a crash report without them says
      // little), but not waiting on a grandchild that may hold its stderr open.
      const stderrDone = new Promise((r) => child.stderr!.once('close', r));
      const exited = new Promise<ExitStatus>((r) => child.once('exit', (code, signal) => r({ code, signal }))).then(async (e) => {
        await Promise.race([stderrDone, sleep(LAST_WORDS_MS)]);
        return e;
      });
      await new Promise<void>((resolve, reject) => {
        child.once('spawn', resolve);
        child.once('error', reject);
      });
      child.stdin!.on('error', () => undefined);
      let partial = '';
      child.stderr!.on('data', (chunk: Buffer) => {
        process.stderr.write(chunk);
        const lines = (partial + chunk.toString('utf8')).split('\n');
        partial = lines.pop() ?? '';
        kept = [...kept, ...lines.filter((l) => l.trim() !== '')].slice(-KEPT_LINES);
      });
      const stop = async () => {
        if (child.exitCode === null && child.signalCode === null) await terminate(child.pid!, DAEMON_STOP_GRACE_MS);
        await Promise.race([exited, sleep(LAST_WORDS_MS)]);
      };
      return { pid: child.pid!, exited, stop };
    },
  };
}

/** The local etcd, started (and restarted) the careful way startLocalEtcd does it; the crash report is its log's tail. */
export function localEtcdService(opts: Parameters<typeof startLocalEtcd>[0] & { logFile: string }): Service {
  return {
    name: 'etcd',
    stopLast: true,
    lastLines: () => tailLines(opts.logFile, KEPT_LINES),
    async start(): Promise<Run> {
      const etcd = await startLocalEtcd(opts);
      const p = etcd.process;
      const exited = new Promise<ExitStatus>((r) => {
        if (p.exitCode !== null || p.signalCode !== null) r({ code: p.exitCode, signal: p.signalCode });
        else p.once('exit', (code, signal) => r({ code, signal }));
      });
      return { pid: p.pid!, exited, stop: () => etcd.stop() };
    },
  };
}
