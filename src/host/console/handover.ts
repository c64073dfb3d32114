// A console's connection, handed from the host agent to the VM's keeper.
//
// The agent's endpoint checks the ticket; relaying the console afterwards
// would wake the agent twice per keystroke (the key in, the echo out) on top
// of the keeper. A keeper this agent started is its child with an IPC
// channel, and Node passes a socket over that channel: the agent sends the
// accepted TCP connection, still before its WebSocket handshake, with the
// mode the ticket grants, and steps out. The keeper completes the handshake
// and attaches the WebSocket to its hub like any attached client.
//
// A keeper from an earlier agent (it outlives agents) has no channel to this
// one: its consoles are relayed through its attach socket as before
// (endpoint.ts `bridge`). VNC is always relayed: QEMU, not the keeper, serves it.

import type { ChildProcess } from 'node:child_process';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { WebSocket, WebSocketServer } from 'ws';
import type { AttachHub, AttachMode, Peer } from './attach.js';

const KIND = 'ucloud-console';

/** What the agent sends beside the socket. */
interface Handover {
  kind: typeof KIND;
  mode: AttachMode;
  /** The upgrade request's WebSocket headers, for the keeper's handshake. */
  headers: Pick<IncomingHttpHeaders, 'upgrade' | 'sec-websocket-key' | 'sec-websocket-version' | 'sec-websocket-protocol' | 'sec-websocket-extensions'>;
  /** Bytes the agent read past the request's headers (base64). */
  head: string;
}

/** The frame size limit of every console WebSocket (endpoint.ts has the same for the relayed ones). */
export const CONSOLE_MAX_PAYLOAD = 64 * 1024;

/** The keeper's answer to each handover, once it has the socket (Node's own handle ACK precedes it on the channel). */
const TAKEN = 'ucloud-console-taken';

/** Per keeper, the handles sent and not yet taken, oldest first: closed here if the keeper exits first. */
const inFlight = new WeakMap<ChildProcess, (() => void)[]>();

function pendingOf(keeper: ChildProcess): (() => void)[] {
  let pending = inFlight.get(keeper);
  if (!pending) {
    const list: (() => void)[] = [];
    pending = list;
    inFlight.set(keeper, list);
    keeper.on('message', (m: { kind?: string } | undefined) => m?.kind === TAKEN && list.shift());
    // Node closes neither a handle it holds until the keeper's ACK nor one still queued, when the channel ends.
    const orphan = () => list.splice(0).forEach((close) => close());
    keeper.once('exit', orphan);
    keeper.once('disconnect', orphan);
  }
  return pending;
}

/**
 * Sends the connection to the keeper. True: it is the keeper's now (the
 * agent's handle is closed once the keeper has it, or when the keeper exits
 * first). False: the channel is gone (the keeper exited, or it is being
 * stopped) and the caller still owns the socket.
 */
export function handOver(keeper: ChildProcess, sock: Socket, req: IncomingMessage, head: Buffer, mode: AttachMode): boolean {
  if (!keeper.connected) return false;
  // Nothing more is read here: what the agent has read past the headers goes with the socket.
  // (Node stops calling back for a handle it sends, but not reading from it.)
  const buffered = sock.read() as Buffer | null;
  const handle = (sock as Socket & { _handle?: { readStop?: () => number; close?: () => void } | null })._handle;
  handle?.readStop?.();
  const h = req.headers;
  const msg: Handover = {
    kind: KIND,
    mode,
    headers: { upgrade: h.upgrade, 'sec-websocket-key': h['sec-websocket-key'], 'sec-websocket-version': h['sec-websocket-version'], 'sec-websocket-protocol': h['sec-websocket-protocol'], 'sec-websocket-extensions': h['sec-websocket-extensions'] },
    head: (buffered ? Buffer.concat([head, buffered]) : head).toString('base64'),
  };
  const close = () => {
    try {
      handle?.close?.();
    } catch {
      // closed already
    }
  };
  pendingOf(keeper).push(close);
  // false is backpressure (queued behind another handle), not a refusal: the socket is the keeper's either way.
  keeper.send(msg, sock, { keepOpen: false }, (err) => err && close());
  return true;
}

/** In the keeper: takes the consoles its agent hands over and attaches them to the hub. */
export function acceptHandovers(hub: AttachHub): void {
  const channel = process.channel;
  if (!channel) return;
  let wss: Promise<WebSocketServer> | undefined;
  process.on('message', (msg: Handover, sock?: Socket) => {
    if (!sock) return;
    process.send?.({ kind: TAKEN });
    if (msg?.kind !== KIND || (msg.mode !== 'r' && msg.mode !== 'w') || hub.full) return void sock.destroy();
    sock.on('error', () => undefined);
    // Loaded on the first console only: most keepers never have one, and each VM has a keeper.
    wss ??= import('ws').then(({ WebSocketServer }) => new WebSocketServer({ noServer: true, maxPayload: CONSOLE_MAX_PAYLOAD, perMessageDeflate: false }));
    void wss.then(
      (server) => {
        const req = { method: 'GET', headers: msg.headers } as unknown as IncomingMessage;
        server.handleUpgrade(req, sock, Buffer.from(msg.head, 'base64'), (ws) => attachWebSocket(hub, ws, msg.mode));
      },
      () => {
        wss = undefined; // tried again by the next console
        sock.destroy();
      },
    );
  });
  // After the listener, which refs it: the channel must not keep the keeper alive (its end does not stop it either).
  channel.unref();
}

function attachWebSocket(hub: AttachHub, ws: WebSocket, mode: AttachMode): void {
  ws.on('error', () => undefined);
  if (hub.full) return void ws.close(1013);
  const peer: Peer = {
    write: (chunk) => ws.send(chunk, { binary: true }),
    get writableLength() {
      return ws.bufferedAmount;
    },
    // QEMU went away: a normal close, as the relayed path says it (the API ends the user's console with 1000 too).
    end: () => ws.close(1000),
    // The keeper stops (the VM stopped or was deleted): the same end as a relayed console's.
    destroy: () => ws.close(1000),
    ended: new Promise<void>((r) => ws.once('close', () => r())),
    pause: () => ws.pause(),
    resume: () => ws.resume(),
  };
  const { input, gone } = hub.attach(peer, mode);
  ws.on('message', (d: Buffer | ArrayBuffer | Buffer[]) => {
    // A viewer's keystrokes would only be dropped by the hub: not even carried there.
    if (mode === 'r') return;
    input(Array.isArray(d) ? Buffer.concat(d) : Buffer.isBuffer(d) ? d : Buffer.from(d));
  });
  ws.once('close', gone);
}
