import { Type, type Static } from 'typebox';
import { Name, Timestamp, Uuid } from './common.js';

/** What a console ticket opens; each kind opens only its own endpoint on the host. */
export const ConsoleKind = Type.Union([Type.Literal('log'), Type.Literal('serial'), Type.Literal('vnc')]);
export type ConsoleKind = Static<typeof ConsoleKind>;

/**
 * Permission to read one VM's console on one host, minted by the API for a user
 * it has authorised and consumed (deleted) by that host's agent on first use.
 * Stored under the hash of the secret and on a short lease, so an unused ticket
 * vanishes by itself.
 */
export const ConsoleTicket = Type.Object(
  {
    vm: Uuid,
    host: Name,
    expiresAt: Timestamp,
    /** What it opens: the log's tail (`vm console-log`; the default), the interactive serial console, or the VNC screen (display vnc). */
    kind: Type.Optional(ConsoleKind),
    /** An interactive console that may not type. */
    readOnly: Type.Optional(Type.Boolean()),
    /** Who asked for an interactive console, and with which token (its sha256, as `token/<hash>` is keyed): the API ends the session when they may no longer. */
    user: Type.Optional(Name),
    role: Type.Optional(Type.Union([Type.Literal('user'), Type.Literal('admin')])),
    token: Type.Optional(Type.String({ pattern: '^[0-9a-f]{64}$' })),
  },
  { additionalProperties: false },
);
export type ConsoleTicket = Static<typeof ConsoleTicket>;

/** What `GET /v1/vms/<ref>/console-log` answers. */
export const ConsoleLog = Type.Object({ vm: Name, host: Name, text: Type.String() }, { additionalProperties: false });
export type ConsoleLog = Static<typeof ConsoleLog>;

/** `?lines=`: how many of the log's last lines. */
export const ConsoleLogQuery = Type.Object({ lines: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })) }, { additionalProperties: false });

/**
 * What `GET /v1/vms/<ref>/stats` answers: the VM's counters as its host reads
 * them now (the same readings as the host's Prometheus metrics); a graph is
 * the difference between two of them. Absent figures: QEMU is not running.
 */
export const VmStats = Type.Object(
  {
    vm: Name,
    host: Name,
    at: Timestamp,
    cpuSeconds: Type.Optional(Type.Number({ minimum: 0 })),
    memoryRssBytes: Type.Optional(Type.Integer({ minimum: 0 })),
    disks: Type.Array(Type.Object({ disk: Type.String(), readBytes: Type.Integer({ minimum: 0 }), writtenBytes: Type.Integer({ minimum: 0 }), reads: Type.Integer({ minimum: 0 }), writes: Type.Integer({ minimum: 0 }) }, { additionalProperties: false })),
    nics: Type.Array(Type.Object({ nic: Type.String(), receiveBytes: Type.Integer({ minimum: 0 }), transmitBytes: Type.Integer({ minimum: 0 }), receivePackets: Type.Integer({ minimum: 0 }), transmitPackets: Type.Integer({ minimum: 0 }) }, { additionalProperties: false })),
  },
  { additionalProperties: false },
);
export type VmStats = Static<typeof VmStats>;
/** `POST /v1/vms/<ref>/console`: a ticket for the interactive serial console, or for the VNC screen of a VM with display vnc. */
export const ConsoleAttachRequest = Type.Object(
  {
    readOnly: Type.Optional(Type.Boolean({ description: 'watch only: keystrokes are dropped (serial only: QEMU cannot hold a VNC client to viewing, so with display vnc it is refused)' })),
    display: Type.Optional(Type.Literal('vnc', { description: "the VM's VNC screen instead of its serial console: the WebSocket then carries RFB (binary frames)" })),
  },
  { additionalProperties: false },
);
export type ConsoleAttachRequest = Static<typeof ConsoleAttachRequest>;

export const ConsoleAttachTicket = Type.Object(
  {
    ticket: Type.String({ pattern: '^[0-9a-f]{64}$', description: "the first (text) message on the WebSocket at `path`; it works once, until `expiresAt`" }),
    path: Type.String({ description: 'the WebSocket to open on the API: /v1/console' }),
    expiresAt: Timestamp,
  },
  { additionalProperties: false },
);
export type ConsoleAttachTicket = Static<typeof ConsoleAttachTicket>;

/**
 * Close codes of the console WebSockets, the API's and each host's (docs/api.md); the reason is the error code.
 * A refused ticket; the user may no longer (token revoked or expired, user disabled, deleted or demoted);
 * too many consoles; anything else that stops the console.
 */
export const CLOSE_TICKET_INVALID = 4403;
export const CLOSE_NOT_ALLOWED = 4401;
export const CLOSE_TOO_MANY = 4429;
export const CLOSE_UNAVAILABLE = 4503;

/** `GET /v1/console` upgraded: the console itself (no JSON body). */
export const ConsoleUpgraded = Type.Null({ description: 'Switching Protocols: the console' });
