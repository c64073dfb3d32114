import { allowedOf, DIMENSIONS } from '../common/capacity.js';
import { UcloudError } from '../common/errors.js';
import type { Resources } from '../model/host.js';
import { CHECKS, failedCheck as firstFailed, place, type HostSnapshot, type PlacementRequest } from './place.js';

export { CHECKS, type FeasibilityCheck } from './place.js';

// The indexed form of `place`: the same answer (spread; ties by name), found
// without scoring every host for every VM. Each request shape gets a heap of
// the hosts that pass every feasibility check, ordered by score; booking a host
// only lowers its score, so a heap entry left stale by a booking is a bound
// from above, refreshed when it reaches the top (lazy re-keying). A placement
// then costs O(log hosts), and a shape that fits nowhere costs nothing more
// after its first VM in the same plan.

export interface CheckCount {
  check: string;
  filtered: number;
}

/** Why a request fits nowhere: `place`'s sentence, and how many hosts each check filtered. */
export interface Infeasible {
  reason: string;
  hosts: number;
  checks: CheckCount[];
}

export type Placement = { host: string; score: number } | { host: null };

/** Requests with the same resources, hosts to avoid and stores are one shape: they are filtered and ranked alike. */
export function shapeOf(req: PlacementRequest): string {
  return `${req.cpu}/${req.ramBytes}/${req.diskBytes}/${[...(req.avoid ?? [])].sort().join(',')}/${[...(req.stores ?? [])].sort().join(',')}/${req.qemu ? `${req.qemu.machine ?? ''}|${req.qemu.cpu ?? ''}|${req.qemu.hostCpu ?? ''}` : ''}`;
}

interface Slot {
  snap: HostSnapshot;
  allowed: Resources;
  /** This plan's own copy: the cache's bookings plus what the plan booked. */
  used: Resources;
  /** Bumped on every booking; a heap entry with an older one is stale. */
  ver: number;
}

interface Entry {
  slot: Slot;
  score: number;
  ver: number;
}

interface Shape {
  req: PlacementRequest;
  heap: Heap;
  /** Counted at `bookings`; any booking since may change the most-free figures in the reason. */
  infeasible?: { at: number; why: Infeasible };
}

/** Same arithmetic, in the same order, as `place`'s `free` and `score`, so both agree to the last bit. */
function freeOf(s: Slot): Resources {
  return { cpu: s.allowed.cpu - s.used.cpu, ramBytes: s.allowed.ramBytes - s.used.ramBytes, diskBytes: s.allowed.diskBytes - s.used.diskBytes };
}

function scoreOf(req: Resources, s: Slot, f: Resources): number {
  return Math.min(...DIMENSIONS.map((d) => (s.allowed[d] === 0 ? 0 : (f[d] - req[d]) / s.allowed[d])));
}

/** The first check the host fails, or -1. */
function failedCheck(req: PlacementRequest, s: Slot, f: Resources): number {
  // The checks read room from `f`, never the snapshot's (unbooked) `used`.
  return firstFailed(req, s.snap, f);
}

/**
 * A plan over one snapshot of the hosts: `place` a request, `book` it
 * tentatively, repeat; `explain` why a shape fits nowhere. The snapshot's
 * `used` is copied, never changed.
 */
export class Planner {
  private readonly slots = new Map<string, Slot>();
  private readonly shapes = new Map<string, Shape>();
  private bookings = 0;

  constructor(hosts: Iterable<HostSnapshot>) {
    for (const snap of hosts) this.slots.set(snap.name, { snap, allowed: allowedOf(snap), used: { ...snap.used }, ver: 0 });
  }

  get hosts(): number {
    return this.slots.size;
  }

  place(req: PlacementRequest): Placement {
    const shape = this.shape(req);
    for (;;) {
      const top = shape.heap.peek();
      if (!top) return { host: null };
      if (top.ver === top.slot.ver) return { host: top.slot.snap.name, score: top.score };
      shape.heap.pop();
      const f = freeOf(top.slot);
      if (failedCheck(req, top.slot, f) < 0) shape.heap.push({ slot: top.slot, score: scoreOf(req, top.slot, f), ver: top.slot.ver });
    }
  }

  /** Books `req` on `host` in this plan: the host's score for every shape can only fall. */
  book(host: string, req: Resources): void {
    const s = this.slots.get(host);
    if (!s) throw new UcloudError('INTERNAL', `planner: no host ${host}`);
    s.used = { cpu: s.used.cpu + req.cpu, ramBytes: s.used.ramBytes + req.ramBytes, diskBytes: s.used.diskBytes + req.diskBytes };
    s.ver++;
    this.bookings++;
  }

  /** What this plan has booked on `host` so far, on top of the snapshot. */
  usedOn(host: string): Resources | undefined {
    return this.slots.get(host)?.used;
  }

  /**
   * Why `req` fits nowhere now: a count over every host, so ask once a plan is
   * made. It is kept per shape until the next booking, so every VM of a shape
   * that fits nowhere shares one count (`place` itself answers such a shape in
   * O(1): its heap is empty, and bookings only take room away).
   */
  explain(req: PlacementRequest): Infeasible {
    const shape = this.shape(req);
    if (shape.infeasible?.at === this.bookings) return shape.infeasible.why;
    const counts = CHECKS.map(() => 0);
    const snaps: HostSnapshot[] = [];
    for (const s of this.slots.values()) {
      const i = failedCheck(req, s, freeOf(s));
      if (i >= 0) counts[i]!++;
      snaps.push({ ...s.snap, used: s.used });
    }
    const plan = place(req, snaps);
    const reason = plan.host === null ? plan.reason : `fits on ${plan.host}`;
    const why = { reason, hosts: this.slots.size, checks: CHECKS.map((c, i) => ({ check: c.name, filtered: counts[i]! })) };
    shape.infeasible = { at: this.bookings, why };
    return why;
  }

  private shape(req: PlacementRequest): Shape {
    const key = shapeOf(req);
    let shape = this.shapes.get(key);
    if (!shape) {
      const entries: Entry[] = [];
      for (const s of this.slots.values()) {
        const f = freeOf(s);
        if (failedCheck(req, s, f) < 0) entries.push({ slot: s, score: scoreOf(req, s, f), ver: s.ver });
      }
      shape = { req, heap: new Heap(entries) };
      this.shapes.set(key, shape);
    }
    return shape;
  }
}

/** Higher score first; equal scores by name, so two schedulers with the same snapshot agree. */
function before(a: Entry, b: Entry): boolean {
  return a.score > b.score || (a.score === b.score && a.slot.snap.name < b.slot.snap.name);
}

/** A binary heap of entries, best on top; built in O(n). */
class Heap {
  constructor(private readonly a: Entry[]) {
    for (let i = (a.length >>> 1) - 1; i >= 0; i--) this.down(i);
  }

  peek(): Entry | undefined {
    return this.a[0];
  }

  push(e: Entry): void {
    this.a.push(e);
    let i = this.a.length - 1;
    while (i > 0) {
      const p = (i - 1) >>> 1;
      if (!before(this.a[i]!, this.a[p]!)) break;
      this.swap(i, p);
      i = p;
    }
  }

  pop(): Entry | undefined {
    const top = this.a[0];
    const last = this.a.pop();
    if (this.a.length > 0 && last) {
      this.a[0] = last;
      this.down(0);
    }
    return top;
  }

  private down(i: number): void {
    const n = this.a.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && before(this.a[l]!, this.a[m]!)) m = l;
      if (r < n && before(this.a[r]!, this.a[m]!)) m = r;
      if (m === i) return;
      this.swap(i, m);
      i = m;
    }
  }

  private swap(i: number, j: number): void {
    const t = this.a[i]!;
    this.a[i] = this.a[j]!;
    this.a[j] = t;
  }
}
