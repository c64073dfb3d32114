import { ratioOf } from '../common/capacity.js';
import { usedBy } from '../managers/hosts.js';
import type { Host, HostAlive, HostAllocation } from '../model/index.js';
import type { Informer } from '../store/informer.js';
import { Keys, Kinds, lastSegment } from '../store/keys.js';
import type { Versioned } from '../store/store.js';
import type { HostSnapshot } from './place.js';

/** A host as the scheduler plans with it, and the records a booking compares. */
export interface HostEntry {
  snap: HostSnapshot;
  host: Versioned<Host>;
  alloc: Versioned<HostAllocation> | undefined;
}

type Inf<K extends keyof typeof Kinds> = Informer<(typeof Kinds)[K]['schema']>;

/**
 * Every registered host's liveness, capacity and bookings, built from the
 * scheduler's three host caches and kept current incrementally: a change to
 * `host/x`, `host-alive/x` or `host-alloc/x` marks only x for recounting at the
 * next `refresh`, so a pass costs what changed, not the fleet.
 */
export class HostIndex {
  private readonly entries = new Map<string, HostEntry>();
  private readonly dirty = new Set<string>();

  constructor(
    private readonly hosts: Inf<'host'>,
    private readonly alive: Inf<'hostAlive'>,
    private readonly allocs: Inf<'hostAlloc'>,
  ) {
    for (const inf of [hosts, alive, allocs] as const) {
      inf.on('change', (key) => this.dirty.add(lastSegment(key)));
      for (const key of inf.items.keys()) this.dirty.add(lastSegment(key));
    }
  }

  /** Recounts the hosts that changed since the last refresh. */
  refresh(): void {
    for (const name of this.dirty) this.recount(name);
    this.dirty.clear();
  }

  /** Every registered host, as `place` takes them. */
  snapshots(): HostSnapshot[] {
    return [...this.entries.values()].map((e) => e.snap);
  }

  get(name: string): HostEntry | undefined {
    return this.entries.get(name);
  }

  isAlive(name: string): boolean {
    return this.entries.get(name)?.snap.alive ?? false;
  }

  get size(): number {
    return this.entries.size;
  }

  private recount(name: string): void {
    const host = this.hosts.get(Keys.host(name));
    if (!host) {
      this.entries.delete(name);
      return;
    }
    const alive: Versioned<HostAlive> | undefined = this.alive.get(Keys.hostAlive(name));
    const alloc = this.allocs.get(Keys.hostAlloc(name));
    const h = host.value;
    this.entries.set(name, {
      host,
      alloc,
      snap: { name, alive: Boolean(alive), capacity: h.capacity, allocationRatio: ratioOf(h), used: usedBy(alloc?.value), drained: h.drained === true, stores: alive?.value.stores, qemu: alive?.value.qemu, epoch: alive?.value.epoch },
    });
  }
}
