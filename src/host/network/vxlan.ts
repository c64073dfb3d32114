// The VXLAN device that joins one network's bridges across hosts. Either
// multicast (an IPv6 group per VNI, `ff05::<vni hex>`, MLD-joined on the
// underlay device) or unicast (head-end replication: one all-zero fdb entry
// per peer host, `00:00:00:00:00:00 dst <peer>`).

import { UcloudError } from '../../common/errors.js';
import { canonicalIPv6, checkIfname, checkVni, formatIPv6, parseIPv6 } from './addr.js';
import type { Ip, IpLink } from './ip.js';

export const VXLAN_PORT = 4789;
const ZERO_MAC = '00:00:00:00:00:00';

export function vxlanName(vni: number): string {
  return `vx${checkVni(vni)}`;
}

/** `ff05::<vni in hex>`, e.g. VNI 100 → ff05::64, VNI 0x123456 → ff05::12:3456. */
export function defaultGroup(vni: number): string {
  return formatIPv6((0xff05n << 112n) | BigInt(checkVni(vni)));
}

export interface EnsureVxlanOptions {
  vni: number;
  /** Underlay device (carries the UDP packets). */
  device: string;
  /** Multicast group; default `ff05::<vni hex>`. Ignored in unicast mode. */
  group?: string;
  /**
   * Unicast mode when given (even empty): the other hosts' underlay addresses.
   * Entries are added and removed so that exactly these remain.
   */
  peers?: string[];
  /**
   * Source address on the underlay. Required in unicast mode (the kernel picks
   * the socket's family from it; without it IPv6 fdb entries are refused with
   * EAFNOSUPPORT).
   */
  local?: string;
  port?: number;
  /** Bridge to enslave the device to. */
  master: string;
}

export interface VxlanState {
  link: IpLink;
  /** True when an existing device did not match and was replaced. */
  recreated: boolean;
  peers: string[];
}

interface VxlanInfo {
  id?: number;
  group6?: string;
  local6?: string;
  link?: string;
  port?: number;
}

function mismatch(link: IpLink, want: { vni: number; device: string; group?: string; local?: string; port: number }): string | undefined {
  if (link.linkinfo?.info_kind !== 'vxlan') return `kind ${link.linkinfo?.info_kind ?? 'unknown'}`;
  const d = (link.linkinfo.info_data ?? {}) as VxlanInfo;
  if (d.id !== want.vni) return `vni ${d.id}`;
  if (d.port !== want.port) return `port ${d.port}`;
  if (d.link !== want.device) return `underlay ${d.link ?? 'none'}`;
  const group = d.group6 ? canonicalIPv6(d.group6) : undefined;
  if (group !== want.group) return `group ${group ?? 'none'}`;
  if (want.local && (!d.local6 || canonicalIPv6(d.local6) !== want.local)) return `local ${d.local6 ?? 'none'}`;
  return undefined;
}

/** The unicast flood list: dst of every all-zero fdb entry on the device. */
export async function listPeers(ip: Ip, ifname: string): Promise<string[]> {
  const { stdout } = await ip.bridge(['-j', 'fdb', 'show', 'dev', ifname]);
  const rows = (stdout.trim() ? JSON.parse(stdout) : []) as { mac?: string; dst?: string }[];
  return rows.filter((r) => r.mac === ZERO_MAC && r.dst).map((r) => canonicalIPv6(r.dst as string));
}

/** Adds/removes flood entries so the device floods to exactly `peers`. */
export async function setPeers(ip: Ip, ifname: string, peers: readonly string[]): Promise<string[]> {
  const want = [...new Set(peers.map(canonicalIPv6))];
  const have = await listPeers(ip, ifname);
  for (const p of want.filter((p) => !have.includes(p))) {
    await ip.bridge(['fdb', 'append', ZERO_MAC, 'dev', ifname, 'dst', p, 'self', 'permanent']);
  }
  for (const p of have.filter((p) => !want.includes(p))) {
    await ip.bridge(['fdb', 'del', ZERO_MAC, 'dev', ifname, 'dst', p, 'self']);
  }
  return want;
}

/**
 * Makes the network's VXLAN device and enslaves it to `master`. An existing
 * device that matches is left alone (peers are reconciled in place); one whose
 * VNI/group/underlay/port differs cannot be changed in place and is replaced.
 * The device gets no IPv6 addresses of its own (`addrgenmode none`): a bridge
 * port is a wire, not a host.
 */
export async function ensureVxlan(ip: Ip, opts: EnsureVxlanOptions): Promise<VxlanState> {
  const vni = checkVni(opts.vni);
  const name = vxlanName(vni);
  checkIfname(opts.device);
  checkIfname(opts.master);
  const port = opts.port ?? VXLAN_PORT;
  const unicast = opts.peers !== undefined;
  const group = unicast ? undefined : canonicalIPv6(opts.group ?? defaultGroup(vni));
  if (group !== undefined && parseIPv6(group) >> 120n !== 0xffn) {
    throw new UcloudError('VALIDATION_FAILED', `VXLAN group ${group} is not a multicast address`);
  }
  const local = opts.local ? canonicalIPv6(opts.local) : undefined;
  if (unicast && !local) {
    throw new UcloudError('VALIDATION_FAILED', `VXLAN ${name} in unicast mode needs the host's underlay IPv6 address (local)`);
  }

  let link = await ip.linkShow(name);
  let recreated = false;
  if (link) {
    const why = mismatch(link, { vni, device: opts.device, group, local, port });
    if (why) {
      await ip.linkDel(name);
      link = undefined;
      recreated = true;
    }
  }
  if (!link) {
    await ip.ip([
      'link', 'add', 'name', name, 'type', 'vxlan', 'id', String(vni), 'dev', opts.device, 'dstport', String(port),
      ...(group ? ['group', group] : []),
      ...(local ? ['local', local] : []),
    ]);
    await ip.linkSet(name, ['addrgenmode', 'none']);
    link = await ip.linkShow(name);
  } else if (link.inet6_addr_gen_mode !== 'none' && !link.flags.includes('UP')) {
    await ip.linkSet(name, ['addrgenmode', 'none']);
  }
  if (!link) throw new UcloudError('INTERNAL', `VXLAN ${name} vanished while being set up`);
  if (link.master !== opts.master) await ip.linkSet(name, ['master', opts.master]);
  if (!link.flags.includes('UP')) await ip.linkSetUp(name);
  const peers = unicast ? await setPeers(ip, name, opts.peers ?? []) : [];
  const final = await ip.linkShow(name);
  if (!final) throw new UcloudError('INTERNAL', `VXLAN ${name} vanished while being set up`);
  return { link: final, recreated, peers };
}

export async function removeVxlan(ip: Ip, vni: number): Promise<boolean> {
  return ip.linkDel(vxlanName(vni));
}
