import { describe, expect, it } from 'vitest';
import { canonicalCidr, withoutCovered } from '../../src/host/network/hostfw.js';

// nft refuses an interval-set element that overlaps one already there ("interval
// overlaps with an existing one"): etcd's address inside the underlay's /64 made
// every NIC set-up on a routed host fail.
describe('underlay_nets elements', () => {
  it('keeps only the prefixes no other one covers', () => {
    const nets = ['fd00:1::/64', 'fd00:1::1/128', 'fd00:2::/64', '2001:db8::5/128', 'fd00:1::/64'].map(canonicalCidr);
    expect(withoutCovered(nets).sort()).toEqual(['2001:db8::5/128', 'fd00:1::/64', 'fd00:2::/64']);
    expect(withoutCovered(['fd00:1::/64', 'fd00::/16'])).toEqual(['fd00::/16']);
    expect(withoutCovered(['::/0', 'fd00::/16'])).toEqual(['::/0']);
    expect(withoutCovered(['fd00:1::1/128', 'fd00:1::2/128'])).toEqual(['fd00:1::1/128', 'fd00:1::2/128']);
  });
});
