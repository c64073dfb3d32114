// Where the metadata server listens: on each network bridge of this host, the
// two addresses guests use — fe80::1 scoped to that bridge, and <prefix>::1 —
// and nowhere else (not [::], not the underlay, not loopback).
//
// The host agent makes the bridges (src/host/network/bridge.ts) and this daemon
// only reads them: a bridge is a network's when it carries both fe80::1 and
// that network's <prefix>::1 (addresses the agent adds with nodad). Matching
// the addresses rather than the agent's naming scheme binds exactly where
// guests send, and a bridge that has lost them is no longer served.

import { canonicalIPv6 } from '../common/ipv6.js';
import type { Logger } from '../common/logger.js';
import type { Network } from '../model/index.js';
import { addressInPrefix, parsePrefix64 } from '../host/network/addr.js';
import { METADATA_LINK_LOCAL } from '../host/network/bridge.js';
import type { Ip, IpAddr } from '../host/network/ip.js';
import type { Arrival } from './identity.js';

/** One address to listen on, and the network a connection to it arrives from. */
export interface MetadataAddress {
  /** As `listen()` takes it and `socket.localAddress` gives it back: `fe80::1%ucbr7`, `fd00:1:2:3::1`. */
  address: string;
  /** The bridge's ifindex: a bridge deleted and made again under the same name needs a new socket. */
  ifindex: number;
  arrival: Arrival;
}

interface AddrRow {
  ifindex: number;
  ifname: string;
  flags?: string[];
  addr_info?: IpAddr[];
}

/** The addresses to serve, from this host's bridges and the networks in etcd. */
export async function metadataAddresses(ip: Ip, networks: readonly Network[], log: Logger): Promise<MetadataAddress[]> {
  const byGateway = new Map<string, Network>();
  for (const n of networks) {
    try {
      byGateway.set(addressInPrefix(parsePrefix64(n.prefix), 1n), n);
    } catch {
      log.warn({ owner: n.owner, name: n.name, prefix: n.prefix }, 'metadata: network with an unusable prefix; not served');
    }
  }
  const rows = await ip.json<AddrRow[]>(['addr', 'show', 'type', 'bridge']);
  const found: { row: AddrRow; net: Network; gateway: string }[] = [];
  for (const row of rows) {
    const v6 = (row.addr_info ?? []).filter((a) => a.family === 'inet6' && !a.tentative && !a.dadfailed).map((a) => canonicalIPv6(a.local));
    if (!v6.includes(METADATA_LINK_LOCAL)) continue;
    for (const a of v6) {
      const net = byGateway.get(a);
      if (net) found.push({ row, net, gateway: a });
    }
  }
  // The same /64 on two bridges, or two networks on one bridge, would make the
  // arrival ambiguous: serve none of them.
  const count = new Map<string, number>();
  const bump = (k: string) => count.set(k, (count.get(k) ?? 0) + 1);
  for (const f of found) {
    bump(`a:${f.gateway}`);
    bump(`b:${f.row.ifname}`);
  }
  const out: MetadataAddress[] = [];
  for (const { row, net, gateway } of found) {
    if (count.get(`a:${gateway}`)! > 1 || count.get(`b:${row.ifname}`)! > 1) {
      log.warn({ bridge: row.ifname, prefix: net.prefix }, 'metadata: a network prefix on several bridges, or several on one; not served');
      continue;
    }
    const arrival: Arrival = { bridge: row.ifname, vni: net.vni, prefix: net.prefix };
    out.push({ address: `${METADATA_LINK_LOCAL}%${row.ifname}`, ifindex: row.ifindex, arrival });
    out.push({ address: gateway, ifindex: row.ifindex, arrival });
  }
  return out;
}
