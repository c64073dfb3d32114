// The host agent's console endpoint: the data path from a host's console logs
// to the API. It is not a control channel (etcd stays the only one): it
// answers only a request that carries a ticket the API minted in etcd for this
// VM on this host, and each ticket works once.
//
//   GET /v1/vms/<vm id>/console-log?lines=N    Authorization: Ticket <secret>
//   → 200 text/plain: the last N lines of the VM's console log
//   GET /v1/vms/<vm id>/stats                  Authorization: Ticket <secret>
//   → 200 application/json: the VM's counters now (model VmStats)
//   GET /v1/vms/<vm id>/console (WebSocket)    Authorization: Ticket <secret>
//   → the VM's interactive serial console, bridged to its keeper's attach
//     socket: binary frames of output; frames from the client are keystrokes.
//   GET /v1/vms/<vm id>/vnc (WebSocket)        Authorization: Ticket <secret>
//   → the VM's screen (display vnc), bridged to QEMU's VNC socket: RFB in
//     binary frames both ways, unchanged; a ticket of kind vnc only.
//     A refused ticket is refused before the upgrade (HTTP 403, the error's JSON).

import type { ChildProcess } from 'node:child_process';
import { createServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { toUcloudError, UcloudError } from '../../common/errors.js';
import { FailureLimiter } from '../../common/failure-limiter.js';
import type { Logger } from '../../common/logger.js';
import { ticketHash } from '../../managers/consoles.js';
import { Keys, Kinds } from '../../store/keys.js';
import type { Store } from '../../store/store.js';
import type { ConsoleKind, VmStats } from '../../model/index.js';
import { CONSOLE_MAX_PAYLOAD, handOver } from './handover.js';
import { readTail } from './log-ring.js';

export const MAX_CONSOLE_LINES = 10_000;
const PATH_RE = /^\/v1\/vms\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\/(console-log|stats)$/;
const ATTACH_RE = /^\/v1\/vms\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\/(console|vnc)$/;
/** Output queued to the WebSocket beyond this and the keeper's socket is paused (the keeper then skips output for it). */
const WS_BACKLOG_BYTES = 256 * 1024;
const TICKET_RE = /^Ticket ([0-9a-f]{64})$/;
/**
 * Refused tickets one source address may present per minute (an attempt
 * counts as refused while it is in flight); then it is turned away without
 * etcd being asked. The API presents only tickets it has just exchanged for
 * its own (ConsoleManager.attachTarget), so it is not refused.
 */
export const REFUSED_TICKETS_PER_MINUTE = 20;

export class ConsoleEndpoint {
  private server: Server | undefined;
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: CONSOLE_MAX_PAYLOAD });
  private readonly refusals = new FailureLimiter({ max: REFUSED_TICKETS_PER_MINUTE, windowMs: 60_000 });

  constructor(
    private readonly store: Store,
    private readonly hostName: string,
    /** The console log of a VM on this host. */
    private readonly logPath: (vmId: string) => string,
    private readonly log: Logger,
    /** The keeper's attach socket of a VM on this host. */
    private readonly attachPath: (vmId: string) => string = () => '',
    /** A VM's counters now (src/host/vm-metrics.ts); undefined: not on this host. */
    private readonly stats?: (vmId: string) => Promise<VmStats | undefined>,
    /** QEMU's VNC socket of a VM on this host (display vnc). */
    private readonly vncPath: (vmId: string) => string = () => '',
    /** The VM's keeper when this agent started it: its consoles are handed over, not relayed (handover.ts). */
    private readonly keeperOf: (vmId: string) => ChildProcess | undefined = () => undefined,
  ) {}

  /** Listens; returns the port (useful with port 0). */
  async listen(host: string, port: number): Promise<number> {
    const server = createServer((req, res) => void this.handle(req, res));
    server.on('upgrade', (req: IncomingMessage, sock: Duplex, head: Buffer) => void this.upgrade(req, sock, head));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port }, () => resolve());
    });
    this.server = server;
    return (server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    const closed = new Promise<void>((r) => s.close(() => r()));
    for (const ws of this.wss.clients) ws.close(1001);
    // Idle keep-alive connections (the API's fetch keeps them) would hold close() open.
    s.closeAllConnections();
    // A connection handed to a keeper stays the server's until the keeper closes it (Node's
    // socket tracking across IPC): the listener is closed at once, the rest is not waited for.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([closed, new Promise((r) => (timer = setTimeout(r, CLOSE_WAIT_MS)))]);
    clearTimeout(timer);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? '/', 'http://console');
      const m = PATH_RE.exec(url.pathname);
      if (req.method !== 'GET' || !m) throw new UcloudError('NOT_FOUND', `no route ${req.method} ${url.pathname}`);
      const vmId = m[1]!;
      if (m[2] === 'stats') return await this.answerStats(req, res, vmId);
      const linesText = url.searchParams.get('lines') ?? '100';
      const lines = /^\d{1,5}$/.test(linesText) ? Number(linesText) : NaN;
      if (!(lines >= 1 && lines <= MAX_CONSOLE_LINES)) throw new UcloudError('VALIDATION_FAILED', `lines must be 1-${MAX_CONSOLE_LINES}`);
      await this.takeTicket(req, vmId, 'log');
      const text = readTail(this.logPath(vmId), lines);
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end(text);
    } catch (err) {
      const e = toUcloudError(err);
      if (e.httpStatus >= 500) this.log.error({ err }, 'console request failed');
      res.writeHead(e.httpStatus, { 'content-type': 'application/json' }).end(JSON.stringify(e.toBody()));
    }
  }

  /** A read-only view of the VM's data like its log: the same kind of ticket. */
  private async answerStats(req: IncomingMessage, res: ServerResponse, vmId: string): Promise<void> {
    await this.takeTicket(req, vmId, 'log');
    const stats = await this.stats?.(vmId);
    if (!stats) throw new UcloudError('NOT_FOUND', `VM ${vmId} is not on host ${this.hostName}`);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(stats));
  }

  /** Takes the request's ticket out of etcd (it works once) and checks that it opens `kind` of this VM on this host. */
  private async takeTicket(req: IncomingMessage, vmId: string, kind: ConsoleKind) {
    // The exact address, not its /64: the API and the hosts often share one management /64.
    const source = req.socket.remoteAddress ?? '';
    const attempt = this.refusals.attempt(source);
    if ('retryAfterMs' in attempt) {
      const err = new UcloudError('CONSOLE_TICKETS_THROTTLED', `${REFUSED_TICKETS_PER_MINUTE} refused console tickets from ${source} within a minute: try again in ${Math.ceil(attempt.retryAfterMs / 1000)} s`);
      if (attempt.first) this.log.warn({ source }, `console endpoint: ${err.message}`);
      throw err;
    }
    const secret = TICKET_RE.exec(req.headers.authorization ?? '')?.[1];
    const ticket = secret === undefined ? undefined : await this.store.take(Kinds.consoleTicket, Keys.consoleTicket(ticketHash(secret)));
    if (!ticket || ticket.vm !== vmId || ticket.host !== this.hostName || Date.parse(ticket.expiresAt) < Date.now() || (ticket.kind ?? 'log') !== kind) {
      throw new UcloudError('CONSOLE_TICKET_INVALID', 'no valid console ticket for this VM on this host');
    }
    this.refusals.succeeded(attempt);
    return ticket;
  }

  private async upgrade(req: IncomingMessage, sock: Duplex, head: Buffer): Promise<void> {
    sock.on('error', () => undefined);
    // A caller that goes while the ticket is taken and the socket connected: seen here, before any wait.
    let gone = false;
    sock.once('close', () => (gone = true));
    let keeper: Socket;
    let readOnly = false;
    try {
      const m = ATTACH_RE.exec(new URL(req.url ?? '/', 'http://console').pathname);
      if (req.method !== 'GET' || !m) throw new UcloudError('NOT_FOUND', `no WebSocket at ${req.url}`);
      const vmId = m[1]!;
      if (m[2] === 'vnc') {
        await this.takeTicket(req, vmId, 'vnc');
        keeper = await connectWhenUp(this.vncPath(vmId), 'the VM has no VNC display to attach to (is it running?)');
      } else {
        const ticket = await this.takeTicket(req, vmId, 'serial');
        readOnly = ticket.readOnly === true;
        const child = this.keeperOf(vmId);
        if (gone) return;
        if (child && handOver(child, sock as Socket, req, head, readOnly ? 'r' : 'w')) return;
        keeper = await connectWhenUp(this.attachPath(vmId), 'the VM has no console keeper to attach to (is it running?)', readOnly ? 'r' : 'w');
      }
    } catch (err) {
      const e = toUcloudError(err);
      if (e.httpStatus >= 500) this.log.error({ err }, 'console attach failed');
      const body = JSON.stringify(e.toBody());
      sock.end(`HTTP/1.1 ${e.httpStatus} ${STATUS_CODES[e.httpStatus] ?? ''}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
      return;
    }
    if (gone) return void keeper.destroy();
    // A handshake ws refuses (a bad key) never calls back: the keeper's connection must not outlive it.
    let bridged = false;
    sock.once('close', () => bridged || keeper.destroy());
    this.wss.handleUpgrade(req, sock, head, (ws) => {
      bridged = true;
      bridge(ws, keeper, readOnly);
    });
  }
}

/** How long close() waits for the server's connections to end (a handed-over console's lasts as long as the console). */
const CLOSE_WAIT_MS = 1_000;

/** How long an attach waits for a socket that is still to appear (a keeper's once its process runs, QEMU's VNC as it starts). */
const KEEPER_START_WAIT_MS = 5_000;

/**
 * Connects to a VM's keeper (and says the mode) or its VNC socket. A keeper
 * is started with its VM and makes its socket a moment later, so a console
 * asked for as the VM comes up waits for it a little; then it is
 * CONSOLE_UNAVAILABLE.
 */
async function connectWhenUp(path: string, unavailable: string, mode?: 'r' | 'w'): Promise<Socket> {
  const deadline = Date.now() + KEEPER_START_WAIT_MS;
  for (;;) {
    try {
      return await connectUnix(path, mode);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if ((code !== 'ENOENT' && code !== 'ECONNREFUSED') || Date.now() >= deadline) {
        throw new UcloudError('CONSOLE_UNAVAILABLE', unavailable, { cause: err });
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

function connectUnix(path: string, mode?: 'r' | 'w'): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(path);
    s.once('connect', () => {
      s.off('error', reject);
      if (mode) s.write(mode);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** Keeper (or VNC socket) ⇄ WebSocket, each side throttled by the other: a slow browser pauses the keeper's socket, never fills memory here. */
export function bridge(ws: WebSocket, keeper: Socket, readOnly = false): void {
  keeper.on('error', () => undefined);
  ws.on('error', () => undefined);
  let paused = false;
  keeper.on('data', (d: Buffer) => {
    ws.send(d, { binary: true });
    if (!paused && ws.bufferedAmount > WS_BACKLOG_BYTES) {
      // ws has no drain event of its own: look again shortly (only while a client is this far behind).
      paused = true;
      keeper.pause();
      const wait = setInterval(() => {
        if (ws.bufferedAmount <= WS_BACKLOG_BYTES / 2 || ws.readyState !== ws.OPEN) {
          clearInterval(wait);
          paused = false;
          keeper.resume();
        }
      }, 10);
    }
  });
  // The keeper (QEMU's VNC server) ends the stream when QEMU goes away: a normal close.
  keeper.on('close', () => ws.close(1000));
  ws.on('message', (d: Buffer | ArrayBuffer | Buffer[]) => {
    // A viewer's keystrokes would only be dropped by the keeper: not even carried there.
    if (readOnly) return;
    const data = Array.isArray(d) ? Buffer.concat(d) : Buffer.from(d as ArrayBuffer);
    if (!keeper.write(data)) {
      ws.pause();
      keeper.once('drain', () => ws.resume());
    }
  });
  ws.on('close', () => keeper.destroy());
}
