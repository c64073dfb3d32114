// Small, dependency-free IPv6 and MAC helpers for the network wrappers: parse to
// a 128-bit integer and print in the canonical RFC 5952 form that `ip -j`
// prints, so addresses can be compared as values instead of strings.

import { isIPv6 } from 'node:net';
import { UcloudError } from '../../common/errors.js';

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
/** Linux interface names: at most 15 bytes; we also keep them shell- and nft-safe. */
const IFNAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,14}$/;

function invalid(message: string): UcloudError {
  return new UcloudError('VALIDATION_FAILED', message);
}

/** Parses an IPv6 address (no zone, no prefix length) into its 128-bit value. */
export function parseIPv6(text: string): bigint {
  if (!isIPv6(text) || text.includes('%')) throw invalid(`not an IPv6 address: ${JSON.stringify(text)}`);
  let s = text.toLowerCase();
  // An embedded dotted IPv4 tail (::ffff:1.2.3.4) becomes two hex groups.
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    s = `${s.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = s.includes('::') ? (s.split('::') as [string, string]) : [s, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  let value = 0n;
  for (const g of groups) value = (value << 16n) | BigInt(parseInt(g, 16));
  return value;
}

/** Prints a 128-bit value as a canonical (RFC 5952) IPv6 address. */
export function formatIPv6(value: bigint): string {
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((value >> BigInt(i * 16)) & 0xffffn));
  // Longest run (≥ 2) of zero groups becomes "::"; the first one wins a tie.
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

/** The canonical form of an IPv6 address, e.g. `FD00:0:0::1` → `fd00::1`. */
export function canonicalIPv6(text: string): string {
  return formatIPv6(parseIPv6(text));
}

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

export function checkIfname(name: string): string {
  if (!IFNAME_RE.test(name)) throw invalid(`not a usable interface name (1-15 of a-z A-Z 0-9 _ . -): ${JSON.stringify(name)}`);
  return name;
}

export function checkVni(vni: number): number {
  if (!Number.isInteger(vni) || vni < 1 || vni > 0xffffff) throw invalid(`VNI must be an integer in 1..16777215, got ${vni}`);
  return vni;
}
