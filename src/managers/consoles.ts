import { createHash, randomBytes } from 'node:crypto';
import { isErrorCode, UcloudError } from '../common/errors.js';
import type { Vm, VmStats } from '../model/index.js';
import { Keys, Kinds } from '../store/keys.js';
import type { Store } from '../store/store.js';

// A ticket lives long enough for one request to the host, no longer.
const TICKET_TTL_MS = 10_000;
const FETCH_TIMEOUT_MS = 8_000;

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

  tail(vm: Vm, lines: number): Promise<string> {
    return this.fromHost(vm, `console-log?lines=${lines}`);
  }

  /** The VM's counters now, read by its host (the readings of its Prometheus metrics). */
  async stats(vm: Vm): Promise<VmStats> {
    return JSON.parse(await this.fromHost(vm, 'stats')) as VmStats;
  }

  /** `GET /v1/vms/<id>/<path>` on the console endpoint of the VM's host, with a ticket of its own. */
  private async fromHost(vm: Vm, path: string): Promise<string> {
    const hostName = vm.host;
    if (!hostName) throw new UcloudError('CONSOLE_UNAVAILABLE', `VM "${vm.name}" is not placed on a host yet`);
    const [alive, host] = await Promise.all([this.store.get(Kinds.hostAlive, Keys.hostAlive(hostName)), this.store.get(Kinds.host, Keys.host(hostName))]);
    if (!alive || !host) throw new UcloudError('CONSOLE_UNAVAILABLE', `VM "${vm.name}" is on host ${hostName}, whose agent is not running`);
    const port = alive.value.consolePort;
    if (!port) throw new UcloudError('CONSOLE_UNAVAILABLE', `the agent of host ${hostName} serves no console endpoint`);

    const secret = randomBytes(32).toString('hex');
    const lease = this.store.lease(TICKET_TTL_MS, { keepAlive: false });
    try {
      await this.store.put(Kinds.consoleTicket, Keys.consoleTicket(ticketHash(secret)), { vm: vm.id, host: hostName, expiresAt: new Date(Date.now() + TICKET_TTL_MS).toISOString() }, lease);
      const addr = host.value.address.includes(':') ? `[${host.value.address}]` : host.value.address;
      let res: Response;
      try {
        res = await fetch(`http://${addr}:${port}/v1/vms/${vm.id}/${path}`, {
          headers: { authorization: `Ticket ${secret}` },
          signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
        });
      } catch (err) {
        throw new UcloudError('CONSOLE_UNAVAILABLE', `cannot reach the console endpoint of host ${hostName} at ${addr}:${port}`, { cause: err });
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
