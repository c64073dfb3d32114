// One HTTP listener per metadata address (see bridges.ts), all routed into the
// same Fastify app. The listener set follows the bridges: reconcile() opens the
// addresses that appeared, closes the ones that went (and their connections),
// and re-opens a link-local one whose bridge was made again (new ifindex: the
// old socket is bound to an interface that no longer exists).

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { canonicalIPv6 } from '../common/ipv6.js';
import type { Logger } from '../common/logger.js';
import type { MetadataAddress } from './bridges.js';
import type { Arrival } from './identity.js';

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

// A guest gets a few connections and seconds, not the host's sockets and memory.
const MAX_CONNECTIONS_PER_ADDRESS = 64;
const HEADERS_TIMEOUT_MS = 5_000;
const REQUEST_TIMEOUT_MS = 10_000;

interface Open {
  server: Server;
  spec: MetadataAddress;
}

function sameSpec(a: MetadataAddress, b: MetadataAddress): boolean {
  return a.ifindex === b.ifindex && a.arrival.bridge === b.arrival.bridge && a.arrival.vni === b.arrival.vni && a.arrival.prefix === b.arrival.prefix;
}

export class MetadataListeners {
  private readonly open = new Map<string, Open>();
  /** Addresses that failed to bind, so the failure is logged once, not every re-check. */
  private readonly failed = new Set<string>();

  constructor(
    private readonly handler: RequestHandler,
    private readonly port: number,
    private readonly log: Logger,
  ) {}

  /** The network a connection to `localAddress` (as `socket.localAddress` gives it) arrived from. */
  arrivalOf(localAddress: string | undefined): Arrival | undefined {
    if (localAddress === undefined) return undefined;
    const pct = localAddress.indexOf('%');
    let key: string;
    try {
      key = pct < 0 ? canonicalIPv6(localAddress) : `${canonicalIPv6(localAddress.slice(0, pct))}${localAddress.slice(pct)}`;
    } catch {
      return undefined;
    }
    return this.open.get(key)?.spec.arrival;
  }

  /** The addresses listened on now. */
  addresses(): string[] {
    return [...this.open.keys()];
  }

  /** Listens on exactly `wanted`. A bind that fails is retried at the next call. */
  async reconcile(wanted: readonly MetadataAddress[]): Promise<void> {
    const want = new Map(wanted.map((w) => [w.address, w]));
    for (const [address, o] of this.open) {
      const w = want.get(address);
      if (!w || !sameSpec(w, o.spec)) await this.close(address);
    }
    for (const w of wanted) {
      if (this.open.has(w.address)) continue;
      try {
        await this.listen(w);
        this.failed.delete(w.address);
        this.log.info({ address: w.address, port: this.port, bridge: w.arrival.bridge, vni: w.arrival.vni }, 'metadata: listening');
      } catch (err) {
        if (!this.failed.has(w.address)) this.log.warn({ err, address: w.address, port: this.port }, 'metadata: cannot listen; retrying');
        this.failed.add(w.address);
      }
    }
    for (const address of this.failed) if (!want.has(address)) this.failed.delete(address);
  }

  async closeAll(): Promise<void> {
    for (const address of [...this.open.keys()]) await this.close(address);
  }

  private listen(spec: MetadataAddress): Promise<void> {
    const server = createServer({ headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS }, this.handler);
    server.maxConnections = MAX_CONNECTIONS_PER_ADDRESS;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: spec.address, port: this.port, ipv6Only: true, exclusive: true }, () => {
        server.off('error', reject);
        server.on('error', (err) => this.log.warn({ err, address: spec.address }, 'metadata: listener error'));
        this.open.set(spec.address, { server, spec });
        resolve();
      });
    });
  }

  private async close(address: string): Promise<void> {
    const o = this.open.get(address);
    if (!o) return;
    this.open.delete(address);
    await new Promise<void>((resolve) => {
      o.server.close(() => resolve());
      o.server.closeAllConnections();
    });
    this.log.info({ address, bridge: o.spec.arrival.bridge }, 'metadata: stopped listening');
  }
}
