import { allowedOf, DIMENSIONS, ratioOf, RATIO_OF, type Dimension } from '../common/capacity.js';
import { qemuMismatch, type QemuNeed, type QemuOffer } from '../common/qemu-compat.js';
import { formatSize } from '../common/units.js';
import type { AllocationRatio, Resources } from '../model/host.js';

// Placement is a pure function of a request and a snapshot, so it is unit-tested
// without etcd and the loop that commits its plans stays small.

export interface HostSnapshot {
  name: string;
  alive: boolean;
  /** Physical capacity; what may be booked is this × allocationRatio (src/common/capacity.ts). */
  capacity: Resources;
  /** Absent: 1:1 (records from before ratios, LEGACY_ALLOCATION_RATIO). */
  allocationRatio?: AllocationRatio | undefined;
  used: Resources;
  /** Drained by an admin: takes no new VMs. */
  drained?: boolean;
  /** The stores the host's agent could open (its presence record); absent: all. */
  stores?: string[] | undefined;
  /** What the host's QEMU offers (its presence record); absent: not known, not checked. */
  qemu?: QemuOffer | undefined;
  /** Its agent's presence lease (fencing epoch), recorded on VMs placed there. */
  epoch?: string | undefined;
}

export interface PlacementRequest extends Resources {
  /** Hosts the VM may not go to (e.g. the one it is migrating away from). */
  avoid?: string[];
  /** The stores of the VM's disks: a host must reach every one. */
  stores?: string[];
  /** A migrating VM's machine type and CPU model (recorded when it started): the destination's QEMU must offer both. */
  qemu?: QemuNeed;
}

/**
 * One named feasibility check. A host is filtered by the first check it fails,
 * and each check reports how many it filtered, the shape later checks
 * (affinity, accelerators, …) slot into. `free` is what is left to book.
 */
export interface FeasibilityCheck {
  name: string;
  ok(req: PlacementRequest, h: HostSnapshot, free: Resources): boolean;
  /** How a count of hosts it filtered reads in a pending reason, e.g. "2 drained". */
  says(req: PlacementRequest, n: number): string;
}

const missingStores = (r: PlacementRequest, h: HostSnapshot): string[] => (h.stores ? (r.stores ?? []).filter((s) => !h.stores!.includes(s)) : []);

export const CHECKS: readonly FeasibilityCheck[] = [
  { name: 'alive', ok: (_r, h) => h.alive, says: (_r, n) => `${n} dead` },
  { name: 'avoid', ok: (r, h) => !r.avoid?.includes(h.name), says: (_r, n) => `${n} avoided` },
  { name: 'drained', ok: (_r, h) => !h.drained, says: (_r, n) => `${n} drained` },
  { name: 'storage', ok: (r, h) => missingStores(r, h).length === 0, says: (r, n) => `${n} without store ${(r.stores ?? []).join(', ')}` },
  { name: 'qemu', ok: (r, h) => qemuMismatch(r.qemu, h.qemu) === undefined, says: (r, n) => `${n} whose QEMU cannot run ${[r.qemu?.machine, r.qemu?.cpu].filter(Boolean).join(' / ')}` },
  { name: 'cpu', ok: (r, _h, f) => r.cpu <= f.cpu, says: (r, n) => `${n} without ${r.cpu} vCPU free` },
  { name: 'ram', ok: (r, _h, f) => r.ramBytes <= f.ramBytes, says: (r, n) => `${n} without ${formatSize(r.ramBytes)} RAM free` },
  { name: 'disk', ok: (r, _h, f) => r.diskBytes <= f.diskBytes, says: (r, n) => `${n} without ${formatSize(r.diskBytes)} disk free` },
];

/** Checks whose filtering a pending reason always names (resources and liveness have their own sentences). */
const NAMED = new Set(['drained', 'storage', 'qemu']);

/** The first check the host fails, or -1. */
export function failedCheck(req: PlacementRequest, h: HostSnapshot, f: Resources = free(h)): number {
  return CHECKS.findIndex((c) => !c.ok(req, h, f));
}

/**
 * The count per check ("1 dead, 3 drained, 2 without 2 vCPU free") when
 * drained hosts or unreachable stores played a part in a request fitting
 * nowhere, else undefined: then the sentence about liveness or the resource
 * short says it all, as it did before those checks.
 */
export function countsOf(req: PlacementRequest, counts: readonly number[]): string | undefined {
  if (!CHECKS.some((c, i) => NAMED.has(c.name) && counts[i]! > 0)) return undefined;
  return CHECKS.flatMap((c, i) => (counts[i]! > 0 ? [c.says(req, counts[i]!)] : [])).join(', ');
}

export type Plan = { host: string; score: number } | { host: null; reason: string };

/** What is left to book: allowed less used (negative when a host is over). */
export function free(h: HostSnapshot): Resources {
  const a = allowedOf(h);
  return { cpu: a.cpu - h.used.cpu, ramBytes: a.ramBytes - h.used.ramBytes, diskBytes: a.diskBytes - h.used.diskBytes };
}

export function fits(req: Resources, h: HostSnapshot): boolean {
  const f = free(h);
  return DIMENSIONS.every((d) => req[d] <= f[d]);
}

/**
 * Spreads load: the score is the smallest fraction of any resource left free
 * after placing the VM (of what is allowed), so the host that stays least full
 * wins. Ties go to the name that sorts first, so two schedulers given the same
 * snapshot agree.
 */
export function score(req: Resources, h: HostSnapshot): number {
  const f = free(h);
  const a = allowedOf(h);
  return Math.min(...DIMENSIONS.map((d) => (a[d] === 0 ? 0 : (f[d] - req[d]) / a[d])));
}

export function place(req: PlacementRequest, hosts: readonly HostSnapshot[]): Plan {
  const firstResource = CHECKS.findIndex((c) => c.name === 'cpu');
  const counts = CHECKS.map(() => 0);
  const candidates: HostSnapshot[] = [];
  for (const h of hosts) {
    const i = failedCheck(req, h);
    if (i >= 0) counts[i]!++;
    if (i < 0 || i >= firstResource) candidates.push(h);
  }
  const named = countsOf(req, counts);
  if (candidates.length === 0) {
    return { host: null, reason: named ? `no host fits: ${named}` : hosts.length === 0 ? 'no host is registered' : 'no host is alive' };
  }
  const fitting = candidates.filter((h) => fits(req, h));
  // Resources are short on the hosts left: that sentence first (with the most free), then the counts.
  if (fitting.length === 0) return { host: null, reason: `${shortfall(req, candidates)}${named ? `; filtered: ${named}` : ''}` };
  let best: { host: string; score: number } | undefined;
  for (const h of fitting) {
    const s = score(req, h);
    if (!best || s > best.score || (s === best.score && h.name < best.host)) best = { host: h.name, score: s };
  }
  return best!;
}

const amount = (d: Dimension, n: number): string => (d === 'cpu' ? String(n) : formatSize(n));
const UNIT: Record<Dimension, string> = { cpu: 'vCPU', ramBytes: 'RAM', diskBytes: 'disk' };

/**
 * "0 of 8 allowed = 2 cores × cpu_allocation_ratio 4" for the host with the most
 * free, so a pending VM says why the number is what it is; "0B of 2GiB" when
 * that dimension is not overcommitted.
 */
function mostFree(d: Dimension, hosts: readonly HostSnapshot[]): string {
  const best = [...hosts].sort((a, b) => free(b)[d] - free(a)[d] || a.name.localeCompare(b.name))[0]!;
  const left = amount(d, Math.max(0, free(best)[d]));
  const ratio = ratioOf(best)[RATIO_OF[d].ratio];
  const physical = best.capacity[d];
  const phys = d === 'cpu' ? `${physical} core${physical === 1 ? '' : 's'}` : formatSize(physical);
  if (ratio === 1) return `${left} of ${phys}`;
  return `${left} of ${amount(d, allowedOf(best)[d])} allowed = ${phys} × ${RATIO_OF[d].key} ${ratio}`;
}

/** Says which resource is short, with the most any alive host has free and how that is reckoned. */
function shortfall(req: Resources, hosts: readonly HostSnapshot[]): string {
  const short = DIMENSIONS.filter((d) => hosts.every((h) => free(h)[d] < req[d])).map(
    (d) => `${amount(d, req[d])} ${UNIT[d]} free (most free: ${mostFree(d, hosts)})`,
  );
  if (short.length === 0) return 'no single alive host has enough CPU, RAM and disk free at once';
  return `no alive host has ${short.join(', ')}`;
}
