import { UcloudError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { sortKey, sortKeyParts } from '../common/page.js';
import type { HostView, Vm } from '../model/index.js';
import { Informer } from '../store/informer.js';
import { Keys, Kinds } from '../store/keys.js';
import { SortedKeys } from '../store/sorted-index.js';
import type { Store } from '../store/store.js';
import { hostViewOf } from './hosts.js';
import { imageUseKey, imageUseKeys, type ImageUsers } from './images.js';

/** A VM's value in the `name` index (VM_INDEXES). */
const vmNameIndexValue = (owner: string, name: string): string => `${owner}/${name}`;

/** How VM records are indexed in an informer; one definition for every daemon that looks VMs up. */
export const VM_INDEXES = {
  owner: (v: Vm) => v.owner,
  /** "owner/name": names are unique per owner. */
  name: (v: Vm) => vmNameIndexValue(v.owner, v.name),
  host: (v: Vm) => v.host,
};

/** The order of every VM list: owner, then name (the id only breaks a tie no stored state allows). */
export const vmSortKey = (v: Pick<Vm, 'owner' | 'name' | 'id'>): string => sortKey(v.owner, v.name, v.id);

/** How long a read waits for a cache that has not listed yet before answering ETCD_UNAVAILABLE. */
const SYNC_WAIT_MS = 5000;
/** A filtered list reads the cache in chunks, at most this many records per page. */
const FILTER_CHUNK = 1000;
const FILTER_SCAN_MAX = 20_000;

/** What a VM list may be narrowed to (`GET /v1/vms?status=&host=`). */
export interface VmFilter {
  status?: string;
  host?: string;
}

export interface CachePage<T> {
  items: T[];
  /** Sort key of the last item (for the next cursor). */
  last?: string;
  more: boolean;
}

/**
 * VMs and hosts as the API reads them: informers on vm/, host/, host-alive/
 * and host-alloc/ (records validated once, when their event arrives), VMs
 * indexed by owner and name, and kept sorted per owner and overall, so a page
 * costs O(log n + limit) and a show O(1), however large the fleet. Reads that
 * guard a compare-and-swap do not come here: the managers read etcd for those.
 */
export class VmCache {
  readonly vms: Informer<typeof Kinds.vm.schema>;
  readonly hosts: Informer<typeof Kinds.host.schema>;
  readonly alive: Informer<typeof Kinds.hostAlive.schema>;
  readonly allocs: Informer<typeof Kinds.hostAlloc.schema>;
  private readonly all = new SortedKeys();
  private readonly byOwner = new Map<string, SortedKeys>();
  /** vm/<id> → its sort key, to find it again in the sorted lists once the record is gone. */
  private readonly sorted = new Map<string, string>();
  private readonly hostNames = new SortedKeys();
  /**
   * Each VM's JSON as bytes, made once per change and found by sort key: a page
   * is then concatenated, not serialized or encoded, per request.
   */
  private readonly json = new Map<string, Buffer>();
  /**
   * owner → name → the VM the name index gives first, with its JSON: a show is
   * two lookups in small maps (six in large ones through the indexes was a
   * measurable part of each show at 100,000 VMs: bench/scale).
   */
  private readonly named = new Map<string, Map<string, { vm: Vm; json: Buffer }>>();
  /** Counts every VM change this cache applies; an owner's entry is the count at the last change of one of theirs. */
  private changes = 0;
  private readonly ownerChanged = new Map<string, number>();
  private started = false;
  private listedOnce = false;

  constructor(store: Store, log: Logger) {
    // By image too, here only: an image's delete asks which VMs use it (the other daemons never do).
    this.vms = new Informer(store, Kinds.vm, Keys.vms(), log, { indexes: { ...VM_INDEXES, image: (v: Vm) => imageUseKey(v.image) } });
    this.hosts = new Informer(store, Kinds.host, Keys.hosts(), log);
    this.alive = new Informer(store, Kinds.hostAlive, Keys.hostsAlive(), log);
    this.allocs = new Informer(store, Kinds.hostAlloc, Keys.hostAllocs(), log);
    this.vms.on('change', (key) => this.resortVm(key));
    this.hosts.on('change', (key) => {
      const h = this.hosts.get(key);
      if (h) this.hostNames.add(h.value.name);
      else this.hostNames.delete(key.slice(Keys.hosts().length));
    });
  }

  /** Its informers: a writer that must read its own write waits on those whose prefix holds a key it wrote. */
  get informers() {
    return [this.vms, this.hosts, this.alive, this.allocs] as const;
  }

  /** Starts listing and watching; does not wait (an informer retries until etcd answers). */
  start(): void {
    if (this.started) return;
    this.started = true;
    for (const inf of this.informers) void inf.start();
  }

  async stop(): Promise<void> {
    await Promise.all(this.informers.map((i) => i.stop()));
  }

  /**
   * Whether every informer has listed once (and so serves reads from then on).
   * The `…Now` reads below are for a cache that has: the API answers from them
   * without a promise once it has, and after `ready` before that.
   */
  get listed(): boolean {
    return (this.listedOnce ||= this.informers.every((i) => i.synced));
  }

  /** Waits (bounded) for every informer's first list; ETCD_UNAVAILABLE when one has none. */
  async ready(timeoutMs = SYNC_WAIT_MS): Promise<void> {
    if (this.listed) return;
    const ok = await Promise.all(this.informers.map((i) => i.whenSynced(timeoutMs)));
    if (!ok.every(Boolean)) throw new UcloudError('ETCD_UNAVAILABLE', 'the API has not read its records from etcd yet; try again shortly');
  }

  /** The VMs whose disks come from `img`, as this cache has them now; undefined before its first list. */
  readonly usersOfImage: ImageUsers = (img) => {
    if (!this.vms.synced) return undefined;
    return imageUseKeys(img).flatMap((k) => this.vms.byIndex('image', k).map(({ value: v }) => ({ owner: v.owner, name: v.name })));
  };

  private resortVm(key: string): void {
    const cur = this.vms.get(key)?.value;
    const was = this.sorted.get(key);
    const now = cur ? vmSortKey(cur) : undefined;
    const [wasOwner, wasName] = was === undefined ? [] : sortKeyParts(was);
    this.changes++;
    // Both owners' lists when a record changes hands (no API route does; a restore or a hand edit may).
    for (const owner of [cur?.owner, wasOwner]) if (owner !== undefined) this.ownerChanged.set(owner, this.changes);
    if (was !== undefined) this.json.delete(was);
    if (cur && now !== undefined) this.json.set(now, Buffer.from(JSON.stringify(cur)));
    // Both names: the old one may now belong to another record of that owner (only a hand edit makes two).
    if (wasOwner !== undefined && wasName !== undefined) this.setNamed(wasOwner, wasName);
    if (cur && (cur.owner !== wasOwner || cur.name !== wasName)) this.setNamed(cur.owner, cur.name);
    if (was === now) return;
    if (was !== undefined) {
      this.all.delete(was);
      const mine = this.byOwner.get(wasOwner!);
      mine?.delete(was);
      if (mine?.size === 0) this.byOwner.delete(wasOwner!);
      this.sorted.delete(key);
    }
    if (cur && now !== undefined) {
      this.all.add(now);
      let mine = this.byOwner.get(cur.owner);
      if (!mine) this.byOwner.set(cur.owner, (mine = new SortedKeys()));
      mine.add(now);
      this.sorted.set(key, now);
    }
  }

  /** Sets `named` for one owner and name from the name index, as it is now. */
  private setNamed(owner: string, name: string): void {
    const vm = this.vms.byIndex('name', vmNameIndexValue(owner, name))[0]?.value;
    const json = vm && this.json.get(vmSortKey(vm));
    let names = this.named.get(owner);
    if (vm && json) {
      if (!names) this.named.set(owner, (names = new Map()));
      names.set(name, { vm, json });
    } else if (names?.delete(name) && names.size === 0) this.named.delete(owner);
  }

  /**
   * Up to `limit` VMs after sort key `after` (the owner's, or everyone's when
   * `owner` is undefined), each as its JSON bytes: what the API sends.
   */
  vmPageJsonNow(owner: string | undefined, after: string | undefined, limit: number, filter: VmFilter = {}): CachePage<Buffer> {
    if (filter.host !== undefined) return this.hostPageOf(filter.host, owner, after, limit, filter.status);
    const keys = owner === undefined ? this.all : this.byOwner.get(owner);
    if (!keys) return { items: [], more: false };
    if (filter.status !== undefined) return this.filteredPage(keys, after, limit, (vm) => vm.status === filter.status);
    const { keys: page, more } = keys.after(after, limit);
    const items: Buffer[] = [];
    for (const k of page) {
      const json = this.json.get(k);
      if (json !== undefined) items.push(json);
    }
    return { items, ...(page.length ? { last: page[page.length - 1]! } : {}), more };
  }

  /**
   * A page of the VMs on `host` (of `owner` when given), from the index by
   * host: its cost is the host's VMs, not the fleet's (what `host drain
   * --wait` polls).
   */
  private hostPageOf(host: string, owner: string | undefined, after: string | undefined, limit: number, status: string | undefined): CachePage<Buffer> {
    const keys: string[] = [];
    for (const { key, value } of this.vms.byIndex('host', host)) {
      const k = this.sorted.get(key);
      if (k !== undefined && (after === undefined || k > after) && (owner === undefined || value.owner === owner) && (status === undefined || value.status === status)) keys.push(k);
    }
    keys.sort();
    const page = keys.slice(0, limit);
    const items = page.flatMap((k) => this.json.get(k) ?? []);
    return { items, ...(page.length ? { last: page[page.length - 1]! } : {}), more: keys.length > limit };
  }

  /**
   * Up to `limit` matching VMs, scanning at most FILTER_SCAN_MAX records: a
   * filter that matches few VMs of many answers a short (even empty) page
   * with a cursor to go on from, rather than one request reading the fleet.
   */
  private filteredPage(keys: SortedKeys, after: string | undefined, limit: number, filter: (vm: Vm) => boolean): CachePage<Buffer> {
    const items: Buffer[] = [];
    let cursor = after;
    let scanned = 0;
    for (;;) {
      const { keys: chunk, more } = keys.after(cursor, Math.min(FILTER_CHUNK, FILTER_SCAN_MAX - scanned));
      for (const [i, k] of chunk.entries()) {
        const vm = this.vms.get(Keys.vm(sortKeyParts(k).at(-1)!))?.value;
        const json = this.json.get(k);
        if (vm && json !== undefined && filter(vm)) items.push(json);
        if (items.length === limit) return { items, last: k, more: more || i < chunk.length - 1 };
      }
      scanned += chunk.length;
      if (chunk.length) cursor = chunk[chunk.length - 1];
      if (!more) return { items, ...(cursor !== undefined ? { last: cursor } : {}), more: false };
      if (scanned >= FILTER_SCAN_MAX) return { items, ...(cursor !== undefined ? { last: cursor } : {}), more: true };
    }
  }

  /**
   * A number that changes whenever a VM of `owner` (undefined: any VM) changes
   * in this cache, read before a page is: a page kept with it is still the
   * page while the number is the same (the API's PageCache).
   */
  vmListVersion(owner: string | undefined): number {
    return owner === undefined ? this.changes : (this.ownerChanged.get(owner) ?? 0);
  }

  /** The VM's JSON bytes, as in vmPageJson. */
  jsonOf(id: string): Buffer | undefined {
    const k = this.sorted.get(Keys.vm(id));
    return k === undefined ? undefined : this.json.get(k);
  }

  /** The owner's VM by name with its JSON bytes (what a show sends). */
  shownByNameNow(owner: string, name: string): { vm: Vm; json: Buffer } | undefined {
    return this.named.get(owner)?.get(name);
  }

  vmByIdNow(id: string): Vm | undefined {
    return this.vms.get(Keys.vm(id))?.value;
  }

  /** Up to `limit` hosts after name `after`, with liveness and bookings. */
  async hostPage(after: string | undefined, limit: number): Promise<CachePage<HostView>> {
    await this.ready();
    const { keys: names, more } = this.hostNames.after(after, limit);
    const items: HostView[] = [];
    for (const name of names) {
      const h = this.hosts.get(Keys.host(name));
      if (h) items.push(hostViewOf(h.value, this.alive.get(Keys.hostAlive(name))?.value, this.allocs.get(Keys.hostAlloc(name))?.value));
    }
    return { items, ...(names.length ? { last: names[names.length - 1]! } : {}), more };
  }
}
