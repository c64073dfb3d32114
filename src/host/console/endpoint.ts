// The host agent's console endpoint: the data path from a host's console logs
// to the API. It is not a control channel (etcd stays the only one): it
// answers only a request that carries a ticket the API minted in etcd for this
// VM on this host, and each ticket works once.
//
//   GET /v1/vms/<vm id>/console-log?lines=N    Authorization: Ticket <secret>
//   → 200 text/plain: the last N lines of the VM's console log
//   GET /v1/vms/<vm id>/stats                  Authorization: Ticket <secret>
//   → 200 application/json: the VM's counters now (model VmStats)

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { toUcloudError, UcloudError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import { ticketHash } from '../../managers/consoles.js';
import { Keys, Kinds } from '../../store/keys.js';
import type { Store } from '../../store/store.js';
import type { VmStats } from '../../model/index.js';
import { readTail } from './log-ring.js';

export const MAX_CONSOLE_LINES = 10_000;
const PATH_RE = /^\/v1\/vms\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\/(console-log|stats)$/;
const TICKET_RE = /^Ticket ([0-9a-f]{64})$/;

export class ConsoleEndpoint {
  private server: Server | undefined;

  constructor(
    private readonly store: Store,
    private readonly hostName: string,
    /** The console log of a VM on this host. */
    private readonly logPath: (vmId: string) => string,
    private readonly log: Logger,
    /** A VM's counters now (src/host/vm-metrics.ts); undefined: not on this host. */
    private readonly stats?: (vmId: string) => Promise<VmStats | undefined>,
  ) {}

  /** Listens; returns the port (useful with port 0). */
  async listen(host: string, port: number): Promise<number> {
    const server = createServer((req, res) => void this.handle(req, res));
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
    // Idle keep-alive connections (the API's fetch keeps them) would hold close() open.
    s.closeAllConnections();
    await closed;
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
      await this.takeTicket(req, vmId);
      const text = readTail(this.logPath(vmId), lines);
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end(text);
    } catch (err) {
      const e = toUcloudError(err);
      if (e.httpStatus >= 500) this.log.error({ err }, 'console request failed');
      res.writeHead(e.httpStatus, { 'content-type': 'application/json' }).end(JSON.stringify(e.toBody()));
    }
  }

  private async answerStats(req: IncomingMessage, res: ServerResponse, vmId: string): Promise<void> {
    await this.takeTicket(req, vmId);
    const stats = await this.stats?.(vmId);
    if (!stats) throw new UcloudError('NOT_FOUND', `VM ${vmId} is not on host ${this.hostName}`);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(stats));
  }

  /** The request's ticket, taken from etcd (it works once) and checked against this VM on this host. */
  private async takeTicket(req: IncomingMessage, vmId: string): Promise<void> {
    const secret = TICKET_RE.exec(req.headers.authorization ?? '')?.[1];
    const ticket = secret === undefined ? undefined : await this.store.take(Kinds.consoleTicket, Keys.consoleTicket(ticketHash(secret)));
    if (!ticket || ticket.vm !== vmId || ticket.host !== this.hostName || Date.parse(ticket.expiresAt) < Date.now()) {
      throw new UcloudError('CONSOLE_TICKET_INVALID', 'no valid console ticket for this VM on this host');
    }
  }
}
