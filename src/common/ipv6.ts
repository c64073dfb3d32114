// IPv6 text <-> 128-bit values, one implementation for the whole project:
// parse any textual form, print the canonical RFC 5952 form (what `ip -j`
// prints), so addresses compare as values instead of strings.
import { isIPv6 } from 'node:net';
import { UcloudError } from './errors.js';

/** Parses an IPv6 address (no zone, no prefix length) into its 128-bit value. */
export function parseIPv6(text: string): bigint {
  if (!isIPv6(text) || text.includes('%')) throw new UcloudError('VALIDATION_FAILED', `not an IPv6 address: ${JSON.stringify(text)}`);
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
