import WebSocket from 'ws';
import { toUcloudError, UcloudError, type ErrorCode } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import { CONSOLE_ATTACH_PATH, type ConsoleManager } from '../../managers/consoles.js';
import { CLOSE_NOT_ALLOWED, CLOSE_TICKET_INVALID, CLOSE_TOO_MANY, CLOSE_UNAVAILABLE, ConsoleUpgraded, ErrorResponse, type ConsoleTicket } from '../../model/index.js';
import type { Api } from '../context.js';

// The interactive console's WebSocket on the API. The ticket (POST
// /v1/vms/<ref>/console) is the credential, sent as the first message, never
// in the URL (which proxies and logs keep). The API reads the ticket from etcd
// to learn the VM's host and opens the same WebSocket on that host's console
// endpoint; the host takes the ticket (once) and checks it again. From then
// on the API only relays frames: it holds no console state.

/** How often an open console asks again whether its user still may: what a revoked token or a disabled user keeps at most. */
export const CONSOLE_RECHECK_MS = 10_000;
/** Interactive consoles one user may have open through this API at once. */
export const CONSOLES_PER_USER = 16;
const TICKET_WAIT_MS = 5_000;
/** Keystrokes sent before the host's side is open; more than this and the rest are dropped. */
const PENDING_INPUT_BYTES = 64 * 1024;
/** Output queued to a client beyond this and the host's side is paused until it catches up (the keeper then skips output for it). */
const CLIENT_BACKLOG_BYTES = 128 * 1024;

/** Whether the console's user still may (the same token, still valid, for the same user with the same role); the error code when not. */
export type ConsoleAllowed = (ticket: ConsoleTicket) => Promise<ErrorCode | undefined>;

export function consoleRoutes(api: Api, consoles: ConsoleManager, log: Logger, stillAllowed: ConsoleAllowed): void {
  const perUser = new Map<string, number>();
  api.route({
      method: 'GET',
      url: CONSOLE_ATTACH_PATH,
      config: { action: 'console:attach' },
      schema: {
        operationId: 'attachConsole',
        summary: "A VM's interactive serial console, or its VNC screen (WebSocket)",
        description:
          'Open as a WebSocket; the first message is the text of a ticket from `POST /v1/vms/{ref}/console`. A screen ticket (`display: vnc`): then RFB (VNC 3.8, security None) in binary frames both ways. A console ticket: then binary frames of console output (first a replay of up to 16 KiB of the recent log), frames sent are keystrokes. Closes 4403 `CONSOLE_TICKET_INVALID` for a wrong, expired or used ticket (or none within 5 s), 4503 `CONSOLE_UNAVAILABLE` when the host or its console cannot be reached, 1000 when the VM stops.',
        security: [],
        response: { 101: ConsoleUpgraded, 426: ErrorResponse },
      },
      wsHandler: (client: WebSocket) => attach(client, consoles, log, stillAllowed, perUser),
      handler: async () => {
        throw new UcloudError('WEBSOCKET_REQUIRED', `GET ${CONSOLE_ATTACH_PATH} is a WebSocket`);
      },
  });
}

function closeWith(ws: WebSocket, err: unknown): void {
  const e = toUcloudError(err);
  if (ws.readyState !== WebSocket.OPEN) return;
  const code = e.code === 'CONSOLE_TICKET_INVALID' ? CLOSE_TICKET_INVALID : e.code === 'TOO_MANY_CONSOLES' ? CLOSE_TOO_MANY : e.httpStatus === 401 || e.httpStatus === 403 ? CLOSE_NOT_ALLOWED : CLOSE_UNAVAILABLE;
  ws.close(code, code === CLOSE_UNAVAILABLE ? 'CONSOLE_UNAVAILABLE' : e.code);
  // A peer that never answers the close frame must not hold the socket for ws's 30 s.
  setTimeout(() => ws.terminate(), 1000).unref();
}

/** `from`'s messages to `to`; `from` is paused while `to` has more than `backlog` bytes queued (ws has no drain event). */
function relay(from: WebSocket, to: WebSocket, backlog: number): void {
  let waiting: NodeJS.Timeout | undefined;
  from.on('message', (d: WebSocket.RawData, binary: boolean) => {
    if (to.readyState !== WebSocket.OPEN) return;
    to.send(d as Buffer, { binary });
    if (!waiting && to.bufferedAmount > backlog) {
      from.pause();
      waiting = setInterval(() => {
        if (to.bufferedAmount > backlog / 2 && to.readyState === WebSocket.OPEN) return;
        clearInterval(waiting);
        waiting = undefined;
        from.resume();
      }, 10);
    }
  });
  from.on('close', () => clearInterval(waiting));
}

function attach(client: WebSocket, consoles: ConsoleManager, log: Logger, stillAllowed: ConsoleAllowed, perUser: Map<string, number>): void {
  client.on('error', () => undefined);
  const timer = setTimeout(() => closeWith(client, new UcloudError('CONSOLE_TICKET_INVALID', 'no ticket within 5 s')), TICKET_WAIT_MS);
  const pending: Buffer[] = [];
  let pendingBytes = 0;
  const early = (d: WebSocket.RawData) => {
    const b = d as Buffer;
    if (pendingBytes + b.length <= PENDING_INPUT_BYTES) {
      pending.push(b);
      pendingBytes += b.length;
    }
  };
  client.once('close', () => clearTimeout(timer));
  client.once('message', (first: WebSocket.RawData) => {
    clearTimeout(timer);
    client.on('message', early);
    consoles.attachTarget(String(first).trim()).then(
      (target) => {
        if (client.readyState !== WebSocket.OPEN) return;
        const user = target.ticket.user ?? '';
        if ((perUser.get(user) ?? 0) >= CONSOLES_PER_USER) {
          return closeWith(client, new UcloudError('TOO_MANY_CONSOLES', `${user} has ${CONSOLES_PER_USER} consoles open through this API`));
        }
        perUser.set(user, (perUser.get(user) ?? 0) + 1);
        const recheck = setInterval(() => {
          stillAllowed(target.ticket).then(
            (refusal) => refusal && closeWith(client, new UcloudError(refusal, 'you may no longer use this console')),
            () => undefined,
          );
        }, CONSOLE_RECHECK_MS);
        client.once('close', () => {
          clearInterval(recheck);
          const n = (perUser.get(user) ?? 1) - 1;
          if (n > 0) perUser.set(user, n);
          else perUser.delete(user);
        });
        const host = new WebSocket(target.url, { headers: target.headers, perMessageDeflate: false, handshakeTimeout: 10_000 });
        host.on('unexpected-response', (req, res) => {
          req.destroy();
          closeWith(client, new UcloudError(res.statusCode === 403 ? 'CONSOLE_TICKET_INVALID' : 'CONSOLE_UNAVAILABLE', `the host answered ${res.statusCode}`));
        });
        host.on('error', (err) => {
          log.warn({ err, url: target.url }, 'console: the host endpoint failed');
          closeWith(client, new UcloudError('CONSOLE_UNAVAILABLE', 'the console endpoint of the VM\'s host cannot be reached'));
        });
        host.on('open', () => {
          client.off('message', early);
          for (const b of pending.splice(0)) host.send(b);
          relay(client, host, CLIENT_BACKLOG_BYTES);
          relay(host, client, CLIENT_BACKLOG_BYTES);
        });
        // 1000: the VM's QEMU went away; any other end of the host's side is the console becoming unavailable.
        host.on('close', (code) => {
          if (code === 1000) client.close(1000);
          else closeWith(client, new UcloudError('CONSOLE_UNAVAILABLE', `the host closed the console (${code})`));
        });
        client.on('close', () => (host.readyState === WebSocket.OPEN ? host.close(1000) : host.terminate()));
      },
      (err: unknown) => closeWith(client, err),
    );
  });
}
