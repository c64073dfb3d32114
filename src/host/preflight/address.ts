import { existsSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { canonicalIPv6 } from '../../common/ipv6.js';
import { CheckFailed, type Check } from '../../common/preflight.js';

// host_address is what other hosts migrate to and the VXLAN source; a typo
// there shows up only at the first migration, so it is checked up front.

/** host_address is configured on an interface of this host (its network namespace), and vxlan_underlay exists. */
export const hostAddress: Check = {
  name: 'host address',
  async run(c) {
    let address: string;
    try {
      address = canonicalIPv6(c.hostAddress);
    } catch {
      throw new CheckFailed(`host_address "${c.hostAddress}" is not an IPv6 address`, "set host_address to this host's underlay IPv6 address");
    }
    const mine = Object.entries(networkInterfaces()).flatMap(([ifname, addrs]) => (addrs ?? []).filter((a) => a.family === 'IPv6').map((a) => ({ ifname, address: canonicalIPv6(a.address.replace(/%.*$/, '')), internal: a.internal })));
    const global = mine.filter((a) => !a.internal && !a.address.startsWith('fe80:'));
    const found = mine.find((a) => a.address === address);
    if (!found) {
      throw new CheckFailed(
        `host_address ${address} is on no interface of this host`,
        `add it to the underlay interface (ip -6 addr add ${address}/64 dev ${c.vxlanUnderlay}) or set host_address to one of this host's addresses${global.length ? ` (${global.map((a) => `${a.address} on ${a.ifname}`).join(', ')})` : ''}`,
      );
    }
    if (found.internal) throw new CheckFailed(`host_address ${address} is a loopback address: other hosts cannot reach it`, "set host_address to this host's underlay IPv6 address");
    if (!existsSync(`/sys/class/net/${c.vxlanUnderlay}`)) throw new CheckFailed(`vxlan_underlay ${c.vxlanUnderlay} is no interface of this host`, `set vxlan_underlay to the interface that carries host_address (${found.ifname})`);
    return `${address} on ${found.ifname}`;
  },
};
