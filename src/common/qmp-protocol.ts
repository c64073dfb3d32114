// The QMP wire layer: newline-delimited JSON over a byte stream. It knows the
// three kinds of message QEMU sends (greeting, reply, event) and correlates
// replies with requests through ids it assigns; it knows nothing about what
// any command means. Connection policy (timeouts, capabilities negotiation,
// reconnects) belongs to the monitor above it.

import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { UcloudError } from './errors.js';

export interface QmpVersion {
  qemu: { major: number; minor: number; micro: number };
  package: string;
}

export interface QmpGreeting {
  version: QmpVersion;
  capabilities: string[];
}

export interface QmpEvent {
  event: string;
  data: Record<string, unknown>;
  /** When QEMU emitted the event, in ms since the epoch (QEMU's clock, not ours). */
  timestampMs: number;
}

/** The error object of a failed command, exactly as QEMU sends it. */
export interface QmpErrorBody {
  class: string;
  desc: string;
}

export interface QmpRequestOptions {
  /** Abandons the request: the promise rejects with the signal's reason and a late reply is dropped. */
  signal?: AbortSignal;
}

export interface QmpProtocolEvents {
  event: [QmpEvent];
  /**
   * Something QEMU sent that we cannot use (bad JSON, unknown shape, a reply
   * nobody waits for). Deliberately not Node's 'error' event, which throws
   * when nobody listens: one bad line must not take the agent down.
   */
  protocolError: [Error];
  /** The stream ended or failed; every pending request has been rejected. */
  close: [];
}

// QEMU answers large queries (query-qmp-schema) with a few hundred KiB on one
// line; anything near this bound means the stream is not QMP at all.
const MAX_LINE_BYTES = 64 * 1024 * 1024;

interface Pending {
  command: string;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
  cleanup: () => void;
}

export class QmpProtocol extends EventEmitter<QmpProtocolEvents> {
  /** Resolves with QEMU's greeting; rejects with QMP_DISCONNECTED if the stream ends first. */
  readonly greeting: Promise<QmpGreeting>;

  private readonly stream: Duplex;
  private readonly decoder = new StringDecoder('utf8');
  private buffer = '';
  private nextId = 1;
  private readonly pending = new Map<string, Pending>();
  // Ids of requests abandoned by their caller: their late replies are expected
  // and dropped quietly, unlike replies to ids we never sent.
  private readonly abandoned = new Set<string>();
  private gotGreeting = false;
  private resolveGreeting!: (g: QmpGreeting) => void;
  private rejectGreeting!: (err: unknown) => void;
  private closedWith: UcloudError | undefined;

  constructor(stream: Duplex) {
    super();
    this.stream = stream;
    this.greeting = new Promise<QmpGreeting>((resolve, reject) => {
      this.resolveGreeting = resolve;
      this.rejectGreeting = reject;
    });
    // Callers that never look at the greeting must not see an unhandled rejection.
    this.greeting.catch(() => undefined);

    stream.on('data', (chunk: Buffer | string) => this.onData(chunk));
    stream.on('end', () => this.shutdown('QEMU closed the monitor connection'));
    stream.on('close', () => this.shutdown('QEMU closed the monitor connection'));
    stream.on('error', (err: Error) => this.shutdown(`monitor connection failed: ${err.message}`, err));
  }

  get closed(): boolean {
    return this.closedWith !== undefined;
  }

  /** How many requests still wait for a reply. */
  get pendingCount(): number {
    return this.pending.size;
  }

  /**
   * Sends one command and resolves with its `return` value. Rejects with
   * QMP_ERROR (QEMU's class and desc in details) when QEMU refuses it, and
   * with QMP_DISCONNECTED when the stream closes before the reply.
   */
  request(command: string, args?: Record<string, unknown>, opts: QmpRequestOptions = {}): Promise<unknown> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    const { signal } = opts;
    if (signal?.aborted) return Promise.reject(signal.reason);

    const id = String(this.nextId++);
    return new Promise<unknown>((resolve, reject) => {
      const onAbort = (): void => {
        if (!this.pending.delete(id)) return;
        this.abandoned.add(id);
        reject(signal?.reason);
      };
      const cleanup = (): void => signal?.removeEventListener('abort', onAbort);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(id, { command, resolve, reject, cleanup });

      const message: Record<string, unknown> = { execute: command, id };
      if (args !== undefined) message.arguments = args;
      this.stream.write(`${JSON.stringify(message)}\n`);
    });
  }

  /** Ends the stream; pending requests reject with QMP_DISCONNECTED. */
  close(): void {
    this.shutdown('monitor connection closed');
    this.stream.destroy();
  }

  private onData(chunk: Buffer | string): void {
    this.buffer += typeof chunk === 'string' ? chunk : this.decoder.write(chunk);
    let nl: number;
    while ((nl = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, nl);
      this.buffer = this.buffer.slice(nl + 1);
      this.onLine(line);
    }
    if (this.buffer.length > MAX_LINE_BYTES) {
      this.buffer = '';
      this.emit('protocolError', new Error(`QMP line longer than ${MAX_LINE_BYTES} bytes; dropped`));
    }
  }

  private onLine(raw: string): void {
    const line = raw.trim(); // QEMU ends lines with \r\n
    if (line === '') return;
    let msg: unknown;
    try {
      msg = JSON.parse(line);
    } catch {
      this.emit('protocolError', new Error(`QMP sent a line that is not JSON: ${line.slice(0, 200)}`));
      return;
    }
    if (!isObject(msg)) {
      this.emit('protocolError', new Error(`QMP sent JSON that is not an object: ${line.slice(0, 200)}`));
      return;
    }
    if ('return' in msg || 'error' in msg) this.onReply(msg, line);
    else if (typeof msg.event === 'string') this.onEvent(msg);
    else if ('QMP' in msg) this.onGreeting(msg, line);
    else this.emit('protocolError', new Error(`QMP sent a message of unknown shape: ${line.slice(0, 200)}`));
  }

  private onGreeting(msg: Record<string, unknown>, line: string): void {
    const body = msg.QMP;
    if (this.gotGreeting || !isObject(body) || !isObject(body.version)) {
      this.emit('protocolError', new Error(`unexpected QMP greeting: ${line.slice(0, 200)}`));
      return;
    }
    this.gotGreeting = true;
    this.resolveGreeting({
      version: body.version as unknown as QmpVersion,
      capabilities: Array.isArray(body.capabilities) ? body.capabilities.map(String) : [],
    });
  }

  private onReply(msg: Record<string, unknown>, line: string): void {
    // QEMU echoes our id verbatim; we only ever send strings, but be lenient.
    const id = msg.id === undefined ? undefined : String(msg.id);
    const entry = id === undefined ? undefined : this.pending.get(id);
    if (id === undefined || !entry) {
      if (id !== undefined && this.abandoned.delete(id)) return;
      // An id-less error is QEMU saying it could not parse what we sent.
      this.emit('protocolError', new Error(`QMP reply matches no request: ${line.slice(0, 200)}`));
      return;
    }
    this.pending.delete(id);
    entry.cleanup();
    if ('error' in msg) {
      const err = isObject(msg.error) ? msg.error : {};
      const body: QmpErrorBody = { class: String(err.class ?? 'GenericError'), desc: String(err.desc ?? 'unknown error') };
      entry.reject(
        new UcloudError('QMP_ERROR', `QEMU refused ${entry.command}: ${body.desc}`, {
          details: { command: entry.command, class: body.class, desc: body.desc },
        }),
      );
    } else {
      entry.resolve(msg.return);
    }
  }

  private onEvent(msg: Record<string, unknown>): void {
    const ts = isObject(msg.timestamp) ? msg.timestamp : {};
    const seconds = Number(ts.seconds ?? 0);
    const micros = Number(ts.microseconds ?? 0);
    this.emit('event', {
      event: msg.event as string,
      data: isObject(msg.data) ? msg.data : {},
      timestampMs: seconds * 1000 + Math.floor(micros / 1000),
    });
  }

  private shutdown(message: string, cause?: Error): void {
    if (this.closedWith) return;
    const err = new UcloudError('QMP_DISCONNECTED', message, cause ? { cause } : {});
    this.closedWith = err;
    const leftover = this.buffer.trim();
    this.buffer = '';
    if (leftover !== '') this.emit('protocolError', new Error(`QMP stream ended inside a line: ${leftover.slice(0, 200)}`));
    if (!this.gotGreeting) this.rejectGreeting(err);
    for (const [id, entry] of this.pending) {
      this.pending.delete(id);
      entry.cleanup();
      entry.reject(new UcloudError('QMP_DISCONNECTED', `${message} while ${entry.command} was pending`, {
        details: { command: entry.command },
        ...(cause ? { cause } : {}),
      }));
    }
    this.abandoned.clear();
    this.emit('close');
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
