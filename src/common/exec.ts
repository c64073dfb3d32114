import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { UcloudError } from './errors.js';

export interface RunOptions {
  timeoutMs?: number;
  /** Fed to the program's stdin; a stream is piped (a failing stream kills the program). */
  input?: string | Buffer | Readable;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Exit codes that count as success (default: only 0). */
  okCodes?: number[];
}

export interface RunResult {
  stdout: string;
  stderr: string;
  code: number;
}

/**
 * Runs a program without a shell (arguments are never re-parsed) and fails with
 * COMMAND_FAILED / COMMAND_TIMEOUT carrying the command's stderr in details, so
 * callers never have to parse text to learn what happened.
 */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(
        new UcloudError('COMMAND_FAILED', `cannot run ${cmd}: ${e.code === 'ENOENT' ? 'not installed' : e.message}`, {
          details: { command: cmd },
          cause: e,
        }),
      );
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      const details = { command: [cmd, ...args].join(' '), stderr: stderr.trim().slice(-2000) };
      if (timedOut) {
        reject(new UcloudError('COMMAND_TIMEOUT', `${cmd} did not finish within ${timeoutMs} ms`, { details }));
        return;
      }
      const exit = code ?? (signal ? 128 : 1);
      if (!(opts.okCodes ?? [0]).includes(exit)) {
        const last = stderr.trim().split('\n').pop() ?? '';
        reject(new UcloudError('COMMAND_FAILED', `${cmd} failed (exit ${exit}${signal ? `, ${signal}` : ''}): ${last}`, { details }));
        return;
      }
      resolve({ stdout, stderr, code: exit });
    });
    // The program may exit without reading all of its input: that is its answer, not an error here.
    child.stdin.on('error', () => undefined);
    const input = opts.input;
    if (input === undefined) child.stdin.end();
    else if (typeof input === 'string' || Buffer.isBuffer(input)) child.stdin.end(input);
    else {
      input.on('error', (e) => {
        err.push(Buffer.from(`\ninput failed: ${e.message}\n`));
        child.kill('SIGKILL');
      });
      input.pipe(child.stdin);
    }
  });
}

/** True when `cmd` can be found on PATH (or is an existing absolute path). */
export async function commandExists(cmd: string): Promise<boolean> {
  try {
    await run('sh', ['-c', `command -v "$1" >/dev/null`, 'sh', cmd], { timeoutMs: 5000 });
    return true;
  } catch {
    return false;
  }
}
