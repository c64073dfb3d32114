import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { allowedOf, scaled, sumResources } from '../../src/common/capacity.js';
import type { Resources } from '../../src/model/index.js';
import { place, type HostSnapshot } from '../../src/scheduler/place.js';

const GiB = 2 ** 30;
// Ratio 1 unless a test says otherwise, so "free" here is physical less used.
const ONE = { cpu: 1, ram: 1, disk: 1 };
const host = (name: string, free: { cpu: number; ram: number; disk: number }, alive = true, cap = { cpu: 8, ram: 16, disk: 100 }): HostSnapshot => ({
  name,
  alive,
  capacity: { cpu: cap.cpu, ramBytes: cap.ram * GiB, diskBytes: cap.disk * GiB },
  allocationRatio: ONE,
  used: { cpu: cap.cpu - free.cpu, ramBytes: (cap.ram - free.ram) * GiB, diskBytes: (cap.disk - free.disk) * GiB },
});
const req = (cpu: number, ram: number, disk: number) => ({ cpu, ramBytes: ram * GiB, diskBytes: disk * GiB });

describe('place', () => {
  it('picks the host left least full (spread)', () => {
    const plan = place(req(1, 1, 10), [host('a', { cpu: 2, ram: 2, disk: 50 }), host('b', { cpu: 6, ram: 12, disk: 80 })]);
    expect(plan.host).toBe('b');
  });

  it('never picks a dead host, even the emptiest', () => {
    const plan = place(req(1, 1, 1), [host('a', { cpu: 8, ram: 16, disk: 100 }, false), host('b', { cpu: 1, ram: 1, disk: 1 })]);
    expect(plan.host).toBe('b');
  });

  it('fills a host exactly, and not one byte more', () => {
    expect(place(req(2, 4, 20), [host('a', { cpu: 2, ram: 4, disk: 20 })]).host).toBe('a');
    const over = place({ cpu: 2, ramBytes: 4 * GiB + 1, diskBytes: 20 * GiB }, [host('a', { cpu: 2, ram: 4, disk: 20 })]);
    expect(over.host).toBeNull();
  });

  it('is deterministic: equal hosts tie-break by name whatever the order', () => {
    const hs = [host('c', { cpu: 4, ram: 8, disk: 50 }), host('a', { cpu: 4, ram: 8, disk: 50 }), host('b', { cpu: 4, ram: 8, disk: 50 })];
    expect(place(req(1, 1, 1), hs).host).toBe('a');
    expect(place(req(1, 1, 1), [...hs].reverse()).host).toBe('a');
  });

  it('says which resource is short', () => {
    const plan = place(req(4, 1, 1), [host('a', { cpu: 2, ram: 16, disk: 100 }), host('b', { cpu: 3, ram: 16, disk: 100 })]);
    expect(plan).toEqual({ host: null, reason: 'no alive host has 4 vCPU free (most free: 3 of 8 cores)' });
    const ram = place(req(1, 32, 1), [host('a', { cpu: 8, ram: 16, disk: 100 })]);
    expect(ram.host === null && ram.reason).toBe('no alive host has 32GiB RAM free (most free: 16GiB of 16GiB)');
  });

  it('needs one host with everything at once', () => {
    const plan = place(req(4, 8, 1), [host('a', { cpu: 4, ram: 1, disk: 100 }), host('b', { cpu: 1, ram: 8, disk: 100 })]);
    expect(plan).toEqual({ host: null, reason: 'no single alive host has enough CPU, RAM and disk free at once' });
  });

  it('explains empty and dead clusters', () => {
    expect(place(req(1, 1, 1), [])).toEqual({ host: null, reason: 'no host is registered' });
    expect(place(req(1, 1, 1), [host('a', { cpu: 8, ram: 16, disk: 100 }, false)])).toEqual({ host: null, reason: 'no host is alive' });
  });

  it('honours hosts to avoid', () => {
    const hs = [host('a', { cpu: 8, ram: 16, disk: 100 }), host('b', { cpu: 1, ram: 1, disk: 10 })];
    expect(place({ ...req(1, 1, 1), avoid: ['a'] }, hs).host).toBe('b');
  });

  it('placing greedily with the plan never overbooks', () => {
    const hs = [host('a', { cpu: 5, ram: 5, disk: 50 }, true, { cpu: 5, ram: 5, disk: 50 })];
    let placed = 0;
    for (let i = 0; i < 20; i++) {
      const plan = place(req(1, 1, 1), hs);
      if (plan.host) {
        placed++;
        hs[0]!.used.cpu += 1;
        hs[0]!.used.ramBytes += GiB;
        hs[0]!.used.diskBytes += GiB;
      }
    }
    expect(placed).toBe(5);
  });
});

describe('allocation ratios', () => {
  const hv = (cpu: number, usedCpu: number, allocationRatio?: HostSnapshot['allocationRatio']): HostSnapshot => ({
    name: 'hv1',
    alive: true,
    capacity: { cpu, ramBytes: 64 * GiB, diskBytes: 1000 * GiB },
    ...(allocationRatio ? { allocationRatio } : {}),
    used: { cpu: usedCpu, ramBytes: 0, diskBytes: 0 },
  });

  const FOUR = { cpu: 4, ram: 1, disk: 1 };

  it('a record from before ratios counts 1:1, as its capacity was meant: 2 "cores" allow 2 vCPUs, not 8', () => {
    expect(allowedOf({ capacity: { cpu: 2, ramBytes: 3 * GiB, diskBytes: 10 * GiB } })).toEqual({ cpu: 2, ramBytes: 3 * GiB, diskBytes: 10 * GiB });
    expect(place(req(1, 1, 1), [hv(2, 1)]).host).toBe('hv1');
    expect(place(req(1, 1, 1), [hv(2, 2)])).toEqual({ host: null, reason: 'no alive host has 1 vCPU free (most free: 0 of 2 cores)' });
  });

  it('2 cores × cpu ratio 4 take the eighth vCPU', () => {
    expect(place(req(1, 1, 1), [hv(2, 7, FOUR)]).host).toBe('hv1');
  });

  it('the ninth vCPU on 2 cores × 4 is refused, and the reason names the ratio', () => {
    expect(place(req(1, 1, 1), [hv(2, 8, FOUR)])).toEqual({ host: null, reason: 'no alive host has 1 vCPU free (most free: 0 of 8 allowed = 2 cores × cpu_allocation_ratio 4)' });
  });

  it('RAM and disk ratios other than 1 are named too', () => {
    const h: HostSnapshot = { name: 'a', alive: true, capacity: { cpu: 4, ramBytes: 2 * GiB, diskBytes: 10 * GiB }, allocationRatio: { cpu: 1, ram: 1.5, disk: 2 }, used: { cpu: 0, ramBytes: 3 * GiB, diskBytes: 20 * GiB } };
    const plan = place(req(1, 1, 1), [h]);
    expect(plan).toEqual({ host: null, reason: 'no alive host has 1GiB RAM free (most free: 0B of 3GiB allowed = 2GiB × ram_allocation_ratio 1.5), 1GiB disk free (most free: 0B of 20GiB allowed = 10GiB × disk_allocation_ratio 2)' });
  });

  it('allowed is rounded down, and decimal ratios do not lose a unit to binary fractions', () => {
    expect(scaled(3, 1.5)).toBe(4);
    expect(scaled(100, 0.29)).toBe(29);
    expect(scaled(2, 16)).toBe(32);
    expect(scaled(7, 0.1)).toBe(0);
  });

  it('score spreads by what is allowed: 1 of 8 allowed used beats 1 of 4', () => {
    const a: HostSnapshot = { ...hv(2, 1, FOUR), name: 'a' }; // 8 allowed
    const b: HostSnapshot = { ...hv(4, 1, ONE), name: 'b' }; // 4 allowed
    expect(place(req(1, 1, 1), [a, b]).host).toBe('a');
  });

  // Property: whatever the hosts, ratios and requests, placing greedily with the
  // plan never books beyond floor(physical × ratio) in any dimension.
  it('never books beyond allowed (fast-check)', () => {
    const ratio = fc.record({ cpu: fc.double({ min: 0.1, max: 16, noNaN: true }), ram: fc.double({ min: 0.1, max: 3, noNaN: true }), disk: fc.double({ min: 0.1, max: 3, noNaN: true }) });
    const hostArb = fc.record({ cpu: fc.integer({ min: 1, max: 64 }), ram: fc.integer({ min: 1, max: 64 }), disk: fc.integer({ min: 1, max: 500 }), ratio: fc.option(ratio, { nil: undefined }), alive: fc.boolean() });
    const reqArb = fc.record({ cpu: fc.integer({ min: 1, max: 16 }), ram: fc.integer({ min: 1, max: 16 }), disk: fc.integer({ min: 1, max: 100 }) });
    fc.assert(
      fc.property(fc.array(hostArb, { minLength: 1, maxLength: 4 }), fc.array(reqArb, { minLength: 1, maxLength: 60 }), (hs, reqs) => {
        const snaps: HostSnapshot[] = hs.map((h, i) => ({
          name: `h${i}`,
          alive: h.alive,
          capacity: { cpu: h.cpu, ramBytes: h.ram * GiB, diskBytes: h.disk * GiB },
          ...(h.ratio ? { allocationRatio: h.ratio } : {}),
          used: { cpu: 0, ramBytes: 0, diskBytes: 0 },
        }));
        const booked = new Map<string, Resources[]>();
        for (const r of reqs) {
          const plan = place(req(r.cpu, r.ram, r.disk), snaps);
          if (plan.host === null) {
            expect(plan.reason).not.toMatch(/\n/);
            continue;
          }
          const h = snaps.find((s) => s.name === plan.host)!;
          expect(h.alive).toBe(true);
          booked.set(h.name, [...(booked.get(h.name) ?? []), req(r.cpu, r.ram, r.disk)]);
          h.used = sumResources(booked.get(h.name)!);
        }
        for (const h of snaps) {
          const a = allowedOf(h);
          expect(h.used.cpu).toBeLessThanOrEqual(a.cpu);
          expect(h.used.ramBytes).toBeLessThanOrEqual(a.ramBytes);
          expect(h.used.diskBytes).toBeLessThanOrEqual(a.diskBytes);
        }
      }),
      { numRuns: 300 },
    );
  });
});
