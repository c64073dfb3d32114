// MAC, interface-name and /64 helpers for the network wrappers; IPv6 text itself
// is common/ipv6.ts (re-exported here for the wrappers).
import { UcloudError } from '../../common/errors.js';

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
/** Linux interface names: at most 15 bytes; we also keep them shell- and nft-safe. */
const IFNAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,14}$/;

function invalid(message: string): UcloudError {
  return new UcloudError('VALIDATION_FAILED', message);
}

export { canonicalIPv6, formatIPv6, parseIPv6 } from '../../common/ipv6.js';
import { formatIPv6, parseIPv6 } from '../../common/ipv6.js';

export interface Prefix64 {
  /** Network address as a 128-bit value (host bits zero). */
  network: bigint;
  /** Canonical text, e.g. `fd00:1:2:3::/64`. */
  cidr: string;
}

/** Parses a /64 (the only size SLAAC works with); host bits must be zero. */
export function parsePrefix64(cidr: string): Prefix64 {
  const m = /^([^/]+)\/(\d+)$/.exec(cidr);
  if (!m || m[2] !== '64') throw invalid(`network prefix must be an IPv6 /64, got ${JSON.stringify(cidr)}`);
  const network = parseIPv6(m[1] as string);
  if (network & ((1n << 64n) - 1n)) throw invalid(`prefix ${cidr} has host bits set`);
  return { network, cidr: `${formatIPv6(network)}/64` };
}

/** `prefix` + interface id, e.g. (fd00::/64, 1) → `fd00::1`. */
export function addressInPrefix(prefix: Prefix64, interfaceId: bigint): string {
  return formatIPv6(prefix.network | (interfaceId & ((1n << 64n) - 1n)));
}

/** Lower-case, colon-separated, validated MAC. */
export function normaliseMac(mac: string): string {
  const m = mac.toLowerCase().replace(/-/g, ':');
  if (!MAC_RE.test(m)) throw invalid(`not a MAC address: ${JSON.stringify(mac)}`);
  const first = parseInt(m.slice(0, 2), 16);
  if (first & 1) throw invalid(`MAC ${m} is a multicast address`);
  return m;
}

/** A random locally administered unicast MAC (for bridges, which must not borrow a port's MAC). */
export function randomLocalMac(bytes: Uint8Array): string {
  const b = Array.from(bytes.slice(0, 6));
  b[0] = ((b[0] ?? 0) & 0xfc) | 0x02;
  return b.map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/**
 * The MAC of every host's bridge of network `vni`: 02:75:63 ("uc", locally
 * administered) and the VNI's 24 bits. One gateway MAC per network means a
 * guest's neighbour entry for fe80::1 stays right when it moves to another
 * host (live migration), instead of pointing at the old host's bridge until
 * NUD gives up. It cannot meet a VM (52:54:00:…), a tap (fe:54:00:…, tap.ts)
 * or another network's bridge. Hosts never send onto or hear from the overlay
 * (antispoof.ts), so the same MAC on every host's bridge is never seen twice.
 */
export function gatewayMac(vni: number): string {
  const v = checkVni(vni);
  return `02:75:63:${[v >> 16, (v >> 8) & 0xff, v & 0xff].map((x) => x.toString(16).padStart(2, '0')).join(':')}`;
}

export function checkIfname(name: string): string {
  if (!IFNAME_RE.test(name)) throw invalid(`not a usable interface name (1-15 of a-z A-Z 0-9 _ . -): ${JSON.stringify(name)}`);
  return name;
}

export function checkVni(vni: number): number {
  if (!Number.isInteger(vni) || vni < 1 || vni > 0xffffff) throw invalid(`VNI must be an integer in 1..16777215, got ${vni}`);
  return vni;
}
