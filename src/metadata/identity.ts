// Who may ask: a request is answered only for a NIC that is on the network the
// request arrived on, asking from one of the two addresses that NIC forms there:
//   - fe80::<EUI-64 of its MAC>, arriving on that network's bridge (the
//     kernel gives a link-local peer its arrival interface as the `%zone`), or
//   - <the network's /64>:<EUI-64 of its MAC>.
// The interface id alone proves nothing: any host can put a known MAC's EUI-64
// behind any prefix, and 2^24 MACs under 52:54:00 are enumerable. The arrival
// (which bridge, which network) comes from the address the connection was made
// to: each listener is bound to one bridge's fe80::1 (scoped to that bridge) or
// one network's <prefix>::1.
//
// Why a global source to <prefix>::1 has arrived on that network's bridge: the
// kernel's SYN-ACK to <prefix>:<id> goes out of the bridge that holds the /64
// (the only route to it), so a connection is only established by whoever
// answers for that address on that link; and on that link the tap filter
// (src/host/network/antispoof.ts) lets only the NIC itself send from it.

import { parseIPv6 } from '../common/ipv6.js';
import { parsePrefix64 } from '../host/network/addr.js';
import { macFromAddress } from '../common/eui64.js';

/** The network a request arrived on: the bridge whose metadata address it was sent to. */
export interface Arrival {
  /** The bridge's interface name on this host. */
  bridge: string;
  vni: number;
  /** The network's /64 as its record has it, e.g. `fd00:1:2:3::/64`. */
  prefix: string;
}

/** A VM's NIC as far as identity goes. */
export interface NicRef {
  mac: string;
  vni: number;
  prefix: string;
}

export type Claim = { mac: string } | { refused: string };

const LOW64 = (1n << 64n) - 1n;
const LINK_LOCAL_64 = 0xfe80n << 112n;

/** The /64 an address is in; undefined when it is not IPv6. */
function network64(address: string): bigint | undefined {
  try {
    return parseIPv6(address) & ~LOW64;
  } catch {
    return undefined;
  }
}

/** A record's `prefix` as its network address; undefined when it is not a /64 (then nothing matches it). */
function prefix64(cidr: string): bigint | undefined {
  try {
    return parsePrefix64(cidr).network;
  } catch {
    return undefined;
  }
}

/**
 * The MAC a source address claims, if that address is one a NIC of the
 * arrival network forms: fe80::<EUI-64> with the arrival bridge as its zone,
 * or <the arrival network's /64>:<EUI-64>. Anything else is refused with the
 * reason (for the log; the caller gets only a 403).
 */
export function claimedMac(source: string, arrival: Arrival): Claim {
  const pct = source.indexOf('%');
  const address = pct < 0 ? source : source.slice(0, pct);
  const zone = pct < 0 ? undefined : source.slice(pct + 1);
  const net = network64(address);
  if (net === undefined) return { refused: 'not an IPv6 source' };
  if (net === LINK_LOCAL_64) {
    if (zone !== arrival.bridge) return { refused: `link-local source from ${zone ?? 'no interface'}, not from ${arrival.bridge}` };
  } else if (zone !== undefined || net !== prefix64(arrival.prefix)) {
    return { refused: `source outside ${arrival.prefix}` };
  }
  const mac = macFromAddress(address);
  return mac ? { mac } : { refused: 'no EUI-64 interface id in the source' };
}

/** Whether one of `nics` is the NIC with `mac` on the arrival network. */
export function nicOnArrival(nics: readonly NicRef[], mac: string, arrival: Arrival): boolean {
  const want = prefix64(arrival.prefix);
  return nics.some((n) => n.mac === mac && n.vni === arrival.vni && want !== undefined && prefix64(n.prefix) === want);
}
