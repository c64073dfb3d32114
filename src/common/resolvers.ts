// DNS resolvers for guests: a network's own list, else the cluster default
// (config `dns_resolvers`). radvd advertises them as RDNSS and vendor-data
// writes them into the guest's resolver configuration, so both read them here.

import { UcloudError } from './errors.js';
import { formatIPv6, parseIPv6 } from './ipv6.js';

/**
 * At most three: what RDNSS practice and glibc's resolv.conf (MAXNS 3) use;
 * a fourth would be advertised but never asked.
 */
export const MAX_RESOLVERS = 3;

/** Address ranges a guest can never use as a resolver (no zone in RDNSS or resolv.conf for link-local). */
const NOT_RESOLVERS: { base: bigint; bits: number; what: string }[] = [
  { base: 0n, bits: 128, what: 'the unspecified address' },
  { base: 1n, bits: 128, what: 'loopback' },
  { base: 0xffffn << 32n, bits: 96, what: 'IPv4-mapped' },
  { base: 0xff00n << 112n, bits: 8, what: 'multicast' },
  { base: 0xfe80n << 112n, bits: 10, what: 'link-local' },
];

function inRange(v: bigint, r: { base: bigint; bits: number }): boolean {
  const shift = BigInt(128 - r.bits);
  return v >> shift === r.base >> shift;
}

/**
 * Checks a list of resolver addresses and returns them canonical (RFC 5952)
 * without repeats, in the order given. `code` is INVALID_RESOLVER for a
 * request and INVALID_CONFIG for the configuration file.
 */
export function checkResolvers(list: readonly string[], code: 'INVALID_RESOLVER' | 'INVALID_CONFIG' = 'INVALID_RESOLVER', field = 'resolvers'): string[] {
  const out: string[] = [];
  for (const text of list) {
    let v: bigint;
    try {
      v = parseIPv6(text.trim());
    } catch {
      throw new UcloudError(code, `${field}: ${JSON.stringify(text)} is not an IPv6 address`, { details: { field, value: text } });
    }
    const bad = NOT_RESOLVERS.find((r) => inRange(v, r));
    if (bad) throw new UcloudError(code, `${field}: ${text} is ${bad.what}, not a resolver a guest can reach`, { details: { field, value: text } });
    const canonical = formatIPv6(v);
    if (!out.includes(canonical)) out.push(canonical);
  }
  if (out.length > MAX_RESOLVERS) {
    throw new UcloudError(code, `${field}: ${out.length} resolvers given, at most ${MAX_RESOLVERS}`, { details: { field, count: out.length } });
  }
  return out;
}

/**
 * The resolvers guests on `network` use: its own list when it has one (an
 * empty list means none, not the default), else the cluster default.
 */
export function resolversOf(network: { resolvers?: string[] | undefined }, defaults: readonly string[]): string[] {
  return [...(network.resolvers ?? defaults)];
}
