import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { UcloudError } from '../common/errors.js';

// A qemu-storage-daemon of ours, driven over QMP on its stdin/stdout: one
// process that creates a volume, opens it, serves it over NBD and snapshots it,
// so a whole import costs one process start instead of a CLI call (and a new
// cluster connection) per step. It is the root side of an import and never
// reads the user's file: the sandboxed qemu-img (qemu-img.ts) writes into its
// NBD export. It dies with us (parent-death signal), so a crashed ucloud
// leaves no server holding a half-written volume open.
//
// The QMP here is the few lines it needs: host/qemu's monitor sits above the
// storage layer, and this talks to a private pipe, not a socket that may go away.

const DEFAULT_TIMEOUT_MS = 60_000;

interface Pending {
  command: string;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
  timer: NodeJS.Timeout;
}

export class StorageDaemon {
  /** Settles when the process has exited: resolves on exit 0 (after `quit`), rejects otherwise. */
  readonly done: Promise<void>;
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly pending = new Map<string, Pending>();
  private readonly jobWaiters = new Map<string, () => void>();
  private nextId = 1;
  private buffer = '';
  private stderr = '';
  private exited: UcloudError | undefined;
  private greeted!: () => void;
  private readonly greeting: Promise<void>;

  private constructor() {
    this.greeting = new Promise((resolve) => (this.greeted = resolve));
    // setpriv --pdeathsig: killed with us, whatever kills us.
    this.child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', 'qemu-storage-daemon', '--chardev', 'stdio,id=qmp', '--monitor', 'chardev=qmp'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child.stdout.setEncoding('utf8');
    this.child.stdout.on('data', (chunk: string) => this.onData(chunk));
    this.child.stderr.setEncoding('utf8');
    this.child.stderr.on('data', (chunk: string) => (this.stderr = (this.stderr + chunk).slice(-4000)));
    this.child.stdin.on('error', () => undefined); // a dead daemon is reported through `done`
    this.done = new Promise<void>((resolve, reject) => {
      this.child.on('error', (e) => {
        this.fail(new UcloudError('STORAGE_FAILED', `cannot run qemu-storage-daemon: ${e.message}`, { hint: 'apt-get install qemu-system-common', cause: e }));
        reject(this.exited);
      });
      this.child.on('close', (code, signal) => {
        const last = this.stderr.trim().split('\n').pop() ?? '';
        this.fail(new UcloudError('STORAGE_FAILED', `qemu-storage-daemon exited (${code ?? signal})${last ? `: ${last}` : ''}`, { details: { stderr: this.stderr.slice(-2000) } }));
        if (code === 0) resolve();
        else reject(this.exited);
      });
    });
    this.done.catch(() => undefined);
  }

  /** A started daemon, QMP negotiated. */
  static async start(): Promise<StorageDaemon> {
    const d = new StorageDaemon();
    try {
      await Promise.race([d.greeting, d.done.then(() => Promise.reject(d.exited))]);
      await d.request('qmp_capabilities');
      return d;
    } catch (err) {
      d.kill();
      throw err;
    }
  }

  /** One QMP command; QEMU's refusal becomes STORAGE_FAILED with its words in details.desc. */
  request(command: string, args?: Record<string, unknown>, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<unknown> {
    if (this.exited) return Promise.reject(this.exited);
    const id = String(this.nextId++);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new UcloudError('STORAGE_FAILED', `qemu-storage-daemon did not answer ${command} within ${timeoutMs / 1000} s`, { details: { command, timedOut: true } }));
      }, timeoutMs);
      this.pending.set(id, { command, resolve, reject, timer });
      this.child.stdin.write(`${JSON.stringify({ execute: command, id, ...(args ? { arguments: args } : {}) })}\n`);
    });
  }

  /** Runs a job-creating command (e.g. blockdev-create) to its end; its error, if any, is thrown. */
  async job(command: string, args: Record<string, unknown>, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<void> {
    const id = `job${this.nextId}`;
    const concluded = new Promise<void>((resolve) => this.jobWaiters.set(id, resolve));
    const deadline = Date.now() + timeoutMs;
    try {
      await this.request(command, { 'job-id': id, ...args }, timeoutMs);
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new UcloudError('STORAGE_FAILED', `${command} did not finish within ${timeoutMs / 1000} s`, { details: { command, timedOut: true } })),
          Math.max(0, deadline - Date.now()),
        );
      });
      await Promise.race([concluded, late, this.done.then(() => Promise.reject(this.exited))]).finally(() => clearTimeout(timer));
      const jobs = (await this.request('query-jobs')) as { id: string; error?: string }[];
      const error = jobs.find((j) => j.id === id)?.error;
      await this.request('job-dismiss', { id });
      if (error) throw new UcloudError('STORAGE_FAILED', `${command} failed: ${error}`, { details: { command, desc: error } });
    } finally {
      this.jobWaiters.delete(id);
    }
  }

  /** Flushes and exits (`quit` closes every node first). */
  async quit(): Promise<void> {
    await this.request('quit').catch(() => undefined); // it may exit before answering
    await this.done;
  }

  kill(): void {
    this.child.kill('SIGKILL');
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    let nl: number;
    while ((nl = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, nl).trim();
      this.buffer = this.buffer.slice(nl + 1);
      if (line) this.onMessage(line);
    }
  }

  private onMessage(line: string): void {
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return; // not QMP: nothing waits for it
    }
    if ('QMP' in msg) return this.greeted();
    if (msg.event === 'JOB_STATUS_CHANGE') {
      const data = msg.data as { id?: string; status?: string } | undefined;
      if (data?.status === 'concluded') this.jobWaiters.get(String(data.id))?.();
      return;
    }
    const entry = this.pending.get(String(msg.id));
    if (!entry) return;
    this.pending.delete(String(msg.id));
    clearTimeout(entry.timer);
    if ('error' in msg) {
      const desc = String((msg.error as { desc?: unknown } | undefined)?.desc ?? 'unknown error');
      entry.reject(new UcloudError('STORAGE_FAILED', `qemu-storage-daemon refused ${entry.command}: ${desc}`, { details: { command: entry.command, desc } }));
    } else entry.resolve(msg.return);
  }

  private fail(err: UcloudError): void {
    this.exited ??= err;
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      clearTimeout(p.timer);
      p.reject(this.exited);
    }
  }
}
