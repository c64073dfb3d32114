// One persistent tap per VM NIC, made before QEMU starts; QEMU opens it by name
// (`-netdev tap,ifname=<if>,script=no,downscript=no`) and it outlives QEMU
// until removed, so a restarted agent finds it as it was.

import { UcloudError } from '../../common/errors.js';
import { checkIfname, normaliseMac } from './addr.js';
import type { Ip, IpLink } from './ip.js';

/**
 * The host end's own MAC: the guest's MAC with the first octet replaced by
 * 0xfe (libvirt's convention). It must differ from the guest's MAC, or the
 * bridge would take frames for the VM as its own; it is never a source of
 * frames (the tap has no addresses), and 0xfe is high so it is never a
 * candidate for anything that picks the lowest MAC.
 */
export function tapMacFor(guestMac: string): string {
  return `fe${normaliseMac(guestMac).slice(2)}`;
}

export interface EnsureTapOptions {
  ifname: string;
  /** The guest's MAC (QEMU's `-device …,mac=`); the tap itself gets tapMacFor(mac). */
  mac: string;
  bridge: string;
  /** Default: the bridge's MTU, so a tap never lowers or exceeds the overlay's. */
  mtu?: number;
}

export interface TapState {
  link: IpLink;
  created: boolean;
}

/**
 * Makes (or checks) a tap that is a port of `bridge`, up, without IPv6
 * addresses of its own. An existing tap is adjusted in place (master, MAC,
 * MTU, up), never recreated: QEMU may be holding it.
 */
export async function ensureTap(ip: Ip, opts: EnsureTapOptions): Promise<TapState> {
  const ifname = checkIfname(opts.ifname);
  checkIfname(opts.bridge);
  const mac = tapMacFor(opts.mac);
  const bridge = await ip.linkShow(opts.bridge);
  if (!bridge) throw new UcloudError('NOT_FOUND', `bridge ${opts.bridge} does not exist`, { details: { bridge: opts.bridge } });
  const mtu = opts.mtu ?? bridge.mtu;

  let link = await ip.linkShow(ifname);
  let created = false;
  if (link && !(link.linkinfo?.info_kind === 'tun' && link.linkinfo.info_data?.type === 'tap')) {
    throw new UcloudError('CONFLICT', `interface ${ifname} exists and is not a tap`, {
      hint: 'rename or remove the interface; ucloud owns the names of its taps',
      details: { ifname, kind: link.linkinfo?.info_kind },
    });
  }
  if (!link) {
    await ip.ip(['tuntap', 'add', 'dev', ifname, 'mode', 'tap']);
    created = true;
    link = await ip.linkShow(ifname);
    if (!link) throw new UcloudError('INTERNAL', `tap ${ifname} vanished while being set up`);
  }
  // Before it goes up, on its own: in one request the kernel applies the
  // flags (up) before the per-family settings.
  if (link.inet6_addr_gen_mode !== 'none' && !link.flags.includes('UP')) await ip.linkSet(ifname, ['addrgenmode', 'none']);
  const set: string[] = [];
  if (link.address !== mac) set.push('address', mac);
  if (link.mtu !== mtu) set.push('mtu', String(mtu));
  if (link.master !== opts.bridge) set.push('master', opts.bridge);
  if (!link.flags.includes('UP')) set.push('up');
  if (set.length) await ip.linkSet(ifname, set);
  link = await ip.linkShow(ifname);
  if (!link) throw new UcloudError('INTERNAL', `tap ${ifname} vanished while being set up`);
  return { link, created };
}

/** Deletes the tap (QEMU, if still running, loses its NIC's backend). Missing is fine. */
export async function removeTap(ip: Ip, ifname: string): Promise<boolean> {
  return ip.linkDel(checkIfname(ifname));
}
