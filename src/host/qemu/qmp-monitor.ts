// A live QMP session with one QEMU: connecting (QEMU may not have created its
// socket yet), capabilities negotiation, deadlines on every command, and events.

import { EventEmitter } from 'node:events';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { UcloudError } from '../../common/errors.js';
import { QmpProtocol, type QmpEvent, type QmpGreeting } from '../../common/qmp-protocol.js';

export interface QmpConnectOptions {
  /** Deadline for the whole connect: socket appearing, greeting and capabilities. Default 10 s. */
  timeoutMs?: number;
  /** Deadline for each execute() that does not give its own. Default 30 s. */
  commandTimeoutMs?: number;
}

export interface QmpExecuteOptions {
  timeoutMs?: number;
}

/** What the typed command wrappers need; lets them run against a fake in tests. */
export interface QmpExecutor {
  execute<T = unknown>(command: string, args?: Record<string, unknown>, opts?: QmpExecuteOptions): Promise<T>;
}

export interface QmpMonitorEvents {
  event: [QmpEvent];
  /** Lines QEMU sent that could not be understood; the session goes on. */
  protocolError: [Error];
  close: [];
}

// Short enough that a freshly started QEMU is picked up almost at once, long
// enough not to spin while a slow host brings it up.
const CONNECT_RETRY_MS = 20;

export class QmpMonitor extends EventEmitter<QmpMonitorEvents> implements QmpExecutor {
  readonly socketPath: string;
  readonly greeting: QmpGreeting;
  private readonly protocol: QmpProtocol;
  private readonly commandTimeoutMs: number;

  private constructor(socketPath: string, protocol: QmpProtocol, greeting: QmpGreeting, commandTimeoutMs: number) {
    super();
    this.socketPath = socketPath;
    this.protocol = protocol;
    this.greeting = greeting;
    this.commandTimeoutMs = commandTimeoutMs;
    protocol.on('event', (e) => this.emit('event', e));
    protocol.on('protocolError', (e) => this.emit('protocolError', e));
    protocol.on('close', () => this.emit('close'));
  }

  /**
   * Connects to QEMU's QMP socket and leaves capabilities negotiation behind
   * it. Retries while the socket does not exist or refuses (QEMU still
   * starting) until the deadline, then fails with QMP_TIMEOUT.
   */
  static async connect(socketPath: string, opts: QmpConnectOptions = {}): Promise<QmpMonitor> {
    const timeoutMs = opts.timeoutMs ?? 10_000;
    const deadline = Date.now() + timeoutMs;
    const socket = await connectWithRetry(socketPath, deadline, timeoutMs);
    const protocol = new QmpProtocol(socket);
    try {
      // QEMU serves one QMP client at a time and greets a second one only when
      // the first leaves, so a missing greeting usually means someone else holds it.
      const greeting = await withDeadline(protocol.greeting, deadline, () =>
        new UcloudError('QMP_TIMEOUT', `QEMU accepted the connection on ${socketPath} but sent no greeting within ${timeoutMs} ms`, {
          hint: 'QEMU serves one monitor client at a time: is another agent or tool connected to this socket?',
          details: { socketPath },
        }),
      );
      const monitor = new QmpMonitor(socketPath, protocol, greeting, opts.commandTimeoutMs ?? 30_000);
      await monitor.execute('qmp_capabilities', undefined, { timeoutMs: Math.max(1, deadline - Date.now()) });
      return monitor;
    } catch (err) {
      protocol.close();
      throw err;
    }
  }

  get closed(): boolean {
    return this.protocol.closed;
  }

  /**
   * Runs one QMP command. Rejects with QMP_ERROR (QEMU's `class`/`desc` in
   * details), QMP_TIMEOUT, or QMP_DISCONNECTED. After a timeout the session
   * stays usable; QEMU runs commands in order, so later ones wait behind it.
   */
  async execute<T = unknown>(command: string, args?: Record<string, unknown>, opts: QmpExecuteOptions = {}): Promise<T> {
    const timeoutMs = opts.timeoutMs ?? this.commandTimeoutMs;
    const ac = new AbortController();
    const timer = setTimeout(() => {
      ac.abort(
        new UcloudError('QMP_TIMEOUT', `QEMU did not answer ${command} within ${timeoutMs} ms`, {
          details: { command, socketPath: this.socketPath, timeoutMs },
        }),
      );
    }, timeoutMs);
    try {
      return (await this.protocol.request(command, args, { signal: ac.signal })) as T;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Resolves with the next event called `name` (that `predicate` accepts).
   * Call it before triggering the action: QEMU may send the event before the
   * command's reply (STOP arrives ahead of stop's return).
   */
  waitForEvent(name: string, timeoutMs: number, predicate?: (e: QmpEvent) => boolean): Promise<QmpEvent> {
    if (this.closed) {
      return Promise.reject(new UcloudError('QMP_DISCONNECTED', `monitor closed before ${name} arrived`, { details: { event: name } }));
    }
    return new Promise<QmpEvent>((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        this.off('event', onEvent);
        this.off('close', onClose);
      };
      const onEvent = (e: QmpEvent): void => {
        if (e.event !== name || (predicate && !predicate(e))) return;
        done();
        resolve(e);
      };
      const onClose = (): void => {
        done();
        reject(new UcloudError('QMP_DISCONNECTED', `QEMU closed the monitor before ${name} arrived`, { details: { event: name } }));
      };
      const timer = setTimeout(() => {
        done();
        reject(new UcloudError('QMP_TIMEOUT', `no ${name} event from QEMU within ${timeoutMs} ms`, { details: { event: name, timeoutMs } }));
      }, timeoutMs);
      this.on('event', onEvent);
      this.on('close', onClose);
    });
  }

  /** Disconnects (QEMU keeps running); pending commands fail with QMP_DISCONNECTED. */
  async close(): Promise<void> {
    if (this.closed) return;
    const closed = new Promise<void>((resolve) => this.once('close', resolve));
    this.protocol.close();
    await closed;
  }
}

async function connectWithRetry(socketPath: string, deadline: number, timeoutMs: number): Promise<net.Socket> {
  let lastCode = '';
  for (;;) {
    try {
      return await connectOnce(socketPath);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? '';
      // ENOENT: QEMU has not bound the socket yet. ECONNREFUSED: bound but not
      // yet listening, or a stale socket of a dead QEMU; either way only time tells.
      if (code !== 'ENOENT' && code !== 'ECONNREFUSED') {
        throw new UcloudError('QMP_DISCONNECTED', `cannot connect to QEMU monitor ${socketPath}: ${(err as Error).message}`, {
          details: { socketPath, errno: code },
          cause: err,
        });
      }
      lastCode = code;
    }
    const left = deadline - Date.now();
    if (left <= 0) {
      throw new UcloudError(
        'QMP_TIMEOUT',
        `QEMU monitor ${socketPath} not reachable within ${timeoutMs} ms (${lastCode === 'ENOENT' ? 'no socket' : 'connection refused'})`,
        { hint: 'is the VM process running? see the host log and the VM serial log', details: { socketPath, errno: lastCode } },
      );
    }
    await sleep(Math.min(CONNECT_RETRY_MS, left));
  }
}

function connectOnce(socketPath: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection({ path: socketPath });
    const onError = (err: Error): void => {
      socket.destroy();
      reject(err);
    };
    socket.once('error', onError);
    socket.once('connect', () => {
      socket.off('error', onError);
      resolve(socket);
    });
  });
}

function withDeadline<T>(p: Promise<T>, deadline: number, onTimeout: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(onTimeout()), Math.max(0, deadline - Date.now()));
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}
