import { createHash, randomBytes } from 'node:crypto';
import { isErrorCode, UcloudError } from '../common/errors.js';
import type { ConsoleAttachTicket, ConsoleKind, ConsoleTicket, Vm, VmStats } from '../model/index.js';
import { Keys, Kinds } from '../store/keys.js';
import type { Store } from '../store/store.js';

// A ticket lives long enough for one request to the host, no longer.
const TICKET_TTL_MS = 10_000;
// An attach ticket goes to a browser or a terminal first, which then opens the WebSocket.
export const ATTACH_TICKET_TTL_MS = 30_000;
/** How long the API's own ticket, exchanged for a user's at attach, stays valid: the host takes it within a moment. */
const RELAY_TICKET_TTL_MS = 15_000;
/** The API's WebSocket for interactive consoles. */
export const CONSOLE_ATTACH_PATH = '/v1/console';
const SECRET_RE = /^[0-9a-f]{64}$/;
const FETCH_TIMEOUT_MS = 8_000;

/** The WebSocket on a host's console endpoint that a ticket of `kind` opens: the one place the kinds map to paths. */
export function hostAttachPath(vmId: string, kind: Extract<ConsoleKind, 'serial' | 'vnc'>): string {
  return `/v1/vms/${vmId}/${kind === 'vnc' ? 'vnc' : 'console'}`;
}

/** Tickets are stored under this hash: reading etcd does not give the secret away. */
export function ticketHash(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/**
 * A VM's console output, read where it is kept: on the VM's host. The API
 * never reads a host's files; the caller (the API) has authorised the user,
 * this mints a single-use ticket in etcd on a short lease, and the host's agent
 * checks it before it answers.
 */
export class ConsoleManager {
  constructor(private readonly store: Store) {}

  /** A new ticket's secret, its key, its expiry and the lease it is put on (it vanishes with it if never used). */
  private fresh(ttlMs: number) {
    const secret = randomBytes(32).toString('hex');
    return { secret, key: Keys.consoleTicket(ticketHash(secret)), expiresAt: new Date(Date.now() + ttlMs).toISOString(), lease: this.store.lease(ttlMs, { keepAlive: false }) };
  }

  /** `host:port` of the console endpoint of the agent of `hostName`, when it is alive. */
  private async endpoint(hostName: string, vmName: string): Promise<string> {
    const [alive, host] = await Promise.all([this.store.get(Kinds.hostAlive, Keys.hostAlive(hostName)), this.store.get(Kinds.host, Keys.host(hostName))]);
    if (!alive || !host) throw new UcloudError('CONSOLE_UNAVAILABLE', `VM "${vmName}" is on host ${hostName}, whose agent is not running`);
    const port = alive.value.consolePort;
    if (!port) throw new UcloudError('CONSOLE_UNAVAILABLE', `the agent of host ${hostName} serves no console endpoint`);
    const addr = host.value.address.includes(':') ? `[${host.value.address}]` : host.value.address;
    return `${addr}:${port}`;
  }

  /**
   * A ticket for the VM's interactive serial console, or its VNC screen: the
   * caller (the API) has authorised the user. It stays in etcd on its own
   * lease until used (the host's agent deletes it) or until it expires.
   */
  async attachTicket(vm: Vm, opts: { readOnly: boolean; kind: 'serial' | 'vnc' }, by: { user: string; role: 'user' | 'admin'; tokenHash: string }): Promise<ConsoleAttachTicket> {
    const { readOnly, kind } = opts;
    if (kind === 'vnc') {
      if (vm.display !== 'vnc') throw new UcloudError('VM_NO_DISPLAY', `VM "${vm.name}" was created without a display: it has a serial console only`);
      // QEMU has no view-only VNC client (its `share` policy is per server), so a read-only screen would be a promise not kept.
      if (readOnly) throw new UcloudError('VALIDATION_FAILED', 'a VNC screen cannot be read-only: QEMU passes every client\'s keys and pointer to the guest', { details: { field: 'readOnly' } });
    }
    if (vm.status !== 'running' || !vm.host) throw new UcloudError('VM_NOT_RUNNING', `VM "${vm.name}" is ${vm.status}: only a running VM has a console to attach to`);
    await this.endpoint(vm.host, vm.name);
    const t = this.fresh(ATTACH_TICKET_TTL_MS);
    await this.store.put(Kinds.consoleTicket, t.key, { vm: vm.id, host: vm.host, expiresAt: t.expiresAt, kind, ...(readOnly ? { readOnly: true } : {}), user: by.user, role: by.role, token: by.tokenHash }, t.lease);
    return { ticket: t.secret, path: CONSOLE_ATTACH_PATH, expiresAt: t.expiresAt };
  }

  /**
   * Where the API takes a console WebSocket that presented `secret`: the
   * console endpoint of the VM's host, with a ticket of its own. The user's
   * ticket is exchanged for it in one transaction (taken, and the same grant
   * put under a secret only this relay knows), so of two attaches with one
   * ticket (two sockets, two APIs) one goes on and the other is refused here:
   * a user cannot make an API present refused tickets to a host, which turns
   * away a source after 20 of them a minute, everyone's
   * consoles through that API with it.
   */
  async attachTarget(secret: string): Promise<{ url: string; headers: Record<string, string>; ticket: ConsoleTicket }> {
    const key = Keys.consoleTicket(ticketHash(secret));
    const ticket = SECRET_RE.test(secret) ? await this.store.get(Kinds.consoleTicket, key) : undefined;
    const kind = ticket?.value.kind;
    const invalid = () => new UcloudError('CONSOLE_TICKET_INVALID', 'no valid console ticket: ask for one with POST /v1/vms/<vm>/console');
    if (!ticket || (kind !== 'serial' && kind !== 'vnc') || Date.parse(ticket.value.expiresAt) < Date.now()) throw invalid();
    const at = await this.endpoint(ticket.value.host, ticket.value.vm);
    // Its own expiry: one taken at the user's ticket's last moment must not expire on its way to the host.
    const relay = this.fresh(RELAY_TICKET_TTL_MS);
    const exchanged = await this.store.txn().unchanged(ticket).delete(key).put(Kinds.consoleTicket, relay.key, { ...ticket.value, expiresAt: relay.expiresAt }, relay.lease).commit();
    if (!exchanged) {
      await relay.lease.revoke().catch(() => undefined);
      throw invalid();
    }
    return { url: `ws://${at}${hostAttachPath(ticket.value.vm, kind)}`, headers: { authorization: `Ticket ${relay.secret}` }, ticket: ticket.value };
  }

  tail(vm: Vm, lines: number): Promise<string> {
    return this.fromHost(vm, `console-log?lines=${lines}`);
  }

  /** The VM's counters now, read by its host (the readings of its Prometheus metrics). */
  async stats(vm: Vm): Promise<VmStats> {
    return JSON.parse(await this.fromHost(vm, 'stats')) as VmStats;
  }

  /** `GET /v1/vms/<id>/<path>` on the console endpoint of the VM's host, with a read ticket of its own. */
  private async fromHost(vm: Vm, path: string): Promise<string> {
    const hostName = vm.host;
    if (!hostName) throw new UcloudError('CONSOLE_UNAVAILABLE', `VM "${vm.name}" is not placed on a host yet`);
    const addr = await this.endpoint(hostName, vm.name);

    const { secret, key, expiresAt, lease } = this.fresh(TICKET_TTL_MS);
    try {
      await this.store.put(Kinds.consoleTicket, key, { vm: vm.id, host: hostName, expiresAt }, lease);
      let res: Response;
      try {
        res = await fetch(`http://${addr}/v1/vms/${vm.id}/${path}`, {
          headers: { authorization: `Ticket ${secret}` },
          signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
        });
      } catch (err) {
        throw new UcloudError('CONSOLE_UNAVAILABLE', `cannot reach the console endpoint of host ${hostName} at ${addr}`, { cause: err });
      }
      const text = await res.text();
      if (!res.ok) {
        let code: unknown;
        try {
          code = (JSON.parse(text) as { code?: unknown }).code;
        } catch {
          // not one of ours
        }
        throw new UcloudError('CONSOLE_UNAVAILABLE', `host ${hostName} refused the request for VM "${vm.name}" (${isErrorCode(code) ? code : `HTTP ${res.status}`})`);
      }
      return text;
    } finally {
      await lease.revoke().catch(() => undefined);
    }
  }
}
