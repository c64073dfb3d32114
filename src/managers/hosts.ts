import { UcloudError } from '../common/errors.js';
import { nowIso, type Host, type HostAlive, type HostAllocation, type Resources } from '../model/index.js';
import { Keys, Kinds } from '../store/keys.js';
import type { Store, Versioned } from '../store/store.js';
import { sumResources } from '../scheduler/place.js';

export interface HostView extends Host {
  alive: boolean;
  accel?: string;
  used: Resources;
  vms: number;
}

export class HostManager {
  constructor(private readonly store: Store) {}

  async add(name: string, address: string, capacity: Resources): Promise<Host> {
    const host: Host = { name, address, capacity, createdAt: nowIso() };
    if (!(await this.store.create(Kinds.host, Keys.host(name), host))) {
      throw new UcloudError('HOST_EXISTS', `host "${name}" is already registered`);
    }
    return host;
  }

  async get(name: string): Promise<Host | undefined> {
    return (await this.store.get(Kinds.host, Keys.host(name)))?.value;
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
      .map(({ value: h }) => {
        const a = aliveBy.get(h.name);
        const alloc = allocBy.get(Keys.hostAlloc(h.name))?.value;
        return {
          ...h,
          alive: Boolean(a),
          ...(a ? { accel: a.accel } : {}),
          used: usedBy(alloc),
          vms: alloc ? Object.keys(alloc.vms).length : 0,
        };
      })
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

export function usedBy(alloc: HostAllocation | undefined): Resources {
  return sumResources(Object.values(alloc?.vms ?? {}));
}
