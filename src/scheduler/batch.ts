import { allowedOf, overbooked, sumResources } from '../common/capacity.js';
import { UcloudError } from '../common/errors.js';
import { stageVmWrite } from '../managers/vms.js';
import { nowIso, type HostAllocation, type Resources, type Vm } from '../model/index.js';
import { SCHEDULER_ACTOR } from '../model/vm-lifecycle.js';
import { Keys, Kinds } from '../store/keys.js';
import type { Store, Txn, Versioned } from '../store/store.js';
import type { HostIndex } from './host-index.js';

/** etcd's default --max-txn-ops: a transaction may hold at most this many compares, and as many operations. */
export const MAX_TXN_OPS = 128;

/**
 * What a transaction may carry, well inside etcd's default --max-request-bytes
 * (1.5 MiB): a host with hundreds of VMs has an allocation record of tens of KiB,
 * and a batch holds up to ~40 of them.
 */
export const MAX_TXN_BYTES = 1 << 20;
/** One booking's entry in an allocation record, and a VM write (record and mirror), as bounds. */
export const ALLOC_ENTRY_BYTES = 120;
const VM_WRITE_BYTES = 2 * 4096;

/** A planned placement: the VM as the cache had it, where it goes, what it books. */
export interface Booking {
  vm: Versioned<Vm>;
  host: string;
  /** The host's presence lease as cached when planned (its fencing epoch). */
  epoch?: string | undefined;
  res: Resources;
}

/**
 * One transaction's worth of bookings. The VM writes are staged when packed;
 * each host's compares and its one allocation put are added at commit, against
 * the allocation as it stands then (an earlier batch may have just booked there).
 */
export interface Batch {
  t: Txn;
  hosts: Map<string, Booking[]>;
}

type Size = { compares: number; ops: number };
const add = (a: Size, b: Size): Size => ({ compares: a.compares + b.compares, ops: a.ops + b.ops });
const NONE: Size = { compares: 0, ops: 0 };
const times = (s: Size, n: number): Size => ({ compares: s.compares * n, ops: s.ops * n });
const fitsLimit = (s: Size, limit: number) => s.compares <= limit && s.ops <= limit;
/** Per host in a batch: compare the host record and the allocation, put the allocation. */
const PER_HOST: Size = { compares: 2, ops: 1 };

/**
 * Fills transactions with writes up to `limit` compares and `limit` ops each.
 * What one write costs is measured as it is staged, and the most seen so far is
 * what the next one is assumed to cost, so a transaction never has to be undone.
 */
export class TxnPacker {
  readonly txns: Txn[] = [];
  private most: Size = { compares: 0, ops: 0 };

  constructor(
    private readonly store: Store,
    private readonly limit = MAX_TXN_OPS,
  ) {}

  /** Whether the current transaction has room for one more write of the largest kind seen, plus `reserved`. */
  room(reserved: Size = NONE): boolean {
    const t = this.txns[this.txns.length - 1];
    return t !== undefined && fitsLimit(add(add(t.size(), this.most), reserved), this.limit);
  }

  /** Stages with `fn` on the current transaction, or on a new one (`fresh`, or no room for it plus `reserved`). */
  stage(fn: (t: Txn) => void, reserved: Size = NONE, fresh = false): Txn {
    let t = this.txns[this.txns.length - 1];
    if (!t || fresh || !this.room(reserved)) this.txns.push((t = this.store.txn()));
    const before = t.size();
    fn(t);
    const after = t.size();
    this.most = { compares: Math.max(this.most.compares, after.compares - before.compares), ops: Math.max(this.most.ops, after.ops - before.ops) };
    if (!fitsLimit(add(after, reserved), this.limit)) throw new UcloudError('INTERNAL', `one write needs more than ${this.limit} compares or ops`);
    return t;
  }
}

/** The VM record once booked on `host`. */
export function placedVm(vm: Vm, host: string, epoch?: string): Vm {
  const next: Vm = { ...vm, host, status: 'scheduled', updatedAt: nowIso() };
  delete next.reason;
  // The host incarnation it is placed with (its fencing epoch): only that one's writes land.
  if (epoch) next.epoch = epoch;
  else delete next.epoch;
  return next;
}

/**
 * Packs bookings into batches of at most MAX_TXN_OPS compares and ops, each VM
 * write staged through stageVmWrite (a CAS on the VM). A host's bookings are
 * kept together as far as they fit, so it costs its compares and its allocation
 * put once; a host with more than one transaction holds spills into the next.
 */
export function packBookings(store: Store, bookings: readonly Booking[], limit = MAX_TXN_OPS, allocBytes: (host: string) => number = () => 0): Batch[] {
  const byHost = new Map<string, Booking[]>();
  for (const b of bookings) {
    let list = byHost.get(b.host);
    if (!list) byHost.set(b.host, (list = []));
    list.push(b);
  }
  const packer = new TxnPacker(store, limit);
  const batches: Batch[] = [];
  const known = new Map<string, number>();
  const allocBytesOf = (h: string): number => {
    let n = known.get(h);
    if (n === undefined) known.set(h, (n = allocBytes(h)));
    return n;
  };
  for (const [host, list] of byHost) {
    for (const b of list) {
      const cur = batches[batches.length - 1];
      const hostsIfHere = (cur?.hosts.size ?? 0) + (cur?.hosts.has(host) ? 0 : 1);
      // etcd's --max-request-bytes: the VM writes staged so far, plus each host's allocation as it will be written.
      const bytesIfHere = cur === undefined ? 0 : cur.t.size().bytes + (cur.hosts.has(host) ? 0 : allocBytesOf(host)) + [...cur.hosts.entries()].reduce((n, [h, l]) => n + allocBytesOf(h) + l.length * ALLOC_ENTRY_BYTES, 0);
      const here = cur !== undefined && packer.room(times(PER_HOST, hostsIfHere)) && bytesIfHere + VM_WRITE_BYTES <= MAX_TXN_BYTES;
      const t = packer.stage((t) => stageVmWrite(t, b.vm, placedVm(b.vm.value, host, b.epoch), SCHEDULER_ACTOR), times(PER_HOST, here ? hostsIfHere : 1), !here);
      let batch = batches[batches.length - 1];
      if (!here || !batch) batches.push((batch = { t, hosts: new Map() }));
      let mine = batch.hosts.get(host);
      if (!mine) batch.hosts.set(host, (mine = []));
      mine.push(b);
    }
  }
  return batches;
}

export interface CommitResult {
  placed: Booking[];
  failed: Booking[];
  lostBatches: number;
  /** The highest revision a batch committed at (0 if none did): the caches hold every booking once they reach it. */
  committed: bigint;
}

/**
 * Commits batches, up to `concurrency` at once. Batches that share a host go
 * in order, each comparing the allocation the one before it wrote (its value and
 * revision are known from the commit), so they need no re-read; batches on
 * different hosts run side by side. Before a batch goes, every host's new
 * allocation is checked against the host record it compares: the CAS makes the
 * check exact. A failed batch books nothing and its VMs are returned to re-plan.
 */
export async function commitBatches(index: HostIndex, batches: readonly Batch[], concurrency = 8): Promise<CommitResult> {
  const result: CommitResult = { placed: [], failed: [], lostBatches: 0, committed: 0n };
  const allocs = new Map<string, Versioned<HostAllocation> | undefined>();
  const chains = new Map<string, Promise<void>>();
  let running = 0;
  const queue: (() => void)[] = [];
  const acquire = () => (running < concurrency ? (running++, Promise.resolve()) : new Promise<void>((r) => queue.push(r)));
  const release = () => {
    const next = queue.shift();
    if (next) next();
    else running--;
  };

  const one = async (batch: Batch, after: Promise<void>[]): Promise<void> => {
    await Promise.all(after);
    await acquire();
    try {
      await commitOne(batch);
    } catch {
      fail(batch);
    } finally {
      release();
    }
  };
  const commitOne = async (batch: Batch): Promise<void> => {
    const next = new Map<string, HostAllocation>();
    const t = batch.t;
    for (const [host, list] of batch.hosts) {
      const entry = index.get(host);
      if (!entry) return fail(batch);
      const prev = allocs.has(host) ? allocs.get(host) : entry.alloc;
      const vms = { ...(prev?.value.vms ?? {}) };
      for (const b of list) vms[b.vm.value.id] = b.res;
      if (overbooked(sumResources(Object.values(vms)), allowedOf(entry.host.value))) return fail(batch);
      t.unchanged(entry.host);
      if (prev) t.unchanged(prev);
      else t.absent(Keys.hostAlloc(host));
      t.put(Kinds.hostAlloc, Keys.hostAlloc(host), { vms });
      next.set(host, { vms });
    }
    if (!(await t.commit())) return fail(batch);
    if (BigInt(t.revision!) > result.committed) result.committed = BigInt(t.revision!);
    for (const [host, value] of next) allocs.set(host, { key: Keys.hostAlloc(host), value, modRevision: t.revision! });
    for (const list of batch.hosts.values()) result.placed.push(...list);
  };
  const fail = (batch: Batch) => {
    result.lostBatches++;
    for (const list of batch.hosts.values()) result.failed.push(...list);
  };

  const all: Promise<void>[] = [];
  for (const batch of batches) {
    const after = [...batch.hosts.keys()].map((h) => chains.get(h)).filter((p): p is Promise<void> => p !== undefined);
    const done = one(batch, after);
    all.push(done);
    for (const h of batch.hosts.keys()) chains.set(h, done);
  }
  await Promise.all(all);
  return result;
}
