import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { Duplex } from 'node:stream';
import { UcloudError } from '../common/errors.js';
import { QmpProtocol } from '../common/qmp-protocol.js';

// A qemu-storage-daemon of ours, driven over QMP on its stdin/stdout: one
// process that creates a volume, opens it, serves it over NBD and snapshots it,
// so a whole import costs one process start instead of a CLI call (and a new
// cluster connection) per step. It is the root side of an import and never
// reads the user's file: the sandboxed qemu-img (qemu-img.ts) writes into its
// NBD export. It dies with us (parent-death signal), so a crashed ucloud
// leaves no server holding a half-written volume open.
//
// QMP's wire layer (common/qmp-protocol.ts) runs over the daemon's stdin/stdout:
// a private pipe, not a socket that may go away, so none of host/qemu's
// reconnecting monitor is needed.

const DEFAULT_TIMEOUT_MS = 60_000;

export class StorageDaemon {
  /** Settles when the process has exited: resolves on exit 0 (after `quit`), rejects otherwise. */
  readonly done: Promise<void>;
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly qmp: QmpProtocol;
  private readonly jobWaiters = new Map<string, () => void>();
  private nextJob = 1;
  private stderr = '';
  private exited: UcloudError | undefined;

  private constructor() {
    // setpriv --pdeathsig: killed with us, whatever kills us.
    this.child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', 'qemu-storage-daemon', '--chardev', 'stdio,id=qmp', '--monitor', 'chardev=qmp'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child.stderr.setEncoding('utf8');
    this.child.stderr.on('data', (chunk: string) => (this.stderr = (this.stderr + chunk).slice(-4000)));
    this.child.stdin.on('error', () => undefined); // a dead daemon is reported through `done`
    this.qmp = new QmpProtocol(Duplex.from({ readable: this.child.stdout, writable: this.child.stdin }));
    this.qmp.on('protocolError', () => undefined); // a line we cannot use: nothing waits for it
    this.qmp.on('event', (e) => {
      const data = e.data as { id?: string; status?: string } | undefined;
      if (e.event === 'JOB_STATUS_CHANGE' && data?.status === 'concluded') this.jobWaiters.get(String(data.id))?.();
    });
    this.done = new Promise<void>((resolve, reject) => {
      this.child.on('error', (e) => {
        this.exited ??= new UcloudError('STORAGE_FAILED', `cannot run qemu-storage-daemon: ${e.message}`, { hint: 'apt-get install qemu-system-common', cause: e });
        this.qmp.close();
        reject(this.exited);
      });
      this.child.on('close', (code, signal) => {
        const last = this.stderr.trim().split('\n').pop() ?? '';
        this.exited ??= new UcloudError('STORAGE_FAILED', `qemu-storage-daemon exited (${code ?? signal})${last ? `: ${last}` : ''}`, { details: { stderr: this.stderr.slice(-2000) } });
        this.qmp.close();
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
      await Promise.race([d.qmp.greeting, d.done.then(() => Promise.reject(d.exited))]).catch((err: unknown) => Promise.reject(d.exited ?? err));
      await d.request('qmp_capabilities');
      return d;
    } catch (err) {
      d.kill();
      throw err;
    }
  }

  /** One QMP command; QEMU's refusal becomes STORAGE_FAILED with its words in details.desc. */
  async request(command: string, args?: Record<string, unknown>, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<unknown> {
    if (this.exited) throw this.exited;
    try {
      return await this.qmp.request(command, args, { signal: AbortSignal.timeout(timeoutMs) });
    } catch (err) {
      if (this.exited) throw this.exited;
      // The pipe closes a moment before the process is reaped: report how the daemon ended.
      if (err instanceof UcloudError && err.code === 'QMP_DISCONNECTED') throw await this.done.then(() => err, () => this.exited ?? err);
      if (err instanceof UcloudError && err.code === 'QMP_ERROR') {
        const desc = String((err.details as { desc?: unknown } | undefined)?.desc ?? err.message);
        throw new UcloudError('STORAGE_FAILED', `qemu-storage-daemon refused ${command}: ${desc}`, { details: { command, desc } });
      }
      if ((err as Error | undefined)?.name === 'TimeoutError') {
        throw new UcloudError('STORAGE_FAILED', `qemu-storage-daemon did not answer ${command} within ${timeoutMs / 1000} s`, { details: { command, timedOut: true } });
      }
      throw err;
    }
  }

  /** Runs a job-creating command (e.g. blockdev-create) to its end; its error, if any, is thrown. */
  async job(command: string, args: Record<string, unknown>, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<void> {
    const id = `job${this.nextJob++}`;
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
}
