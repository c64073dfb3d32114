// The host's own firewall towards VM networks: what a guest may send to the
// host itself (ND, the metadata service, replies), and that nothing it sends
// ever reaches a VXLAN socket (issue 7: a VM sending UDP 4789 with another
// network's VNI to any host address had its inner frame delivered onto that
// network's bridge).
//
// One nftables table, family `inet` (it sees IP packets at the host's own
// hooks; antispoof.ts's `bridge` table sees frames at the bridge ports):
//
//   table inet ucloud {
//     set bridges   { type ifname; }                  # every VM network's bridge
//     set bridged   { type ifname . ifname; }         # ucbrN . ucbrN (see forward)
//     set routed    { type ifname; }                  # the bridges of routed networks (issue 12)
//     set underlay_nets { type ipv6_addr; flags interval; } # the underlay's own prefixes (hosts, etcd, API)
//     set metadata  { type ifname . ipv6_addr; }      # ucbrN . fe80::1, ucbrN . <prefix>::1
//     set metadata_addrs { type ipv6_addr; }          # fe80::1 and every <prefix>::1 (the addresses of `metadata`)
//     set underlays { type ifname; }                  # where VXLAN may come from
//     set migration_peers { type ipv6_addr . inet_service; } # source host . port of each incoming migration
//     set vm_conns, vm_conn_rate, vm_echo_rate        # per-source meters (dynamic, keyed by ip6 saddr)
//     counter vm_vxlan {}                             # VXLAN from a VM, dropped
//     counter vm_echo_foreign {}                      # echo request from a VM to a host address not its bridge's own, dropped
//     counter vm_conn_limited, vm_rate_limited {}     # over a per-source meter, dropped
//     counter vm_dropped {}                           # anything else from a VM to the host, dropped
//     counter outside_metadata {}                     # to a bridge address (gateway, metadata) from elsewhere, dropped
//     counter migration_refused {}                    # new connection to the migration port range not from its peer, reset
//     counter isolated_forward {}                     # routed into or out of an isolated network, dropped
//     counter vm_to_underlay {}                       # routed from a VM network to the underlay's prefixes, dropped
//     counter unrouted_forward {}                     # route_mode on: routed neither into nor out of a routed network, dropped
//     chain raw-prerouting { hook prerouting priority raw:  from a bridge, not for the bridge itself → notrack }
//     chain input          { hook input priority filter:    from a bridge → from-vm; metadata port on a bridge
//                            address, or any port on a <prefix>::1, from anywhere but lo → drop; VXLAN only from an underlay;
//                            new TCP to migration_ports (a range) not in @migration_peers, but lo → reset }
//     chain forward        { hook forward priority filter:  bridged within one network → accept; routed into or out
//                            of a bridge not in @routed → drop; routed from a bridge → from-vm-routed;
//                            route_mode on: neither into nor out of @routed → drop }
//     chain from-vm        { VXLAN drop; ND/RS; TCP metadata_port to (bridge . own address) in @metadata, metered;
//                            echo-request to (bridge . own address) in @metadata, metered;
//                            replies to the host's own connections (ct established,related); everything else drop }
//     chain from-vm-routed { to @underlay_nets drop; VXLAN drop; to another VM network drop }
//   }
//
// Why `inet` input and not the bridge table: a packet from a VM to *any* host
// address (fe80::1, another network's <prefix>::1, the underlay address,
// "routed" through fe80::1's MAC) is delivered locally and passes the input
// hook with iifname = the VM's bridge. The kernel's VXLAN socket is bound to
// [::]:4789 whatever `local`/`dev` the devices have (one shared socket per
// port), so the firewall is what keeps VMs away from it.
//
// Conntrack: the `ct state` rule turns conntrack on in the namespace, and with
// br_netfilter (bridge-nf-call-ip6tables=1, the default where the module is
// built in) bridged VM-to-VM packets pass the inet hooks too. raw-prerouting
// therefore untracks every packet from a bridge that is not for one of that
// bridge's own addresses: a guest's traffic to other guests (or multicast)
// never takes a conntrack entry, so it cannot fill the host's table. The
// host's other traffic is left as it is.
//
// forward: with br_netfilter, frames bridged within one network show up with
// iifname = oifname = its bridge; `bridged` holds exactly those pairs so they
// pass untouched. Forwarding is on when route_mode is static or bgp, and then
// only a routed network's bridge (in `routed`) has packets routed out of it or
// into it: an isolated network stays as closed as on a host that does not
// forward. A packet routed from a VM network never goes to another VM network
// on this host, never to a VXLAN port, here or on another host, and never to
// the underlay's own prefixes (`underlay_nets`: where the other hosts, etcd
// and the API live; the input chain only covers this host's addresses). With
// route_mode on (the host forwards because of ucloud) nothing else is routed
// either: a packet neither into nor out of a routed bridge is dropped, so the
// host never becomes a router between its other interfaces. With route_mode
// off the chain leaves the host's own forwarding alone.
//
// A routed network's <prefix>::1 is reachable from outside (its /64 is routed
// to the host), and a socket bound to [::] (sshd, the console port) would
// answer on it: the input chain drops everything to a bridge's own addresses
// that does not come from lo (the host itself) or a bridge (from-vm decides
// those: metadata, echo, ND).
//
// Meters (why: every connection a guest opens to the host, and every echo it
// sends, takes a conntrack entry, and a full table drops the host's and every
// other guest's new connections). Per source address — the tap filter lets a
// NIC use only its link-local and its global address, so a VM has two — at
// most CONN_LIMIT (64) open connections to the metadata port, at most
// CONN_RATE new ones a second (a closed one stays in conntrack for 120 s of
// TIME_WAIT: at most 1200 a source) and ECHO_RATE echo requests a second
// (30 s each: at most 300). The meter sets hold METER_SIZE sources: two per
// NIC on the host, far from full.
//
// Incoming migrations: the range (`migration_ports`) is closed by a standing
// rule, not per port, so an incoming QEMU's port is never open to the whole
// underlay, not even between its bind and a rule naming it: the destination
// adds (source host . port) to `migration_peers` before QEMU listens and
// removes it when the migration ends. Only *new* connections are refused, so
// replies to the host's own connections from ephemeral ports in the range pass.
//
// Layout changes are one transaction: the static part (sets, counters, chains
// and their rules) is fingerprinted in the comment of input's first rule and
// rewritten as a whole (flush + rules) only when the fingerprint differs;
// per-network state is set elements, added and removed in one transaction per
// network.

import { UcloudError } from '../../common/errors.js';
import { canonicalIPv6, checkIfname, formatIPv6, parseIPv6 } from './addr.js';
import type { Ip } from './ip.js';
import { concat, fingerprint as layoutFingerprint, listTable, nft } from './nft.js';
import { VXLAN_PORT } from './vxlan.js';

export const HOSTFW_TABLE = 'ucloud';
const FAMILY = 'inet';
const T = `${FAMILY} ${HOSTFW_TABLE}`;
const VERSION = 'v1';

/** Per-source meters (see the header): open metadata connections, new ones a second, echo requests a second. */
export const CONN_LIMIT = 64;
const CONN_RATE = 'rate over 10/second burst 100 packets';
const ECHO_RATE = 'rate over 10/second burst 20 packets';
const METER_SIZE = 65535;

const SETS: Record<string, string> = {
  bridges: 'type ifname;',
  bridged: 'type ifname . ifname;',
  routed: 'type ifname;',
  underlay_nets: 'type ipv6_addr; flags interval;',
  metadata: 'type ifname . ipv6_addr;',
  metadata_addrs: 'type ipv6_addr;',
  underlays: 'type ifname;',
  migration_peers: 'type ipv6_addr . inet_service;',
  vm_conns: `type ipv6_addr; size ${METER_SIZE}; flags dynamic;`,
  vm_conn_rate: `type ipv6_addr; size ${METER_SIZE}; flags dynamic,timeout; timeout 1m;`,
  vm_echo_rate: `type ipv6_addr; size ${METER_SIZE}; flags dynamic,timeout; timeout 1m;`,
};
const COUNTERS = ['vm_vxlan', 'vm_echo_foreign', 'vm_conn_limited', 'vm_rate_limited', 'vm_dropped', 'outside_metadata', 'migration_refused', 'isolated_forward', 'vm_to_underlay', 'unrouted_forward'] as const;
/** Base chains with their hooks; from-vm and from-vm-routed are regular chains. */
const BASE: Record<string, string> = {
  'raw-prerouting': 'type filter hook prerouting priority raw; policy accept;',
  input: 'type filter hook input priority filter; policy accept;',
  forward: 'type filter hook forward priority filter; policy accept;',
};
const CHAINS = [...Object.keys(BASE), 'from-vm', 'from-vm-routed'];

/** The metadata service's port (`metadata_port`): the only TCP port a guest may open on the host. */
export const DEFAULT_METADATA_PORT = 80;

/** Where incoming migrations listen (`migration_ports`). */
export interface PortRange {
  first: number;
  last: number;
}
export const DEFAULT_MIGRATION_PORTS: PortRange = { first: 49152, last: 49407 };

export interface HostFirewallOptions {
  /** The one interface VXLAN packets are accepted from (`vxlan_underlay`). */
  underlay: string;
  /** Default 80. */
  metadataPort?: number;
  /** Default DEFAULT_MIGRATION_PORTS. */
  migrationPorts?: PortRange;
  /** The underlay's own prefixes (CIDR), closed to packets routed from VM networks; exactly these are kept. Absent: left as they are. */
  underlayNets?: string[];
  /** route_mode static or bgp: forward only into or out of routed bridges. Default false (forwarding left alone). */
  routing?: boolean;
}

/** The static rules, chain by chain, in order (input's first rule carries the fingerprint). */
function staticRules(metadataPort: number, mig: PortRange, routing: boolean): [chain: string, rule: string][] {
  const vx = VXLAN_PORT;
  const newMig = `iifname != "lo" tcp dport ${mig.first}-${mig.last} ct state new`;
  const mine = 'iifname . ip6 daddr @metadata'; // to one of the arrival bridge's own addresses
  const newMeta = `ct state new tcp dport ${metadataPort} ${mine}`;
  const echo = 'icmpv6 type echo-request';
  return [
    ['input', 'iifname @bridges jump from-vm'],
    // Not from a bridge (from-vm decided those): the metadata listener on a
    // bridge's address is only for that bridge's guests (and the host itself,
    // over lo). And not only the metadata port on the global addresses: a
    // routed <prefix>::1 is reachable from outside, and anything bound to [::]
    // would answer there. A link-local fe80::1 cannot be reached from off its
    // link, and arriving elsewhere it is some other interface's own address.
    ['input', `iifname != "lo" tcp dport ${metadataPort} ip6 daddr @metadata_addrs counter name "outside_metadata" drop`],
    ['input', `iifname != "lo" ip6 daddr != fe80::/10 ip6 daddr @metadata_addrs counter name "outside_metadata" drop`],
    ['input', `udp dport ${vx} iifname != @underlays drop`],
    // An incoming migration's port takes a connection from its source host only (QEMU listens on IPv6 only).
    ['input', `${newMig} ip6 saddr . tcp dport != @migration_peers counter name "migration_refused" reject with tcp reset`],
    ['input', `${newMig} meta nfproto ipv4 counter name "migration_refused" reject with tcp reset`],
    ['raw-prerouting', 'iifname @bridges fib daddr . iif type != local notrack'],
    ['forward', 'iifname . oifname @bridged accept'],
    ['forward', 'iifname @bridges iifname != @routed counter name "isolated_forward" drop'],
    ['forward', 'oifname @bridges oifname != @routed counter name "isolated_forward" drop'],
    ['forward', 'iifname @bridges jump from-vm-routed'],
    ...(routing ? [['forward', 'iifname != @routed oifname != @routed counter name "unrouted_forward" drop'] as [string, string]] : []),
    ['from-vm', `udp dport ${vx} counter name "vm_vxlan" drop`],
    ['from-vm', 'icmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert } ip6 hoplimit 255 accept'],
    ['from-vm', `${newMeta} update @vm_conn_rate { ip6 saddr limit ${CONN_RATE} } counter name "vm_rate_limited" drop`],
    ['from-vm', `${newMeta} add @vm_conns { ip6 saddr ct count over ${CONN_LIMIT} } counter name "vm_conn_limited" drop`],
    ['from-vm', `${mine} tcp dport ${metadataPort} accept`],
    ['from-vm', `${echo} ${mine} update @vm_echo_rate { ip6 saddr limit ${ECHO_RATE} } counter name "vm_rate_limited" drop`],
    ['from-vm', `${echo} ${mine} accept`],
    // An answer from another network's <prefix>::1 or the underlay would tell a guest which networks share its host.
    ['from-vm', `${echo} counter name "vm_echo_foreign" drop`],
    ['from-vm', 'ct state established,related accept'],
    ['from-vm', 'counter name "vm_dropped" drop'],
    ['from-vm-routed', 'ip6 daddr @underlay_nets counter name "vm_to_underlay" drop'],
    ['from-vm-routed', `udp dport ${vx} drop`],
    ['from-vm-routed', 'oifname @bridges drop'],
  ];
}

function fingerprint(metadataPort: number, mig: PortRange, routing: boolean): string {
  return layoutFingerprint(VERSION, SETS, COUNTERS, BASE, staticRules(metadataPort, mig, routing));
}

/** The whole static part as one `nft -f` script (exported for tests and docs). */
export function renderHostFirewall(metadataPort = DEFAULT_METADATA_PORT, mig = DEFAULT_MIGRATION_PORTS, routing = false): string {
  const fp = fingerprint(metadataPort, mig, routing);
  const rules = staticRules(metadataPort, mig, routing);
  const first = rules.findIndex(([c]) => c === 'input');
  return [
    `add table ${T} { comment "ucloud: host firewall towards VM networks (src/host/network/hostfw.ts)"; }`,
    ...Object.entries(SETS).map(([name, spec]) => `add set ${T} ${name} { ${spec} }`),
    ...COUNTERS.map((c) => `add counter ${T} ${c}`),
    ...CHAINS.map((c) => (BASE[c] ? `add chain ${T} ${c} { ${BASE[c]} }` : `add chain ${T} ${c}`)),
    ...CHAINS.map((c) => `flush chain ${T} ${c}`),
    ...rules.map(([c, r], i) => `add rule ${T} ${c} ${r}${i === first ? ` comment "${fp}"` : ''}`),
    '',
  ].join('\n');
}

// ---- reading the table ---------------------------------------------------

export interface HostFirewallState {
  fingerprint?: string;
  chains: Set<string>;
  sets: Set<string>;
  bridges: Set<string>;
  underlays: Set<string>;
  /** `ucbrN` of every `ucbrN . ucbrN` element. */
  bridged: Set<string>;
  /** The bridges of routed networks. */
  routed: Set<string>;
  /** The elements of `underlay_nets`, as `addr/len`. */
  underlayNets: Set<string>;
  /** bridge → its addresses in the metadata set. */
  metadata: Map<string, Set<string>>;
  /** The elements of `metadata_addrs`. */
  metadataAddrs: Set<string>;
  /** The elements of `migration_peers`: source address . port. */
  migrationPeers: { address: string; port: number }[];
  counters: Record<string, { packets: number; bytes: number }>;
}

/** The table as it is, or undefined when there is none. */
export async function readHostFirewall(ip: Ip): Promise<HostFirewallState | undefined> {
  const objects = await listTable(ip, FAMILY, HOSTFW_TABLE);
  if (!objects) return undefined;
  const s: HostFirewallState = {
    chains: new Set(), sets: new Set(), bridges: new Set(), underlays: new Set(), bridged: new Set(), routed: new Set(), underlayNets: new Set(), metadata: new Map(), metadataAddrs: new Set(), migrationPeers: [], counters: {},
  };
  let firstInputRule = true;
  for (const o of objects) {
    if (o.chain) s.chains.add(o.chain.name);
    else if (o.rule?.chain === 'input' && firstInputRule) {
      firstInputRule = false;
      s.fingerprint = o.rule.comment;
    } else if (o.counter) s.counters[o.counter.name] = { packets: o.counter.packets, bytes: o.counter.bytes };
    else if (o.set) {
      s.sets.add(o.set.name);
      for (const e of o.set.elem ?? []) {
        if (o.set.name === 'bridges' && typeof e === 'string') s.bridges.add(e);
        else if (o.set.name === 'underlays' && typeof e === 'string') s.underlays.add(e);
        else if (o.set.name === 'routed' && typeof e === 'string') s.routed.add(e);
        else if (o.set.name === 'underlay_nets') {
          const p = (e as { prefix?: { addr?: string; len?: number } }).prefix;
          if (p?.addr && p.len !== undefined) s.underlayNets.add(`${canonicalIPv6(p.addr)}/${p.len}`);
          else if (typeof e === 'string') s.underlayNets.add(`${canonicalIPv6(e)}/128`);
        }
        else if (o.set.name === 'metadata_addrs' && typeof e === 'string') s.metadataAddrs.add(canonicalIPv6(e));
        else if (o.set.name === 'migration_peers') {
          const [addr, port] = concat(e) ?? [];
          if (typeof addr === 'string' && typeof port === 'number') s.migrationPeers.push({ address: canonicalIPv6(addr), port });
        }
        else if (o.set.name === 'bridged') {
          const [a, b] = concat(e) ?? [];
          if (typeof a === 'string' && a === b) s.bridged.add(a);
        } else if (o.set.name === 'metadata') {
          const [br, addr] = concat(e) ?? [];
          if (typeof br === 'string' && typeof addr === 'string') {
            const set = s.metadata.get(br) ?? new Set<string>();
            set.add(canonicalIPv6(addr));
            s.metadata.set(br, set);
          }
        }
      }
    }
  }
  return s;
}

// ---- the host table --------------------------------------------------------

/**
 * Creates (or brings up to date) the table's static part, and makes `underlay`
 * the only interface VXLAN packets are accepted from. Per-network elements
 * already in the sets are kept. Returns the state after.
 */
export async function ensureHostFirewall(ip: Ip, opts: HostFirewallOptions): Promise<HostFirewallState> {
  const underlay = checkIfname(opts.underlay);
  const port = opts.metadataPort ?? DEFAULT_METADATA_PORT;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UcloudError('VALIDATION_FAILED', `metadata port must be 1-65535, got ${port}`);
  const mig = opts.migrationPorts ?? DEFAULT_MIGRATION_PORTS;
  if (checkPort(mig.first) > checkPort(mig.last)) throw new UcloudError('VALIDATION_FAILED', `migration ports ${mig.first}-${mig.last}: first above last`);
  const routing = opts.routing ?? false;
  let state = await readHostFirewall(ip);
  const lines: string[] = [];
  const current = state?.fingerprint === fingerprint(port, mig, routing) && CHAINS.every((c) => state?.chains.has(c)) && Object.keys(SETS).every((n) => state?.sets.has(n));
  if (!current) lines.push(renderHostFirewall(port, mig, routing));
  const have = state?.underlays ?? new Set<string>();
  if (!have.has(underlay)) lines.push(`add element ${T} underlays { "${underlay}" }`);
  for (const u of have) if (u !== underlay) lines.push(`delete element ${T} underlays { "${u}" }`);
  if (opts.underlayNets) {
    const want = new Set(withoutCovered(opts.underlayNets.map(canonicalCidr)));
    const nets = state?.underlayNets ?? new Set<string>(); // a layout rewrite keeps set elements
    for (const n of want) if (!nets.has(n)) lines.push(`add element ${T} underlay_nets { ${n} }`);
    for (const n of nets) if (!want.has(n)) lines.push(`delete element ${T} underlay_nets { ${n} }`);
  }
  if (!lines.length && state) return state;
  await nft(ip, `${lines.join('\n')}\n`);
  state = await readHostFirewall(ip);
  if (!state) throw new UcloudError('INTERNAL', `nftables table ${T} missing right after creating it`);
  return state;
}

/** `addr/len` with the host bits cleared, canonical (how nft lists an interval element). */
export function canonicalCidr(cidr: string): string {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(cidr);
  const len = Number(m?.[2]);
  if (!m || len > 128) throw new UcloudError('VALIDATION_FAILED', `not an IPv6 prefix: ${cidr}`);
  const mask = len === 0 ? 0n : ((1n << BigInt(len)) - 1n) << BigInt(128 - len);
  return `${formatIPv6(parseIPv6(m[1]!) & mask)}/${len}`;
}

/**
 * The prefixes not inside another of them: an interval set refuses an element
 * that overlaps one it holds (e.g. etcd's address inside the underlay's /64).
 */
export function withoutCovered(cidrs: readonly string[]): string[] {
  const parsed = [...new Set(cidrs)].map((c) => {
    const [addr, len] = c.split('/');
    return { c, net: parseIPv6(addr!), len: Number(len) };
  });
  const covers = (a: (typeof parsed)[number], b: (typeof parsed)[number]) => {
    if (a.len > b.len) return false;
    const shift = BigInt(128 - a.len);
    return a.len === 0 || b.net >> shift === a.net >> shift;
  };
  return parsed.filter((b) => !parsed.some((a) => a !== b && covers(a, b) && (a.len < b.len || a.c < b.c))).map((p) => p.c);
}

/** Removes the whole table. Missing is fine. */
export async function removeHostFirewall(ip: Ip): Promise<boolean> {
  if (!(await readHostFirewall(ip))) return false;
  await nft(ip, `delete table ${T}\n`);
  return true;
}

// ---- networks --------------------------------------------------------------

export interface NetworkFirewallSpec {
  /** The network's bridge. */
  bridge: string;
  /** The bridge's own addresses that serve metadata: fe80::1 and <prefix>::1. */
  metadataAddresses: string[];
  /** A routed network: packets may be forwarded into and out of its bridge. Default false. */
  routed?: boolean;
}

/**
 * The changes that make `metadata_addrs` the addresses of `metadata` once
 * `bridge` has exactly `want`: fe80::1 is on every bridge, so it goes only
 * with the last one.
 */
function metadataAddrsLines(state: HostFirewallState, bridge: string, want: Set<string>): string[] {
  const all = new Set(want);
  for (const [br, addrs] of state.metadata) if (br !== bridge) for (const a of addrs) all.add(a);
  return [
    ...[...all].filter((a) => !state.metadataAddrs.has(a)).map((a) => `add element ${T} metadata_addrs { ${a} }`),
    ...[...state.metadataAddrs].filter((a) => !all.has(a)).map((a) => `delete element ${T} metadata_addrs { ${a} }`),
  ];
}

/**
 * Puts one network's bridge under the firewall: in `bridges` and `bridged`,
 * and exactly `metadataAddresses` as its (bridge . address) metadata
 * elements (stale ones, e.g. of an earlier prefix, go), and those addresses
 * in `metadata_addrs`. One transaction; safe
 * before the bridge exists (matching is by name), which is how it should be
 * used. Returns whether anything was written.
 */
export async function ensureNetworkFirewall(ip: Ip, spec: NetworkFirewallSpec): Promise<boolean> {
  const bridge = checkIfname(spec.bridge);
  const want = new Set(spec.metadataAddresses.map(canonicalIPv6));
  const state = await readHostFirewall(ip);
  if (!state) throw new UcloudError('INTERNAL', `nftables table ${T} missing: ensureHostFirewall first`);
  const have = state.metadata.get(bridge) ?? new Set<string>();
  const lines = [
    ...(state.bridges.has(bridge) ? [] : [`add element ${T} bridges { "${bridge}" }`]),
    ...(state.bridged.has(bridge) ? [] : [`add element ${T} bridged { "${bridge}" . "${bridge}" }`]),
    ...(spec.routed && !state.routed.has(bridge) ? [`add element ${T} routed { "${bridge}" }`] : []),
    ...(!spec.routed && state.routed.has(bridge) ? [`delete element ${T} routed { "${bridge}" }`] : []),
    ...[...want].filter((a) => !have.has(a)).map((a) => `add element ${T} metadata { "${bridge}" . ${a} }`),
    ...[...have].filter((a) => !want.has(a)).map((a) => `delete element ${T} metadata { "${bridge}" . ${a} }`),
    ...metadataAddrsLines(state, bridge, want),
  ];
  if (!lines.length) return false;
  await nft(ip, `${lines.join('\n')}\n`);
  return true;
}

/** Takes one network's bridge out of the sets (call after the bridge is gone). Missing is fine. */
export async function removeNetworkFirewall(ip: Ip, bridgeName: string): Promise<boolean> {
  const bridge = checkIfname(bridgeName);
  const state = await readHostFirewall(ip);
  if (!state) return false;
  const lines = [
    ...[...(state.metadata.get(bridge) ?? [])].map((a) => `delete element ${T} metadata { "${bridge}" . ${a} }`),
    ...(state.bridged.has(bridge) ? [`delete element ${T} bridged { "${bridge}" . "${bridge}" }`] : []),
    ...(state.routed.has(bridge) ? [`delete element ${T} routed { "${bridge}" }`] : []),
    ...(state.bridges.has(bridge) ? [`delete element ${T} bridges { "${bridge}" }`] : []),
    ...metadataAddrsLines(state, bridge, new Set()),
  ];
  if (!lines.length) return false;
  await nft(ip, `${lines.join('\n')}\n`);
  return true;
}

// ---- incoming migrations ---------------------------------------------------

function checkPort(port: number): number {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UcloudError('VALIDATION_FAILED', `port must be 1-65535, got ${port}`);
  return port;
}

/**
 * Lets `source` connect to `port` of the migration range (an incoming
 * migration's QEMU, before it listens); nobody else may. Needs the host table
 * (ensureHostFirewall).
 */
export async function openMigrationPort(ip: Ip, source: string, port: number): Promise<void> {
  const addr = canonicalIPv6(source);
  checkPort(port);
  await nft(ip, `add element ${T} migration_peers { ${addr} . ${port} }\n`);
}

/** Closes `port` again to its source (every peer of it); missing is fine. */
export async function closeMigrationPort(ip: Ip, port: number): Promise<boolean> {
  checkPort(port);
  const state = await readHostFirewall(ip);
  if (!state) return false;
  const lines = [
    ...state.migrationPeers.filter((p) => p.port === port).map((p) => `delete element ${T} migration_peers { ${p.address} . ${port} }`),
  ];
  if (!lines.length) return false;
  await nft(ip, `${lines.join('\n')}\n`);
  return true;
}

// ---- what routed VM networks may not reach -------------------------------

/**
 * The etcd endpoints' and the API's addresses as /128s when they are IPv6
 * literals (URLs like `http://[2001:db8::5]:2379`, a bare host), for
 * `underlay_nets`: they may live off the underlay's prefixes. Loopback,
 * unspecified, link-local and names are skipped (names are not resolved: list
 * their prefixes in routed_protected_prefixes).
 */
export function controlPlanePrefixes(etcdEndpoints: readonly string[], apiHosts: readonly string[]): string[] {
  const out = new Set<string>();
  for (const raw of [...etcdEndpoints.map((e) => /\[([^\]]+)\]/.exec(e)?.[1] ?? ''), ...apiHosts]) {
    let v: bigint;
    try {
      v = parseIPv6(raw.replace(/%.*$/, ''));
    } catch {
      continue;
    }
    if (v <= 1n || v >> 118n === 0x3fan) continue; // ::, ::1, fe80::/10
    out.add(`${formatIPv6(v)}/128`);
  }
  return [...out];
}
