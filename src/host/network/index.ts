// A host's side of ucloud networking, composed from one small wrapper per
// kernel object: per network a bridge, a VXLAN port and a radvd; per NIC a tap
// with anti-spoofing rules; for the host itself a firewall towards the bridges
// (hostfw.ts). Every method is idempotent and compares before it
// changes anything, so the agent can call it again after a restart without
// disturbing running VMs: nothing that already matches is deleted or
// recreated, and radvd is restarted only when its config changed.

import { Serial } from '../../common/serial.js';
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Reverter } from '../../common/reverter.js';
import { UcloudError } from '../../common/errors.js';
import { silentLogger, type Logger } from '../../common/logger.js';
import { addressInPrefix, canonicalIPv6, checkIfname, checkVni, gatewayMac, parsePrefix64 } from './addr.js';
import { addUplink, ensureFilterTable, ensureNicFilter, nicChainName, readFilterTable, removeNicFilter, removeUplink } from './antispoof.js';
import { ensureBird, stopBird, type BirdConfig, type BirdState } from './bird.js';
import { ensureBridge, METADATA_LINK_LOCAL, removeBridge } from './bridge.js';
import { canonicalCidr, closeMigrationPort, ensureHostFirewall, ensureNetworkFirewall, openMigrationPort, readHostFirewall, removeNetworkFirewall, type HostFirewallOptions, type PortRange } from './hostfw.js';
import { Ip, type IpAddr } from './ip.js';
import { ensureRadvd, radvdPid, stopRadvd } from './radvd.js';
import { ensureTap, removeTap, tapMacFor } from './tap.js';
import { ensureVxlan, removeVxlan, vxlanName } from './vxlan.js';

/** Every VM network's bridge is `ucbr<VNI>`. */
const BRIDGE_PREFIX = 'ucbr';
const VM_BRIDGE = new RegExp(`^${BRIDGE_PREFIX}\\d+$`);

export { METADATA_LINK_LOCAL } from './bridge.js';
export { tapMacFor } from './tap.js';
export { vxlanName, defaultGroup } from './vxlan.js';

export interface HostNetworkOptions {
  /** Directory for radvd's config, pid and log files. */
  runDir: string;
  /** Underlay device that carries VXLAN (e.g. `eth0`). */
  underlay: string;
  /**
   * This host's IPv6 address on the underlay. Used as the VXLAN source; needed
   * for unicast peers. Default: the first global address of `underlay`.
   */
  underlayAddress?: string;
  /** The metadata server's port (`metadata_port`), the one TCP port guests may reach on the host; default 80. */
  metadataPort?: number;
  /** Where incoming migrations listen (`migration_ports`), closed to all but each one's source host; default 49152-49407. */
  migrationPorts?: PortRange;
  /** Run everything in this named network namespace (tests: one per fake host). */
  netns?: string;
  /**
   * route_mode static or bgp (absent: off, no network is routed). `routed`
   * says whether a network is (asked once when the network is set up here);
   * `bgp`: how this host's BIRD announces its VMs (see announce).
   */
  routing?: HostRouting;
  log?: Logger;
}

export interface HostRouting {
  routed: (vni: number) => Promise<boolean>;
  /**
   * IPv6 prefixes (CIDR) packets routed from VM networks may not reach, on
   * top of the underlay's own (`routed_protected_prefixes`, plus etcd's and
   * the API's addresses when they are IPv6 literals).
   */
  protectedPrefixes?: readonly string[];
  bgp?: Omit<BirdConfig, 'addresses'>;
}

export interface EnsureNetworkOptions {
  vni: number;
  /** The network's /64, e.g. `fd00:1:2:3::/64`. */
  prefix: string;
  /** Unicast mode: the underlay addresses of the other hosts with this network. Default: multicast group ff05::<vni hex>. */
  peers?: string[];
  /** DNS resolvers radvd advertises (RDNSS); none: no RDNSS. A changed list restarts radvd. */
  resolvers?: readonly string[];
  /** Routed (only with `routing`); absent: as `routing.routed` says. */
  routed?: boolean;
}

export interface NetworkState {
  vni: number;
  bridge: string;
  vxlan: string;
  prefix: string;
  routed: boolean;
  /** The overlay MTU advertised to guests. */
  mtu: number;
  radvdPid: number;
  /** What this call created or restarted (empty when everything already matched). */
  changed: string[];
}

export interface EnsureNicOptions {
  vni: number;
  /** The tap's name, as QEMU's `-netdev tap,ifname=` gets it. */
  ifname: string;
  /** The guest's MAC. */
  mac: string;
  /** The guest's allowed IPv6 sources (fe80::<EUI-64>, <prefix>::<EUI-64>); `::` is always allowed. */
  allowedSources: string[];
}

export interface NicState {
  ifname: string;
  ifindex: number;
  bridge: string;
  /** The tap's own MAC (not the guest's). */
  tapMac: string;
  changed: string[];
}

export class HostNetwork {
  private readonly ip: Ip;
  private readonly log: Logger;
  /** One change at a time: check-then-act on shared kernel state must not interleave. */
  private readonly changes = new Serial();
  /**
   * BIRD's own (announce, stopAnnouncing): it touches no kernel object, and a
   * migrated VM's withdrawal must not wait behind the teardown of its taps
   * and network that follows the switch-over on the same host.
   */
  private readonly bird = new Serial();

  constructor(private readonly opts: HostNetworkOptions) {
    checkIfname(opts.underlay);
    this.ip = new Ip(opts.netns);
    this.log = opts.log ?? silentLogger;
  }

  bridgeName(vni: number): string {
    return `${BRIDGE_PREFIX}${checkVni(vni)}`;
  }

  vxlanName(vni: number): string {
    return vxlanName(vni);
  }

  /**
   * The VXLAN source: explicit, else the one the existing device uses if still
   * ours, else the first global address of the underlay. Used whenever there is
   * one (it pins what the host sends from); required only in unicast mode. It
   * does not narrow what the kernel's VXLAN socket accepts (that stays bound to
   * [::]:4789): the firewall (hostfw.ts) does that.
   */
  private async underlayLocal(vni: number, required: boolean): Promise<string | undefined> {
    if (this.opts.underlayAddress) return canonicalIPv6(this.opts.underlayAddress);
    const addrs = (await this.ip.addrList(this.opts.underlay))
      .filter((a) => a.family === 'inet6' && a.scope === 'global' && !a.tentative && !a.dadfailed)
      .map((a) => canonicalIPv6(a.local));
    const existing = (await this.ip.linkShow(vxlanName(vni)))?.linkinfo?.info_data?.local6;
    if (typeof existing === 'string' && addrs.includes(canonicalIPv6(existing))) return canonicalIPv6(existing);
    if (!addrs[0]) {
      if (!required) return undefined; // e.g. `lo` on a single machine
      throw new UcloudError('PREFLIGHT_FAILED', `underlay ${this.opts.underlay} has no global IPv6 address for VXLAN`, {
        hint: 'give the underlay interface a global IPv6 address, or configure the host\'s underlay address',
      });
    }
    return addrs[0];
  }

  /** Bridge + VXLAN + radvd for one network on this host. */
  ensureNetwork(o: EnsureNetworkOptions): Promise<NetworkState> {
    return this.changes.run(() => new Reverter(this.log).run((undo) => this.doEnsureNetwork(o, undo)));
  }

  private async doEnsureNetwork(o: EnsureNetworkOptions, undo: Reverter): Promise<NetworkState> {
    const vni = checkVni(o.vni);
    const prefix = parsePrefix64(o.prefix);
    const bridge = this.bridgeName(vni);
    const vx = vxlanName(vni);
    const changed: string[] = [];
    const routing = this.opts.routing;
    const routed = routing !== undefined && (o.routed ?? (await routing.routed(vni)));

    // The VXLAN port is in the uplinks set before it ever joins the bridge.
    const table = await ensureFilterTable(this.ip);
    if (!table.uplinks.has(vx)) {
      await addUplink(this.ip, vx);
      undo.add(`uplink ${vx}`, () => removeUplink(this.ip, vx));
    }
    // The host's firewall covers the bridge before it exists: from its first
    // frame, a VM reaches nothing of the host but ND and the metadata service.
    const hadFirewall = (await readHostFirewall(this.ip))?.bridges.has(bridge) ?? false;
    await ensureHostFirewall(this.ip, { ...this.firewallOptions(), ...(routing ? { underlayNets: await this.underlayNets() } : {}) });
    await ensureNetworkFirewall(this.ip, { bridge, metadataAddresses: [METADATA_LINK_LOCAL, addressInPrefix(prefix, 1n)], routed });
    // Only once the firewall keeps isolated bridges out of the forward path.
    if (routed) await this.ensureForwarding();
    else if (routing) await this.releaseForwarding();
    if (!hadFirewall) undo.add(`firewall ${bridge}`, () => removeNetworkFirewall(this.ip, bridge));

    const bridgeExisted = await this.ip.linkExists(bridge);
    await ensureBridge(this.ip, bridge, { globalAddress: `${addressInPrefix(prefix, 1n)}/64`, mac: gatewayMac(vni) });
    if (!bridgeExisted) {
      changed.push('bridge');
      undo.add(`bridge ${bridge}`, () => removeBridge(this.ip, bridge));
    }

    const vxExisted = await this.ip.linkExists(vx);
    const local = await this.underlayLocal(vni, o.peers !== undefined);
    const vxState = await ensureVxlan(this.ip, {
      vni,
      device: this.opts.underlay,
      master: bridge,
      ...(local ? { local } : {}),
      ...(o.peers !== undefined ? { peers: o.peers } : {}),
    });
    if (!vxExisted || vxState.recreated) {
      changed.push(vxState.recreated ? 'vxlan(recreated)' : 'vxlan');
      undo.add(`vxlan ${vx}`, () => removeVxlan(this.ip, vni));
    }

    const mtu = vxState.link.mtu;
    const radvd = await ensureRadvd(this.ip, { runDir: this.opts.runDir, vni, interface: bridge, prefix: prefix.cidr, mtu, routed, ...(o.resolvers ? { resolvers: o.resolvers } : {}) });
    if (radvd.started) {
      changed.push('radvd');
      undo.add(`radvd ${vni}`, () => stopRadvd(this.opts.runDir, vni));
    }

    const state: NetworkState = { vni, bridge, vxlan: vx, prefix: prefix.cidr, routed, mtu, radvdPid: radvd.pid, changed };
    if (changed.length) this.log.info({ vni, bridge, prefix: prefix.cidr, routed, changed, peers: vxState.peers }, 'network ready');
    else this.log.debug({ vni }, 'network already as wanted');
    return state;
  }

  /** Stops radvd and deletes the VXLAN port and the bridge. Missing pieces are fine. */
  removeNetwork(vni: number): Promise<void> {
    return this.changes.run(async () => {
      checkVni(vni);
      const vx = vxlanName(vni);
      await stopRadvd(this.opts.runDir, vni, { removeFiles: true });
      await removeVxlan(this.ip, vni);
      await removeUplink(this.ip, vx);
      await removeBridge(this.ip, this.bridgeName(vni));
      await removeNetworkFirewall(this.ip, this.bridgeName(vni));
      if (this.opts.routing) await this.releaseForwarding();
      this.log.info({ vni }, 'network removed');
    });
  }

  /** A tap on the network's bridge with its anti-spoofing rules (rules first). */
  ensureNic(o: EnsureNicOptions): Promise<NicState> {
    return this.changes.run(() => new Reverter(this.log).run((undo) => this.doEnsureNic(o, undo)));
  }

  private async doEnsureNic(o: EnsureNicOptions, undo: Reverter): Promise<NicState> {
    const vni = checkVni(o.vni);
    const ifname = checkIfname(o.ifname);
    const bridge = this.bridgeName(vni);
    if (!(await this.ip.linkExists(bridge))) {
      throw new UcloudError('NETWORK_NOT_FOUND', `network VNI ${vni} is not set up on this host (no ${bridge})`, {
        hint: 'the host agent sets up the network (ensureNetwork) before its NICs',
      });
    }
    const changed: string[] = [];
    const hadChain = (await readFilterTable(this.ip))?.chains.has(nicChainName(ifname)) ?? false;
    if (await ensureNicFilter(this.ip, { ifname, mac: o.mac, allowedSources: o.allowedSources })) {
      changed.push('filter');
      if (!hadChain) undo.add(`filter ${ifname}`, () => removeNicFilter(this.ip, ifname));
    }
    const tap = await ensureTap(this.ip, { ifname, mac: o.mac, bridge });
    if (tap.created) {
      changed.push('tap');
      undo.add(`tap ${ifname}`, () => removeTap(this.ip, ifname));
    }
    if (changed.length) this.log.info({ vni, ifname, mac: o.mac, changed }, 'nic ready');
    return { ifname, ifindex: tap.link.ifindex, bridge, tapMac: tapMacFor(o.mac), changed };
  }

  private firewallOptions(): HostFirewallOptions {
    return { underlay: this.opts.underlay, routing: this.opts.routing !== undefined, ...(this.opts.metadataPort ? { metadataPort: this.opts.metadataPort } : {}), ...(this.opts.migrationPorts ? { migrationPorts: this.opts.migrationPorts } : {}) };
  }

  /** A port of the migration range: open to `source` (the source host's address) only, until closeMigrationPort. */
  openMigrationPort(source: string, port: number): Promise<void> {
    return this.changes.run(async () => {
      await ensureHostFirewall(this.ip, this.firewallOptions());
      await openMigrationPort(this.ip, source, port);
    });
  }

  closeMigrationPort(port: number): Promise<void> {
    return this.changes.run(async () => {
      await closeMigrationPort(this.ip, port);
    });
  }

  /** Deletes the tap, then its rules (never a moment with the tap up and unfiltered). */
  removeNic(ifname: string): Promise<void> {
    return this.changes.run(async () => {
      checkIfname(ifname);
      await removeTap(this.ip, ifname);
      await removeNicFilter(this.ip, ifname);
      this.log.info({ ifname }, 'nic removed');
    });
  }

  /**
   * What packets routed from a VM network may not reach: the prefixes of this
   * host's global addresses on every interface but the VM networks' bridges —
   * the underlay, and as much a management LAN or a BMC network the host sits
   * on, which a guest would otherwise reach through it — and
   * routed_protected_prefixes. (The host's own addresses are the input chain's.)
   */
  private async underlayNets(): Promise<string[]> {
    const rows = await this.ip.json<{ ifname: string; addr_info?: IpAddr[] }[]>(['-6', 'addr', 'show', 'scope', 'global']);
    const addrs = rows.filter((r) => !VM_BRIDGE.test(r.ifname)).flatMap((r) => r.addr_info ?? []).filter((a) => a.family === 'inet6' && a.scope === 'global');
    const extra = this.opts.routing?.protectedPrefixes ?? [];
    return [...new Set([...addrs.map((a) => `${a.local}/${a.prefixlen}`), ...extra].map(canonicalCidr))];
  }

  /** Present while IPv6 forwarding is on because ucloud turned it on (not the operator). */
  private get forwardingMarker(): string {
    return join(this.opts.runDir, 'forwarding-on');
  }

  /**
   * IPv6 forwarding for the whole namespace (the kernel forwards per packet by
   * `all`; the firewall's forward chain decides which bridges take part). A
   * forwarding host ignores router advertisements on interfaces with
   * accept_ra 1, so the underlay and the default route's interfaces get 2.
   * Turned off again (releaseForwarding) when the last routed network goes,
   * unless it was on before ucloud turned it on.
   */
  private async ensureForwarding(): Promise<void> {
    if ((await this.ip.getSysctl('net/ipv6/conf/all/forwarding')) === '1') return;
    // Interfaces that take their default route from RAs keep taking it (2:
    // even while forwarding); an operator's 0 stays 0.
    const ifaces = new Set([this.opts.underlay, ...(await this.ip.json<{ dev?: string }[]>(['-6', 'route', 'show', 'default'])).flatMap((r) => (r.dev ? [r.dev] : []))]);
    for (const dev of ifaces) {
      if (dev === 'lo' || !(await this.ip.linkExists(dev))) continue;
      if ((await this.ip.getSysctl(`net/ipv6/conf/${dev}/accept_ra`)) === '1') await this.ip.setSysctl(`net/ipv6/conf/${dev}/accept_ra`, 2);
    }
    await mkdir(this.opts.runDir, { recursive: true });
    await writeFile(this.forwardingMarker, '');
    await this.ip.setSysctl('net/ipv6/conf/all/forwarding', 1);
    this.log.info({ acceptRa2: [...ifaces] }, 'IPv6 forwarding on (route_mode)');
  }

  /** Forwarding off again once no routed network is left here, if ucloud turned it on. */
  private async releaseForwarding(): Promise<void> {
    if ((await readHostFirewall(this.ip))?.routed.size) return;
    if (!(await stat(this.forwardingMarker).then(() => true, () => false))) return;
    await this.ip.setSysctl('net/ipv6/conf/all/forwarding', 0);
    await rm(this.forwardingMarker, { force: true });
    this.log.info({}, 'IPv6 forwarding off (no routed network left)');
  }

  /**
   * route_mode bgp: makes this host's BIRD announce exactly `addresses` (a
   * /128 each: the running VM NICs on routed networks here), starting it or
   * reloading its config as needed. Without bgp: nothing to do.
   */
  announce(addresses: readonly string[]): Promise<BirdState | undefined> {
    return this.bird.run(async () => {
      const bgp = this.opts.routing?.bgp;
      if (!bgp) return undefined;
      const state = await ensureBird(this.ip, { runDir: this.opts.runDir, ...bgp, addresses });
      if (state.action !== 'none') this.log.info({ action: state.action, addresses: addresses.length }, 'BGP announcements updated');
      return state;
    });
  }

  /** Stops BIRD: the upstream drops every route of this host. */
  stopAnnouncing(): Promise<boolean> {
    return this.bird.run(() => stopBird(this.opts.runDir));
  }

  /** The pid of the network's radvd, if it runs. */
  radvdPid(vni: number): Promise<number | undefined> {
    return radvdPid(this.opts.runDir, vni);
  }
}
