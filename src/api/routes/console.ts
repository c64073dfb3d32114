import WebSocket from 'ws';
import { toUcloudError, UcloudError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import { CONSOLE_ATTACH_PATH, type ConsoleManager } from '../../managers/consoles.js';
import { ConsoleUpgraded, ErrorResponse } from '../../model/index.js';
import type { Api } from '../context.js';

// The interactive console's WebSocket on the API. The ticket (POST
// /v1/vms/<ref>/console) is the credential, sent as the first message, never
// in the URL (which proxies and logs keep). The API reads the ticket from etcd
// to learn the VM's host and opens the same WebSocket on that host's console
// endpoint; the host takes the ticket (once) and checks it again. From then
// on the API only relays frames: it holds no console state.

/** Close codes (docs/api.md): the ticket refused; anything else that stops the console. The reason is the error code. */
export const CLOSE_TICKET_INVALID = 4403;
export const CLOSE_UNAVAILABLE = 4503;
const TICKET_WAIT_MS = 5_000;
/** Keystrokes sent before the host's side is open; more than this and the rest are dropped. */
const PENDING_INPUT_BYTES = 64 * 1024;
/** Output queued to a client beyond this and the host's side is paused until it catches up. */
const CLIENT_BACKLOG_BYTES = 1024 * 1024;

export function consoleRoutes(api: Api, consoles: ConsoleManager, log: Logger): void {
  api.route({
      method: 'GET',
      url: CONSOLE_ATTACH_PATH,
      config: { action: 'console:attach' },
      schema: {
        operationId: 'attachConsole',
        summary: "A VM's interactive serial console (WebSocket)",
        description:
          'Open as a WebSocket; the first message is the text of a ticket from `POST /v1/vms/{ref}/console`. Then: binary frames of console output (first a replay of up to 16 KiB of the recent log), frames sent are keystrokes. Closes 4403 `CONSOLE_TICKET_INVALID` for a wrong, expired or used ticket (or none within 5 s), 4503 `CONSOLE_UNAVAILABLE` when the host or its console cannot be reached, 1000 when the VM stops.',
        security: [],
        response: { 101: ConsoleUpgraded, 426: ErrorResponse },
      },
      wsHandler: (client: WebSocket) => attach(client, consoles, log),
      handler: async () => {
        throw new UcloudError('WEBSOCKET_REQUIRED', `GET ${CONSOLE_ATTACH_PATH} is a WebSocket`);
      },
  });
}

function closeWith(ws: WebSocket, err: unknown): void {
  const e = toUcloudError(err);
  if (ws.readyState === WebSocket.OPEN) ws.close(e.code === 'CONSOLE_TICKET_INVALID' ? CLOSE_TICKET_INVALID : CLOSE_UNAVAILABLE, e.code === 'CONSOLE_TICKET_INVALID' ? e.code : 'CONSOLE_UNAVAILABLE');
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

function attach(client: WebSocket, consoles: ConsoleManager, log: Logger): void {
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
