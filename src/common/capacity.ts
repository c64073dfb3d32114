import type { AllocationRatio, Resources } from '../model/host.js';

// Capacity arithmetic shared by placement, booking, `host set` and `host list`:
// a host records its physical capacity and an allocation ratio per dimension;
// what may be booked on it is floor(physical × ratio) (nova/Placement's model).

/** What a newly registered host gets when nothing says otherwise: the *_allocation_ratio config defaults. */
export const DEFAULT_ALLOCATION_RATIO: Readonly<AllocationRatio> = Object.freeze({ cpu: 4, ram: 1, disk: 1 });

/**
 * How a host record written before ratios existed counts: its capacity.cpu was
 * "vCPUs to hand out", so 1:1 keeps what it meant (the defaults would quadruple it).
 */
export const LEGACY_ALLOCATION_RATIO: Readonly<AllocationRatio> = Object.freeze({ cpu: 1, ram: 1, disk: 1 });

export const DIMENSIONS = ['cpu', 'ramBytes', 'diskBytes'] as const;
export type Dimension = (typeof DIMENSIONS)[number];

/** Which ratio governs each dimension, and its configuration key. */
export const RATIO_OF: Record<Dimension, { ratio: keyof AllocationRatio; key: string }> = {
  cpu: { ratio: 'cpu', key: 'cpu_allocation_ratio' },
  ramBytes: { ratio: 'ram', key: 'ram_allocation_ratio' },
  diskBytes: { ratio: 'disk', key: 'disk_allocation_ratio' },
};

export interface Capacity {
  capacity: Resources;
  allocationRatio?: AllocationRatio | undefined;
}

/** An allocation ratio as written in config or on the command line: a decimal above 0, at most 100 (the record's bounds). */
export function parseRatio(v: string): number | undefined {
  const n = Number(v);
  return /^\d+(\.\d+)?$/.test(v) && n > 0 && n <= 100 ? n : undefined;
}

export function ratioOf(h: Capacity): AllocationRatio {
  return h.allocationRatio ?? { ...LEGACY_ALLOCATION_RATIO };
}

/**
 * physical × ratio, rounded down. The product is first rounded to 15 significant
 * digits so that 100 × 0.29 is 29, not 28 (binary fractions).
 */
export function scaled(physical: number, ratio: number): number {
  if (ratio === 1) return physical;
  return Math.floor(Number((physical * ratio).toPrecision(15)));
}

/** What may be booked on the host. */
export function allowedOf(h: Capacity): Resources {
  const r = ratioOf(h);
  return { cpu: scaled(h.capacity.cpu, r.cpu), ramBytes: scaled(h.capacity.ramBytes, r.ram), diskBytes: scaled(h.capacity.diskBytes, r.disk) };
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

/** The first dimension in which `used` exceeds `allowed`, if any. */
export function overbooked(used: Resources, allowed: Resources): Dimension | undefined {
  return DIMENSIONS.find((d) => used[d] > allowed[d]);
}

/**
 * The first dimension a change from `before` to `after` leaves overbooked and
 * lowers: a host that is already over (a ratio lowered by hand, a record from an
 * older ucloud) may still take changes that make no over dimension worse.
 */
export function worsened(used: Resources, before: Resources, after: Resources): Dimension | undefined {
  return DIMENSIONS.find((d) => used[d] > after[d] && after[d] < before[d]);
}
