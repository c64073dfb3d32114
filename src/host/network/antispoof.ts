// Bridge filtering: VMs cannot spoof another VM's MAC or address, and the
// overlay never reaches (or hears from) the host's own addresses on a bridge.
//
// One nftables table for the host, family `bridge` (it sees frames as they
// enter a bridge port, IP or not), laid out so every change is one exact,
// atomic `nft -f` transaction and nothing is ever matched by rule position:
//
//   table bridge ucloud {
//     set uplinks { type ifname; }            # the VXLAN port of every network
//     map nics { type ifname : verdict; }     # tap name → jump nic-<tap>
//     chain prerouting {                      # every frame entering any port
//       type filter hook prerouting priority filter; policy accept;
//       iifname vmap @nics                    # frames from a tap: its own chain
//     }
//     chain input {                           # frames for the host itself
//       type filter hook input priority filter; policy accept;
//       iifname @uplinks drop
//     }
//     chain output {                          # frames the host sends
//       type filter hook output priority filter; policy accept;
//       oifname @uplinks drop
//     }
//     chain nic-<tap> { …see renderNicRules… } # one per tap
//   }
//
// prerouting (not forward) is where the tap rules hook, so they apply to
// frames for other VMs *and* for the host (metadata server on fe80::1).
//
// Why input/output drop on uplinks: every host's bridge of a network carries
// the same fe80::1 and <prefix>::1 and runs its own radvd. Across VXLAN those
// would be duplicates: guests would hear every host's RAs and could resolve
// fe80::1 to another host's bridge; bridges would hear each other's RAs.
// The host stack therefore neither sends onto nor receives from the overlay;
// VM-to-VM frames (forwarded, not input/output) cross it untouched.
//
// A tap's rules are (re)written as a whole in one transaction (`flush chain`
// + rules) when their fingerprint, kept as the first rule's comment, differs
// from the wanted one; an unchanged tap is not touched at all. Removal deletes
// the map element and the chain in one transaction.

import { UcloudError } from '../../common/errors.js';
import { canonicalIPv6, checkIfname, normaliseMac, parseIPv6 } from './addr.js';
import type { Ip } from './ip.js';
import { fingerprint as layoutFingerprint, listTable, nft } from './nft.js';

export const TABLE = 'ucloud';
const FAMILY = 'bridge';
const T = `${FAMILY} ${TABLE}`;
const VERSION = 'v2'; // v2: RARP broadcasts pass (renderNicRules)

export interface NicFilterSpec {
  ifname: string;
  /** The guest's MAC: the only allowed Ethernet source. */
  mac: string;
  /**
   * The guest's allowed IPv6 sources besides `::` (always allowed, for DAD):
   * normally `fe80::<EUI-64 of mac>` and `<prefix>::<EUI-64 of mac>`. The
   * caller computes them.
   */
  allowedSources: string[];
}

/** QEMU's RARP announcement (net/announce.c): Ethernet, IPv4, lengths 6 and 4, opcode 3 (reverse request); then its MAC as sender and target. */
const RARP_HEAD = '@nh,0,64 0x0001080006040003';
/** QEMU sends 5 rounds per NIC after a migration; more than this a second is not an announcement. */
const RARP_PER_SECOND = 10;

export function nicChainName(ifname: string): string {
  return `nic-${checkIfname(ifname)}`;
}

function hex128(addr: string): string {
  return `0x${parseIPv6(addr).toString(16).padStart(32, '0')}`;
}

function normaliseSpec(spec: NicFilterSpec): { ifname: string; mac: string; sources: string[] } {
  const sources = [...new Set(spec.allowedSources.map(canonicalIPv6))].filter((a) => a !== '::').sort();
  if (!sources.length) throw new UcloudError('VALIDATION_FAILED', `no allowed IPv6 sources for ${spec.ifname}`);
  return { ifname: checkIfname(spec.ifname), mac: normaliseMac(spec.mac), sources };
}

function fingerprint(spec: { mac: string; sources: string[] }): string {
  return layoutFingerprint(VERSION, spec.mac, spec.sources);
}

/**
 * The rules of one tap's chain, in order. Frames from the tap are dropped if:
 * 1. their Ethernet source is not the VM's MAC;
 * 2. they are not IPv6 (IPv4, ARP, VLAN-tagged, anything else: IPv6-only
 *    platform, and a tag would hide the IPv6 header from the next rules),
 *    but for a RARP broadcast naming the VM's own MAC (as Ethernet source,
 *    rule 1, and as sender and target; at most RARP_PER_SECOND): what QEMU
 *    sends for the guest when it resumes after a live migration, so every
 *    host's VXLAN learns at once where the MAC now is, whatever the guest
 *    does (its own announcement needs its kernel's cooperation, and under
 *    load can come too late: a peer that only answers stays unreachable
 *    until its neighbour cache expires). No host stack handles RARP;
 * 3. their IPv6 source is not `::` or one of the allowed addresses;
 * 4. they are router advertisements or redirects (RA guard: a VM is not the
 *    router of its network);
 * 5. they are neighbour advertisements for a target that is not the VM's own
 *    (no answering for another VM's address: ND spoofing);
 * 6. they are DAD probes (source `::`) for a target that is not the VM's own
 *    (no denying another VM its address).
 * The target address is read raw (`@th,64,128`: bytes 8–23 of the ICMPv6
 * message) because nft 1.0.6 has no `icmpv6 taddr`.
 */
export function renderNicRules(spec: NicFilterSpec): string[] {
  const s = normaliseSpec(spec);
  const chain = nicChainName(s.ifname);
  const srcSet = `{ ::, ${s.sources.join(', ')} }`;
  const targets = `{ ${s.sources.map(hex128).join(', ')} }`;
  const macHex = `0x${s.mac.replaceAll(':', '')}`;
  return [
    `add rule ${T} ${chain} ether saddr != ${s.mac} drop comment "${fingerprint(s)}"`,
    `add rule ${T} ${chain} ether type 0x8035 ether daddr ff:ff:ff:ff:ff:ff ${RARP_HEAD} @nh,64,48 ${macHex} @nh,144,48 ${macHex} limit rate ${RARP_PER_SECOND}/second burst ${RARP_PER_SECOND} packets counter accept`,
    `add rule ${T} ${chain} ether type != ip6 drop`,
    `add rule ${T} ${chain} ip6 saddr != ${srcSet} drop`,
    `add rule ${T} ${chain} icmpv6 type { nd-router-advert, nd-redirect } drop`,
    `add rule ${T} ${chain} icmpv6 type nd-neighbor-advert @th,64,128 != ${targets} drop`,
    `add rule ${T} ${chain} ip6 saddr :: icmpv6 type nd-neighbor-solicit @th,64,128 != ${targets} drop`,
  ];
}

// ---- reading the table ---------------------------------------------------

export interface FilterTableState {
  /** chain name → its rules (handle and comment) in order. */
  chains: Map<string, { handle: number; comment?: string }[]>;
  uplinks: Set<string>;
  /** tap name → chain it jumps to. */
  nics: Map<string, string>;
  hasSet: { uplinks: boolean; nics: boolean };
}

/** The table as it is, or undefined when there is none. */
export async function readFilterTable(ip: Ip): Promise<FilterTableState | undefined> {
  const objects = await listTable(ip, FAMILY, TABLE);
  if (!objects) return undefined;
  const state: FilterTableState = { chains: new Map(), uplinks: new Set(), nics: new Map(), hasSet: { uplinks: false, nics: false } };
  for (const o of objects) {
    if (o.chain) state.chains.set(o.chain.name, []);
    else if (o.rule) state.chains.get(o.rule.chain)?.push({ handle: o.rule.handle, comment: o.rule.comment });
    else if (o.set?.name === 'uplinks') {
      state.hasSet.uplinks = true;
      for (const e of o.set.elem ?? []) if (typeof e === 'string') state.uplinks.add(e);
    } else if (o.map?.name === 'nics') {
      state.hasSet.nics = true;
      for (const e of o.map.elem ?? []) {
        const [key, verdict] = e as [unknown, { jump?: { target?: string } }];
        if (typeof key === 'string' && verdict?.jump?.target) state.nics.set(key, verdict.jump.target);
      }
    }
  }
  return state;
}

// ---- the host table --------------------------------------------------------

const BASE_CHAINS: Record<string, { hook: string; rule: string }> = {
  prerouting: { hook: 'prerouting', rule: 'iifname vmap @nics' },
  input: { hook: 'input', rule: 'iifname @uplinks drop' },
  output: { hook: 'output', rule: 'oifname @uplinks drop' },
};

/** Creates the host's table with its sets and base chains where missing. */
export async function ensureFilterTable(ip: Ip): Promise<FilterTableState> {
  const state = await readFilterTable(ip);
  const missingRules = Object.keys(BASE_CHAINS).filter((c) => !state?.chains.get(c)?.length);
  if (state && state.hasSet.uplinks && state.hasSet.nics && !missingRules.length) return state;
  const lines = [
    `add table ${T} { comment "ucloud: VM anti-spoofing and overlay isolation (src/host/network/antispoof.ts)"; }`,
    `add set ${T} uplinks { type ifname; }`,
    `add map ${T} nics { type ifname : verdict; }`,
    ...Object.entries(BASE_CHAINS).map(([name, c]) => `add chain ${T} ${name} { type filter hook ${c.hook} priority filter; policy accept; }`),
    ...missingRules.map((name) => `add rule ${T} ${name} ${BASE_CHAINS[name]?.rule}`),
  ];
  await nft(ip, `${lines.join('\n')}\n`);
  const after = await readFilterTable(ip);
  if (!after) throw new UcloudError('INTERNAL', `nftables table ${T} missing right after creating it`);
  return after;
}

/** Removes the whole table (all taps' rules with it). Missing is fine. */
export async function removeFilterTable(ip: Ip): Promise<boolean> {
  if (!(await readFilterTable(ip))) return false;
  await nft(ip, `delete table ${T}\n`);
  return true;
}

// ---- uplinks (VXLAN ports) --------------------------------------------------

export async function addUplink(ip: Ip, ifname: string): Promise<void> {
  const state = await ensureFilterTable(ip);
  if (!state.uplinks.has(checkIfname(ifname))) await nft(ip, `add element ${T} uplinks { "${ifname}" }\n`);
}

export async function removeUplink(ip: Ip, ifname: string): Promise<void> {
  const state = await readFilterTable(ip);
  if (state?.uplinks.has(checkIfname(ifname))) await nft(ip, `delete element ${T} uplinks { "${ifname}" }\n`);
}

// ---- taps -----------------------------------------------------------------

/**
 * Installs (or keeps) the anti-spoofing rules of one tap. Safe before the tap
 * exists (matching is by name), which is how it should be used: rules first,
 * then the tap joins the bridge. Returns whether anything was written.
 */
export async function ensureNicFilter(ip: Ip, spec: NicFilterSpec): Promise<boolean> {
  const s = normaliseSpec(spec);
  const chain = nicChainName(s.ifname);
  const state = await ensureFilterTable(ip);
  const rules = state.chains.get(chain);
  const current = rules?.[0]?.comment === fingerprint(s) && state.nics.get(s.ifname) === chain;
  if (current) return false;
  const lines = [
    `add chain ${T} ${chain}`,
    `flush chain ${T} ${chain}`,
    ...renderNicRules(spec),
    ...(state.nics.get(s.ifname) === chain ? [] : [`add element ${T} nics { "${s.ifname}" : jump ${chain} }`]),
  ];
  await nft(ip, `${lines.join('\n')}\n`);
  return true;
}

/** Removes one tap's rules. Missing is fine. Returns whether anything was removed. */
export async function removeNicFilter(ip: Ip, ifname: string): Promise<boolean> {
  const chain = nicChainName(ifname);
  const state = await readFilterTable(ip);
  if (!state) return false;
  const lines = [
    ...(state.nics.has(ifname) ? [`delete element ${T} nics { "${ifname}" }`] : []),
    ...(state.chains.has(chain) ? [`delete chain ${T} ${chain}`] : []),
  ];
  if (!lines.length) return false;
  await nft(ip, `${lines.join('\n')}\n`);
  return true;
}

/** The text of one tap's chain as nft prints it (for logs and tests). */
export async function listNicChain(ip: Ip, ifname: string): Promise<string | undefined> {
  const state = await readFilterTable(ip);
  if (!state?.chains.has(nicChainName(ifname))) return undefined;
  return (await ip.exec('nft', ['list', 'chain', FAMILY, TABLE, nicChainName(ifname)])).stdout;
}
