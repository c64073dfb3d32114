import { randomInt } from 'node:crypto';
import { UcloudError } from '../common/errors.js';
import { formatIPv6, parseIPv6 } from '../common/ipv6.js';
import { checkResolvers } from '../common/resolvers.js';
import { nowIso, type Network } from '../model/index.js';
import { AllocKeys, Keys, Kinds } from '../store/keys.js';
import type { Store, Versioned } from '../store/store.js';
import { vmsOf } from './owner-vms.js';
import { backoff, readUsage, stageUsage, type Limits } from './usage.js';

export interface NetworkPools {
  vniRange: { first: number; last: number };
  /** e.g. "fd75:636c:6f75::/48": each network gets one /64 of it. */
  ipv6Pool: string;
  /** route_mode: off refuses routed networks (ROUTING_OFF). Left out: off. */
  routeMode?: 'off' | 'static' | 'bgp';
  /** network_routed_default: what a create that says neither gets. */
  routedDefault?: boolean;
}

export const DEFAULT_NETWORK = 'default';

/** Parses the IPv6 pool: a /1../64 whose host bits are zero. */
export function parsePool(pool: string): { base: bigint; bits: number } {
  const m = /^([^/]+)\/(\d+)$/.exec(pool);
  const len = Number(m?.[2]);
  if (!m || !(len >= 1 && len <= 64)) throw new UcloudError('INVALID_CONFIG', `ipv6_pool must be an IPv6 prefix of /64 or shorter, not "${pool}"`);
  const base = parseIPv6(m[1]!);
  if (base & ((1n << BigInt(128 - len)) - 1n)) throw new UcloudError('INVALID_CONFIG', `ipv6_pool ${pool} has host bits set`);
  return { base, bits: 64 - len };
}

/**
 * Whether the network holding `vni` is routed, found through the VNI's
 * allocation (a host knows its networks by VNI). No network: false.
 */
export async function isRoutedVni(store: Store, vni: number): Promise<boolean> {
  const alloc = await store.get(Kinds.alloc, Keys.allocVni(vni));
  if (!alloc) return false;
  // A VNI's holder is always its network's key (create).
  const net = await store.get(Kinds.network, alloc.value.holder);
  return net?.value.vni === vni && net.value.routed === true;
}

/**
 * Owns networks and their VNI and /64 allocations. Values are drawn at random and
 * claimed with "absent" compares in the network's own creation transaction: two
 * creates racing for the same value cannot both win, and a loser draws again.
 */
export class NetworkManager {
  private readonly pool: { base: bigint; bits: number };

  constructor(
    private readonly store: Store,
    private readonly pools: NetworkPools,
  ) {
    this.pool = parsePool(pools.ipv6Pool);
  }

  /** A free value of [0, size): a random start, then the next one not taken. Undefined when all are taken. */
  private static pickFree(size: bigint, taken: Set<bigint>): bigint | undefined {
    if (BigInt(taken.size) >= size) return undefined;
    const start = size > 2n ** 47n ? BigInt(randomInt(0, 2 ** 47)) : BigInt(randomInt(0, Number(size)));
    for (let i = 0n; i < size; i++) {
      const v = (start + i) % size;
      if (!taken.has(v)) return v;
    }
    return undefined;
  }

  private prefixAt(index: bigint): string {
    return `${formatIPv6(this.pool.base | (index << 64n))}/64`;
  }

  /**
   * Picks a VNI and a /64 that no network holds, from what is allocated now; the
   * creation transaction's "absent" compares settle races with other creates.
   */
  private async draw(): Promise<{ vni: number; prefix: string }> {
    const [vnis, prefixes] = await Promise.all([this.store.list(Kinds.alloc, Keys.allocVnis()), this.store.list(Kinds.alloc, Keys.allocPrefixes())]);
    const { first, last } = this.pools.vniRange;
    // The key alone says it is taken: a holder record that fails its schema (skipped by list) still holds it.
    const takenVni = new Set([...vnis.items.map((i) => i.key), ...vnis.skipped].map((k) => BigInt(AllocKeys.vni(k) - first)));
    const takenPrefix = new Set([...prefixes.items.map((i) => i.key), ...prefixes.skipped].map((k) => (parseIPv6(AllocKeys.prefixAddress(k)) - this.pool.base) >> 64n));
    const vni = NetworkManager.pickFree(BigInt(last - first + 1), takenVni);
    const index = NetworkManager.pickFree(1n << BigInt(this.pool.bits), takenPrefix);
    if (vni === undefined || index === undefined) {
      throw new UcloudError('POOL_EXHAUSTED', `no free ${vni === undefined ? 'VNI in vni_range' : 'IPv6 /64 in ipv6_pool'}`);
    }
    return { vni: first + Number(vni), prefix: this.prefixAt(index) };
  }

  /**
   * `resolvers`: the network's own DNS resolvers (INVALID_RESOLVER when bad); left out: the cluster default.
   * `routed`: left out, network_routed_default.
   * `limits`: the owner's quota (left out: counted, never refused, as the default network made for a first VM).
   */
  async create(owner: string, name: string, opts: { resolvers?: readonly string[]; routed?: boolean; limits?: Limits } = {}): Promise<Network> {
    const resolvers = opts.resolvers === undefined ? undefined : checkResolvers(opts.resolvers);
    const routed = opts.routed ?? this.pools.routedDefault ?? false;
    if (routed && (this.pools.routeMode ?? 'off') === 'off') {
      throw new UcloudError('ROUTING_OFF', `network "${name}" cannot be routed: route_mode is off in this cluster`);
    }
    const key = Keys.network(owner, name);
    for (let attempt = 0; attempt < 100; attempt++) {
      await backoff(attempt);
      if (await this.store.get(Kinds.network, key)) throw new UcloudError('NETWORK_EXISTS', `you already have a network "${name}"`);
      const usage = await readUsage(this.store, owner);
      const { vni, prefix } = await this.draw();
      const net: Network = { owner, name, vni, prefix, ...(resolvers ? { resolvers } : {}), ...(routed ? { routed } : {}), createdAt: nowIso() };
      const holder = { owner, holder: key };
      const t = this.store.txn();
      stageUsage(t, usage, { networks: 1 }, opts.limits);
      const ok = await t
        .absent(key)
        .absent(Keys.allocVni(vni))
        .absent(Keys.allocPrefix(prefix))
        .put(Kinds.network, key, net)
        .put(Kinds.alloc, Keys.allocVni(vni), holder)
        .put(Kinds.alloc, Keys.allocPrefix(prefix), holder)
        .commit({ witness: key }); // its random VNI and prefix
      if (ok) return net;
    }
    throw new UcloudError('CONFLICT', 'networks kept being created at the same time; try again');
  }

  async get(owner: string, name: string): Promise<Versioned<Network> | undefined> {
    return this.store.get(Kinds.network, Keys.network(owner, name));
  }

  /** The user's network by name; "default" is made on first use. */
  async resolve(owner: string, name: string): Promise<Versioned<Network>> {
    const net = await this.get(owner, name);
    if (net?.value.deleting) throw new UcloudError('NETWORK_NOT_FOUND', `network "${name}" is being deleted`);
    if (net) return net;
    if (name !== DEFAULT_NETWORK) throw new UcloudError('NETWORK_NOT_FOUND', `you have no network "${name}"`);
    await this.create(owner, name).catch((err: unknown) => {
      if (!(err instanceof UcloudError && err.code === 'NETWORK_EXISTS')) throw err;
    });
    return (await this.get(owner, name))!;
  }

  /** The user's network by name, never creating one. */
  async resolveExisting(owner: string, name: string): Promise<Versioned<Network>> {
    const net = await this.get(owner, name);
    if (!net) throw new UcloudError('NETWORK_NOT_FOUND', `you have no network "${name}"`);
    return net;
  }

  async list(owner?: string): Promise<Network[]> {
    const { items } = await this.store.list(Kinds.network, owner ? Keys.networksOf(owner) : Keys.networks());
    return items.map((i) => i.value).sort((a, b) => a.owner.localeCompare(b.owner) || a.name.localeCompare(b.name));
  }

  /**
   * Refused while a VM uses it. The network is marked `deleting` first: a VM
   * create that read it before then fails its compare, and one after refuses
   * the network, so the check below cannot miss a VM.
   */
  async delete(owner: string, name: string): Promise<void> {
    const key = Keys.network(owner, name);
    if (!(await this.get(owner, name))) throw new UcloudError('NETWORK_NOT_FOUND', `you have no network "${name}"`);
    await this.refuseIfUsed(owner, name); // the common refusal writes nothing
    const marked = await this.store.update(Kinds.network, key, (cur) => (cur ? { ...cur, deleting: true } : undefined));
    if (!marked) throw new UcloudError('NETWORK_NOT_FOUND', `you have no network "${name}"`);
    try {
      await this.refuseIfUsed(owner, name);
    } catch (err) {
      await this.store.update(Kinds.network, key, (cur) => {
        if (!cur) return undefined;
        const next = { ...cur };
        delete next.deleting;
        return next;
      });
      throw err;
    }
    for (let attempt = 0; attempt < 100; attempt++) {
      await backoff(attempt);
      const t = this.store.txn();
      stageUsage(t, await readUsage(this.store, owner), { networks: -1 });
      if (await t.present(key).delete(key).delete(Keys.allocVni(marked.vni)).delete(Keys.allocPrefix(marked.prefix)).commit()) return;
      if (!(await this.get(owner, name))) return;
    }
    throw new UcloudError('CONFLICT', `network "${name}" kept changing while being deleted; try again`);
  }

  private async refuseIfUsed(owner: string, name: string): Promise<void> {
    const users = (await vmsOf(this.store, owner)).filter((vm) => (vm.nics ?? []).some((n) => n.network === name)).map((vm) => vm.name).sort();
    if (users.length) throw new UcloudError('NETWORK_IN_USE', `network "${name}" is used by ${users.join(', ')}`);
  }
}
