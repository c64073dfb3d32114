import { allowedOf, DEFAULT_ALLOCATION_RATIO, RATIO_OF, ratioOf, sumResources, worsened, type Dimension } from '../common/capacity.js';
import { UcloudError } from '../common/errors.js';
import { formatSize } from '../common/units.js';
import { nowIso, type AllocationRatio, type Host, type HostAlive, type HostAllocation, type HostView, type Resources } from '../model/index.js';
import { Keys, Kinds } from '../store/keys.js';
import type { Store, Versioned } from '../store/store.js';

/** A change to a host's capacity or ratios (`ucloud host set`); absent fields stay as they are. */
export interface HostChange {
  capacity?: Partial<Resources>;
  allocationRatio?: Partial<AllocationRatio>;
}

export class HostManager {
  /** `allocationRatio`: written into hosts registered without their own (the *_allocation_ratio config keys). */
  constructor(
    private readonly store: Store,
    private readonly opts: { allocationRatio?: AllocationRatio } = {},
  ) {}

  async add(name: string, address: string, capacity: Resources, allocationRatio?: Partial<AllocationRatio>): Promise<Host> {
    const host: Host = { name, address, capacity, allocationRatio: { ...(this.opts.allocationRatio ?? DEFAULT_ALLOCATION_RATIO), ...allocationRatio }, createdAt: nowIso() };
    const key = Keys.host(name);
    // Not store.create: its own attempt repeated by the etcd client is told by the record, to the millisecond.
    if (!(await this.store.txn().absent(key).put(Kinds.host, key, host).commit({ witness: key }))) {
      throw new UcloudError('HOST_EXISTS', `host "${name}" is already registered`);
    }
    return host;
  }

  async get(name: string): Promise<Host | undefined> {
    return (await this.store.get(Kinds.host, Keys.host(name)))?.value;
  }

  /**
   * Changes capacity or ratios. Refused when it lowers what is allowed in a
   * dimension below what is booked there; a host already over (ratios lowered,
   * a record from an older ucloud) still takes changes that make no over
   * dimension worse. One transaction that also requires the host's bookings
   * unchanged since they were counted (and a booking compares the host record),
   * so a placement racing this can never push the host over. The record gets the
   * ratios in force written into it, so from then on it rules (`up` leaves it be).
   * `when`: a condition on the current record, checked in that same
   * compare-and-swap; when it says no, nothing is written and the result is undefined.
   */
  async set(name: string, change: HostChange): Promise<Host>;
  async set(name: string, change: HostChange, when: (cur: Host) => boolean): Promise<Host | undefined>;
  async set(name: string, change: HostChange, when?: (cur: Host) => boolean): Promise<Host | undefined> {
    const key = Keys.host(name);
    const allocKey = Keys.hostAlloc(name);
    for (let attempt = 0; attempt < 20; attempt++) {
      const [host, alloc] = await Promise.all([this.store.get(Kinds.host, key), this.store.get(Kinds.hostAlloc, allocKey)]);
      if (!host) throw new UcloudError('HOST_NOT_FOUND', `host "${name}" is not registered`);
      const cur = host.value;
      if (when && !when(cur)) return undefined;
      const next: Host = { ...cur, capacity: { ...cur.capacity, ...change.capacity }, allocationRatio: { ...ratioOf(cur), ...change.allocationRatio } };
      const used = usedBy(alloc?.value);
      const over = worsened(used, allowedOf(cur), allowedOf(next));
      if (over) throw belowBooked(name, over, used, next);
      const t = this.store.txn().unchanged(host);
      if (alloc) t.unchanged(alloc);
      else t.absent(allocKey);
      if (await t.put(Kinds.host, key, next).commit()) return next;
    }
    throw new UcloudError('CONFLICT', `host "${name}" kept changing; try again`);
  }

  /**
   * Drains (`true`) or undrains a host, one compare-and-swap of its record: a
   * drained host takes no new VMs, and the scheduler moves its VMs away.
   */
  async setDrained(name: string, drained: boolean): Promise<Host> {
    const key = Keys.host(name);
    for (let attempt = 0; attempt < 20; attempt++) {
      const host = await this.store.get(Kinds.host, key);
      if (!host) throw new UcloudError('HOST_NOT_FOUND', `host "${name}" is not registered`);
      const next: Host = { ...host.value, drained };
      if (!drained) delete next.drained;
      if (await this.store.txn().unchanged(host).put(Kinds.host, key, next).commit()) return next;
    }
    throw new UcloudError('CONFLICT', `host "${name}" kept changing; try again`);
  }

  /**
   * Forgets a host: its record and its (empty) bookings, in one transaction that
   * requires both unchanged, so a VM booked there meanwhile makes it fail and
   * nothing is lost. Refused with HOST_NOT_EMPTY while any VM is booked there
   * (placed, or the destination of a migration) or still mirrored there.
   */
  async remove(name: string): Promise<void> {
    const key = Keys.host(name);
    const allocKey = Keys.hostAlloc(name);
    for (let attempt = 0; attempt < 20; attempt++) {
      const [host, alloc, mirrors] = await Promise.all([
        this.store.get(Kinds.host, key),
        this.store.get(Kinds.hostAlloc, allocKey),
        this.store.list(Kinds.vm, Keys.hostVms(name)),
      ]);
      if (!host) throw new UcloudError('HOST_NOT_FOUND', `host "${name}" is not registered`);
      const booked = Object.keys(alloc?.value.vms ?? {});
      const ids = [...new Set([...booked, ...mirrors.items.map((m) => m.value.id)])].sort();
      if (ids.length > 0) {
        throw new UcloudError('HOST_NOT_EMPTY', `host "${name}" still holds ${ids.length} VM${ids.length === 1 ? '' : 's'} (${ids.slice(0, 5).join(', ')}${ids.length > 5 ? ', …' : ''})`, { details: { vms: ids } });
      }
      const t = this.store.txn().unchanged(host).delete(key);
      if (alloc) t.unchanged(alloc).delete(allocKey);
      else t.absent(allocKey);
      if (await t.commit()) return;
    }
    throw new UcloudError('CONFLICT', `host "${name}" kept changing; try again`);
  }

  /**
   * Every host with its liveness and bookings, read together; `allocs` keeps the
   * bookings' revisions for a compare-and-swap (the scheduler books against them).
   */
  async snapshot(): Promise<{ hosts: HostView[]; allocs: Map<string, Versioned<HostAllocation>> }> {
    const [hosts, alive, allocs] = await Promise.all([
      this.store.list(Kinds.host, Keys.hosts()),
      this.store.list(Kinds.hostAlive, Keys.hostsAlive()),
      this.store.list(Kinds.hostAlloc, Keys.hostAllocs()),
    ]);
    const aliveBy = new Map(alive.items.map((a) => [a.value.name, a.value]));
    const allocBy = new Map(allocs.items.map((a) => [a.key, a]));
    const views = hosts.items
      .map(({ value: h }) => hostViewOf(h, aliveBy.get(h.name), allocBy.get(Keys.hostAlloc(h.name))?.value))
      .sort((a, b) => a.name.localeCompare(b.name));
    return { hosts: views, allocs: allocBy };
  }

  async list(): Promise<HostView[]> {
    return (await this.snapshot()).hosts;
  }

  /** Announces a running agent on a lease: the key vanishes within the TTL of the agent's death. */
  async announce(alive: HostAlive, lease: Parameters<Store['put']>[3]): Promise<void> {
    await this.store.put(Kinds.hostAlive, Keys.hostAlive(alive.name), alive, lease);
  }
}

/** A host as `host list` shows it: its record, whether its agent is alive, and what is booked on it. */
export function hostViewOf(h: Host, alive: HostAlive | undefined, alloc: HostAllocation | undefined): HostView {
  return {
    ...h,
    allocationRatio: ratioOf(h),
    alive: Boolean(alive),
    ...(alive ? { accel: alive.accel } : {}),
    used: usedBy(alloc),
    allowed: allowedOf(h),
    vms: alloc ? Object.keys(alloc.vms).length : 0,
  };
}

export function usedBy(alloc: HostAllocation | undefined): Resources {
  return sumResources(Object.values(alloc?.vms ?? {}));
}

function belowBooked(name: string, d: Dimension, used: Resources, next: Host): UcloudError {
  const show = (n: number) => (d === 'cpu' ? `${n} vCPU` : formatSize(n));
  const allowed = allowedOf(next)[d];
  const ratio = ratioOf(next)[RATIO_OF[d].ratio];
  return new UcloudError(
    'CAPACITY_BELOW_BOOKED',
    `host "${name}" has ${show(used[d])} booked; the change would allow ${show(allowed)} (${d === 'cpu' ? next.capacity.cpu : formatSize(next.capacity[d])} × ${RATIO_OF[d].key} ${ratio})`,
    { details: { dimension: d, booked: used[d], allowed, physical: next.capacity[d], ratio } },
  );
}
