// One Linux bridge per network on each host: the VXLAN port and the VMs' taps
// are its ports; it carries fe80::1 (the router and metadata address every VM
// reaches on its link) and optionally <prefix>::1.

import { randomBytes } from 'node:crypto';
import { UcloudError } from '../../common/errors.js';
import { canonicalIPv6, checkIfname, normaliseMac, randomLocalMac } from './addr.js';
import type { Ip, IpLink } from './ip.js';

/** Every VM's router / metadata server, on every network's link. */
export const METADATA_LINK_LOCAL = 'fe80::1';

export interface EnsureBridgeOptions {
  /** A global address for the host on this link, e.g. `fd00:1:2:3::1/64` (added with nodad). */
  globalAddress?: string;
  /** The bridge's MAC (gatewayMac: the same on every host); set in place when it differs. Default: a random local one at creation. */
  mac?: string;
}

const WANTED = { stp_state: 0, forward_delay: 0, mcast_snooping: 0 } as const;

/**
 * Makes (or checks) a bridge set up the way VM networks need it:
 *
 * - `stp_state 0 forward_delay 0`: ports forward at once (no 15 s listening).
 * - `mcast_snooping 0`: without an MLD querier on the overlay the bridge's
 *   snooping table goes stale and stops flooding solicited-node multicast to a
 *   port, which breaks neighbour discovery; VM networks are small, flood.
 * - its own locally administered MAC, set explicitly (the network's gateway
 *   MAC, addr.ts gatewayMac, when given): otherwise the kernel gives the
 *   bridge the lowest port MAC, i.e. a VM's MAC (and the bridge then
 *   auto-configures that VM's SLAAC address, stealing it).
 * - `addrgenmode none`, `accept_ra 0`, `autoconf 0`: the only addresses are the
 *   ones we add, so radvd's source is exactly fe80::1 and RAs arriving from
 *   other hosts never configure anything here.
 * - addresses with `nodad`, so servers can bind before any VM brings carrier.
 *
 * Idempotent: an existing bridge is adjusted in place, never recreated.
 */
export async function ensureBridge(ip: Ip, name: string, opts: EnsureBridgeOptions = {}): Promise<IpLink> {
  checkIfname(name);
  let link = await ip.linkShow(name);
  if (link && link.linkinfo?.info_kind !== 'bridge') {
    throw new UcloudError('CONFLICT', `interface ${name} exists and is not a bridge (${link.linkinfo?.info_kind ?? 'unknown kind'})`, {
      hint: 'rename or remove the interface; ucloud owns the names of its network bridges',
      details: { ifname: name },
    });
  }
  if (!link) {
    await ip.ip([
      'link', 'add', 'name', name, 'address', opts.mac ? normaliseMac(opts.mac) : randomLocalMac(randomBytes(6)), 'type', 'bridge',
      'stp_state', '0', 'forward_delay', '0', 'mcast_snooping', '0',
    ]);
  } else {
    const data = link.linkinfo?.info_data ?? {};
    const fix = Object.entries(WANTED).filter(([k, v]) => data[k] !== v);
    if (fix.length) await ip.linkSet(name, ['type', 'bridge', ...fix.flatMap(([k, v]) => [k, String(v)])]);
    // A bridge from before gateway MACs: its guests re-learn fe80::1 from the next RA (its source link-layer option).
    if (opts.mac && link.address !== normaliseMac(opts.mac)) await ip.linkSet(name, ['address', normaliseMac(opts.mac)]);
  }
  if (link?.inet6_addr_gen_mode !== 'none') await ip.linkSet(name, ['addrgenmode', 'none']);
  await ip.setSysctl(`net/ipv6/conf/${name}/accept_ra`, 0);
  await ip.setSysctl(`net/ipv6/conf/${name}/autoconf`, 0);
  await ip.addrAdd(name, `${METADATA_LINK_LOCAL}/64`, { nodad: true });
  if (opts.globalAddress) {
    await ip.addrAdd(name, opts.globalAddress, { nodad: true });
    // The bridge is ours: a global address of an earlier prefix goes.
    const want = canonicalIPv6(opts.globalAddress.split('/')[0] as string);
    for (const a of await ip.addrList(name)) {
      if (a.family === 'inet6' && a.scope === 'global' && canonicalIPv6(a.local) !== want) {
        await ip.ip(['addr', 'del', `${a.local}/${a.prefixlen}`, 'dev', name]);
      }
    }
  }
  if (!link?.flags.includes('UP')) await ip.linkSetUp(name);
  link = await ip.linkShow(name);
  if (!link) throw new UcloudError('INTERNAL', `bridge ${name} vanished while being set up`);
  return link;
}

/** Deletes the bridge (its ports are released, not deleted). Missing is fine. */
export async function removeBridge(ip: Ip, name: string): Promise<boolean> {
  return ip.linkDel(checkIfname(name));
}
