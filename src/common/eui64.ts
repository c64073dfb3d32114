import { UcloudError } from './errors.js';
import { formatIPv6 as formatValue, parseIPv6 } from './ipv6.js';

// EUI-64 maths for SLAAC: a guest on a /64 with addr_gen_mode=0 forms its
// interface id from its MAC (RFC 4291 appendix A): flip the universal/local bit
// of the first octet and put ff:fe between the third and the fourth octet.
// The metadata server runs this backwards to learn which NIC is asking.

const MAC_HEX = /^[0-9a-f]{12}$/;

/**
 * The MAC in ucloud's one written form: six lowercase, colon-separated octets.
 * Accepts `aa:bb:cc:dd:ee:ff`, `AA-BB-CC-DD-EE-FF`, `aabb.ccdd.eeff` and
 * `aabbccddeeff`; anything else is a VALIDATION_FAILED error.
 */
export function normalizeMac(mac: string): string {
  const text = mac.trim().toLowerCase();
  let hex: string | undefined;
  if (/^[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}$/.test(text)) hex = text.replace(/[:-]/g, '');
  else if (/^[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4}$/.test(text)) hex = text.replace(/\./g, '');
  else if (MAC_HEX.test(text)) hex = text;
  if (!hex) throw new UcloudError('VALIDATION_FAILED', `not a MAC address: ${JSON.stringify(mac)}`);
  return hex.match(/../g)!.join(':');
}

function macBytes(mac: string): number[] {
  return normalizeMac(mac)
    .split(':')
    .map((b) => parseInt(b, 16));
}

/** The 64-bit interface id of a MAC as four 16-bit groups. */
function interfaceIdGroups(mac: string): number[] {
  const b = macBytes(mac);
  const e = [b[0]! ^ 0x02, b[1]!, b[2]!, 0xff, 0xfe, b[3]!, b[4]!, b[5]!];
  return [(e[0]! << 8) | e[1]!, (e[2]! << 8) | e[3]!, (e[4]! << 8) | e[5]!, (e[6]! << 8) | e[7]!];
}

/**
 * The modified EUI-64 interface id of a MAC, as the last four groups of an
 * IPv6 address are written: `52:54:00:12:34:56` → `5054:ff:fe12:3456`.
 */
export function interfaceIdFromMac(mac: string): string {
  return interfaceIdGroups(mac)
    .map((g) => g.toString(16))
    .join(':');
}

/** Strips a `%zone` suffix (`fe80::1%eth0` → `fe80::1`). */
export function stripZone(address: string): string {
  const i = address.indexOf('%');
  return i < 0 ? address : address.slice(0, i);
}

/**
 * Any textual IPv6 address (compressed, upper case, with an embedded dotted
 * IPv4 tail, with a `%zone`) as its eight 16-bit groups; undefined when it is
 * not an IPv6 address.
 */
export function expandIPv6(address: string): number[] | undefined {
  let value: bigint;
  try {
    value = parseIPv6(stripZone(address.trim()));
  } catch {
    return undefined;
  }
  return Array.from({ length: 8 }, (_, i) => Number((value >> BigInt((7 - i) * 16)) & 0xffffn));
}

/** Eight 16-bit groups as RFC 5952 text (lowercase, longest zero run of two or more as `::`). */
export function formatIPv6(groups: readonly number[]): string {
  if (groups.length !== 8) throw new UcloudError('VALIDATION_FAILED', 'an IPv6 address has eight groups');
  return formatValue(groups.reduce((v, g) => (v << 16n) | BigInt(g & 0xffff), 0n));
}

/**
 * The MAC whose modified EUI-64 interface id an IPv6 address carries, or
 * undefined when it carries none: not an IPv6 address, no ff:fe in the middle
 * of the interface id (privacy/stable-privacy addresses, `::1`-style hosts),
 * or an address in ::/64 (unspecified, loopback, IPv4-mapped `::ffff:a.b.c.d`
 * and IPv4-compatible addresses, which are never SLAAC) or multicast.
 * A `%zone` suffix is ignored.
 */
export function macFromAddress(ipv6: string): string | undefined {
  const g = expandIPv6(ipv6);
  if (!g) return undefined;
  if (g[0]! >>> 8 === 0xff) return undefined; // multicast
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0) return undefined; // ::/64
  const [a, b, c, d] = [g[4]!, g[5]!, g[6]!, g[7]!];
  if ((b & 0xff) !== 0xff || c >>> 8 !== 0xfe) return undefined;
  const bytes = [(a >>> 8) ^ 0x02, a & 0xff, b >>> 8, c & 0xff, d >>> 8, d & 0xff];
  return bytes.map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/**
 * The SLAAC (EUI-64) address a NIC forms on a /64: `slaacAddress('fd00:1:2:3::/64',
 * '52:54:00:12:34:56')` → `fd00:1:2:3:5054:ff:fe12:3456`. The prefix may be
 * written without `/64`; any other length is refused (SLAAC needs a /64). Bits
 * after the first 64 of the prefix are ignored.
 */
export function slaacAddress(prefix: string, mac: string): string {
  const [addr, len, extra] = prefix.trim().split('/');
  if (extra !== undefined || (len !== undefined && len !== '64')) {
    throw new UcloudError('VALIDATION_FAILED', `SLAAC needs a /64 prefix, not ${JSON.stringify(prefix)}`);
  }
  const g = addr === undefined || addr.includes('%') ? undefined : expandIPv6(addr);
  if (!g) throw new UcloudError('VALIDATION_FAILED', `not an IPv6 prefix: ${JSON.stringify(prefix)}`);
  return formatIPv6([...g.slice(0, 4), ...interfaceIdGroups(mac)]);
}

/** The link-local address (fe80::/64) a NIC forms from its MAC. */
export function linkLocalAddress(mac: string): string {
  return slaacAddress('fe80::/64', mac);
}
