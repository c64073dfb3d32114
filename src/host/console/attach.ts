// The keeper's attach socket: interactive consoles attach here, never to QEMU
// (whose socket chardev serves one client, the keeper). Any number of clients
// see the guest's output; one of them, the writer, types into it.
//
// Protocol (a unix socket, mode 0600, in the VM's run directory): the client's
// first byte is its mode, `w` (read-write) or `r` (read-only); every later byte
// is input. The keeper answers with the log's recent tail, then live output.
// The first read-write client holds the writer slot until it leaves, then the
// longest-attached read-write client takes it; the others' input is read and
// dropped.
//
// Memory stays bounded whatever clients do: a client that lets more than
// CLIENT_BACKLOG_BYTES of output pile up skips output until it catches up
// (then it is told how much it missed), at most MAX_CLIENTS are attached, and
// the writer is paused while QEMU does not take its input.

import { closeSync, chmodSync, fstatSync, openSync, readSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { rotatedPath } from './log-ring.js';

/** What a client gets first: enough of the log to show the current prompt and what led to it. */
export const REPLAY_BYTES = 16 * 1024;
/** Output queued to one client beyond this and the client skips output until it has caught up. */
export const CLIENT_BACKLOG_BYTES = 256 * 1024;
export const MAX_CLIENTS = 16;
/** A client that has not said its mode by then goes. */
const MODE_TIMEOUT_MS = 5_000;

export type AttachMode = 'w' | 'r';

interface Client {
  mode: AttachMode;
  /** Output it missed while too far behind, not yet told. */
  skipped: number;
}

/**
 * An attached client as the hub uses it: a socket on the attach socket, or a
 * WebSocket the host agent handed over (handover.ts).
 */
export interface Peer {
  write(chunk: Buffer): void;
  /** Output queued to it and not yet sent. */
  readonly writableLength: number;
  /** The guest's console is gone: a normal end. */
  end(): void;
  destroy(): void;
  pause(): void;
  resume(): void;
  /** For a peer whose end is a message of its own (a WebSocket's close frame): when it has gone. */
  readonly ended?: Promise<void>;
}

/** How long a stopping keeper waits for its clients' close frames to go out. */
const CLOSE_FLUSH_MS = 1_000;

/** What a client that fell behind is told, in the stream, when it catches up. */
export function skippedNote(bytes: number): Buffer {
  return Buffer.from(`\r\n[ucloud: ${bytes} bytes of console output skipped: this console read too slowly]\r\n`);
}

/** The last `max` bytes of the log (its rotated half first), read without loading either file whole. */
export function logTail(path: string, max = REPLAY_BYTES): Buffer {
  const parts: Buffer[] = [];
  let want = max;
  for (const p of [path, rotatedPath(path)]) {
    if (want <= 0) break;
    let fd: number;
    try {
      fd = openSync(p, 'r');
    } catch {
      continue;
    }
    try {
      const size = fstatSync(fd).size;
      const n = Math.min(size, want);
      const buf = Buffer.alloc(n);
      let off = 0;
      while (off < n) {
        const got = readSync(fd, buf, off, n - off, size - n + off);
        if (got === 0) break;
        off += got;
      }
      parts.unshift(buf.subarray(0, off));
      want -= off;
    } finally {
      closeSync(fd);
    }
  }
  return Buffer.concat(parts);
}

export interface AttachHubOptions {
  /** The attach socket's path. */
  path: string;
  /** The replay a new client gets. */
  replay: () => Buffer;
  /** QEMU's socket when connected: the writer's input goes there. */
  target: () => Socket | undefined;
}

export class AttachHub {
  private readonly server: Server;
  /** Attached clients and their modes, in the order they attached. */
  private readonly clients = new Map<Peer, Client>();
  private writer: Peer | undefined;
  /** Writers paused until QEMU's socket drains. */
  private readonly waiting = new Set<Peer>();

  constructor(private readonly o: AttachHubOptions) {
    this.server = createServer((s) => this.accept(s));
    this.server.on('error', () => undefined);
  }

  /** Listens on the attach socket, root only (mode 0600 from the start: the umask covers the bind). */
  listen(): Promise<void> {
    rmSync(this.o.path, { force: true });
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      const old = process.umask(0o177);
      try {
        this.server.listen(this.o.path, () => {
          chmodSync(this.o.path, 0o600);
          resolve();
        });
      } finally {
        process.umask(old);
      }
    });
  }

  get attached(): number {
    return this.clients.size;
  }

  /**
   * The guest's output, to every client. `chunk` may be a view of a buffer the
   * caller reuses: it is copied once when anyone is attached.
   */
  broadcast(chunk: Buffer): void {
    if (this.clients.size === 0) return;
    const copy = Buffer.from(chunk);
    for (const [s, c] of this.clients) {
      // Behind by more than the cap: skipped rather than buffered without bound.
      if (s.writableLength > CLIENT_BACKLOG_BYTES) {
        c.skipped += copy.length;
        continue;
      }
      if (c.skipped) {
        s.write(skippedNote(c.skipped));
        c.skipped = 0;
      }
      s.write(copy);
    }
  }

  /** QEMU went away: every client is told so by the end of its stream. */
  endAll(): void {
    for (const c of this.clients.keys()) c.end();
  }

  /** Ends every client and stops listening; resolves once their ends have gone out (at most CLOSE_FLUSH_MS). */
  async close(): Promise<void> {
    const peers = [...this.clients.keys()];
    for (const c of peers) c.destroy();
    this.server.close();
    rmSync(this.o.path, { force: true });
    const ends = peers.flatMap((p) => (p.ended ? [p.ended] : []));
    if (ends.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(ends), new Promise((r) => (timer = setTimeout(r, CLOSE_FLUSH_MS)))]);
    clearTimeout(timer);
  }

  /** Whether another client may attach. */
  get full(): boolean {
    return this.clients.size >= MAX_CLIENTS;
  }

  /**
   * Attaches a client that already said its mode (a WebSocket handed over by
   * the agent). Its caller passes on its input and says when it has gone.
   */
  attach(peer: Peer, mode: AttachMode): { input: (d: Buffer) => void; gone: () => void } {
    this.join(peer, mode);
    return { input: (d) => this.input(peer, d), gone: () => this.leave(peer) };
  }

  private accept(s: Socket): void {
    s.on('error', () => undefined);
    if (this.full) {
      s.destroy();
      return;
    }
    const timer = setTimeout(() => s.destroy(), MODE_TIMEOUT_MS);
    s.once('data', (first: Buffer) => {
      clearTimeout(timer);
      const mode = String.fromCharCode(first[0]!);
      if (mode !== 'w' && mode !== 'r') return void s.destroy();
      if (s.destroyed) return;
      this.join(s, mode);
      s.on('data', (d: Buffer) => this.input(s, d));
      if (first.length > 1) this.input(s, first.subarray(1));
    });
    s.on('close', () => {
      clearTimeout(timer);
      this.leave(s);
    });
  }

  private join(s: Peer, mode: AttachMode): void {
    // Synchronously, between two chunks of output: the replay and the live stream neither overlap nor leave a gap.
    s.write(this.o.replay());
    this.clients.set(s, { mode, skipped: 0 });
    if (mode === 'w' && !this.writer) this.writer = s;
  }

  private leave(s: Peer): void {
    this.clients.delete(s);
    if (this.writer === s) this.writer = [...this.clients].find(([, c]) => c.mode === 'w')?.[0];
  }

  private input(s: Peer, d: Buffer): void {
    if (s !== this.writer) return;
    const q = this.o.target();
    if (!q || !q.writable) return;
    // QEMU takes input only as fast as the guest reads its UART: the writer waits, nothing piles up here.
    // (A WebSocket still delivers the rest of a chunk's messages once paused: they wait on the same drain.)
    if (!q.write(d) && !this.waiting.has(s)) {
      s.pause();
      this.waiting.add(s);
      const resume = () => {
        q.off('drain', resume);
        q.off('close', resume);
        this.waiting.delete(s);
        s.resume();
      };
      q.on('drain', resume);
      q.on('close', resume);
    }
  }
}
