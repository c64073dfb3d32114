import { formatSize } from '../common/units.js';
import type { Resources } from '../model/host.js';

// Placement is a pure function of a request and a snapshot, so it is unit-tested
// without etcd and the loop that commits its plans stays small.

export interface HostSnapshot {
  name: string;
  alive: boolean;
  capacity: Resources;
  used: Resources;
}

export interface PlacementRequest extends Resources {
  /** Hosts the VM may not go to (e.g. the one it is migrating away from). */
  avoid?: string[];
}

export type Plan = { host: string; score: number } | { host: null; reason: string };

const DIMENSIONS = ['cpu', 'ramBytes', 'diskBytes'] as const;

export function free(h: HostSnapshot): Resources {
  return {
    cpu: h.capacity.cpu - h.used.cpu,
    ramBytes: h.capacity.ramBytes - h.used.ramBytes,
    diskBytes: h.capacity.diskBytes - h.used.diskBytes,
  };
}

export function fits(req: Resources, h: HostSnapshot): boolean {
  const f = free(h);
  return DIMENSIONS.every((d) => req[d] <= f[d]);
}

/**
 * Spreads load: the score is the smallest fraction of any resource left free
 * after placing the VM, so the host that stays least full wins. Ties go to the
 * name that sorts first, so two schedulers given the same snapshot agree.
 */
export function score(req: Resources, h: HostSnapshot): number {
  const f = free(h);
  return Math.min(...DIMENSIONS.map((d) => (h.capacity[d] === 0 ? 0 : (f[d] - req[d]) / h.capacity[d])));
}

export function place(req: PlacementRequest, hosts: readonly HostSnapshot[]): Plan {
  const candidates = hosts.filter((h) => h.alive && !req.avoid?.includes(h.name));
  if (candidates.length === 0) {
    return { host: null, reason: hosts.length === 0 ? 'no host is registered' : 'no host is alive' };
  }
  const fitting = candidates.filter((h) => fits(req, h));
  if (fitting.length === 0) return { host: null, reason: shortfall(req, candidates) };
  let best: { host: string; score: number } | undefined;
  for (const h of fitting) {
    const s = score(req, h);
    if (!best || s > best.score || (s === best.score && h.name < best.host)) best = { host: h.name, score: s };
  }
  return best!;
}

/** Says which resource is short, with the most any alive host has free. */
function shortfall(req: Resources, hosts: readonly HostSnapshot[]): string {
  const short: string[] = [];
  const most = (d: (typeof DIMENSIONS)[number]) => Math.max(...hosts.map((h) => free(h)[d]));
  if (hosts.every((h) => free(h).cpu < req.cpu)) short.push(`${req.cpu} vCPU (most free: ${most('cpu')})`);
  if (hosts.every((h) => free(h).ramBytes < req.ramBytes)) short.push(`${formatSize(req.ramBytes)} RAM (most free: ${formatSize(Math.max(0, most('ramBytes')))})`);
  if (hosts.every((h) => free(h).diskBytes < req.diskBytes)) short.push(`${formatSize(req.diskBytes)} disk (most free: ${formatSize(Math.max(0, most('diskBytes')))})`);
  if (short.length === 0) return 'no single alive host has enough CPU, RAM and disk free at once';
  return `no alive host has ${short.join(', ')}`;
}

export function sumResources(items: Iterable<Resources>): Resources {
  const total = { cpu: 0, ramBytes: 0, diskBytes: 0 };
  for (const r of items) {
    total.cpu += r.cpu;
    total.ramBytes += r.ramBytes;
    total.diskBytes += r.diskBytes;
  }
  return total;
}
