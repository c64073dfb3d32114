import { describe, expect, it } from 'vitest';
import { place, type HostSnapshot } from '../../src/scheduler/place.js';

const GiB = 2 ** 30;
const host = (name: string, free: { cpu: number; ram: number; disk: number }, alive = true, cap = { cpu: 8, ram: 16, disk: 100 }): HostSnapshot => ({
  name,
  alive,
  capacity: { cpu: cap.cpu, ramBytes: cap.ram * GiB, diskBytes: cap.disk * GiB },
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
    expect(plan).toEqual({ host: null, reason: 'no alive host has 4 vCPU (most free: 3)' });
    const ram = place(req(1, 32, 1), [host('a', { cpu: 8, ram: 16, disk: 100 })]);
    expect(ram.host === null && ram.reason).toMatch(/32GiB RAM \(most free: 16GiB\)/);
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
