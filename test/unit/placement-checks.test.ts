import { describe, expect, it } from 'vitest';
import { CHECKS, place, type HostSnapshot, type PlacementRequest } from '../../src/scheduler/place.js';
import { Planner } from '../../src/scheduler/planner.js';
import { migrationModeOf } from '../../src/storage/capabilities.js';

const GiB = 2 ** 30;
const ONE: PlacementRequest = { cpu: 1, ramBytes: GiB, diskBytes: GiB };

function host(name: string, over: Partial<HostSnapshot> = {}): HostSnapshot {
  return { name, alive: true, capacity: { cpu: 4, ramBytes: 8 * GiB, diskBytes: 100 * GiB }, used: { cpu: 0, ramBytes: 0, diskBytes: 0 }, ...over };
}

/** The one check `h` fails for `req` (via the planner's count), or undefined. */
function failing(req: PlacementRequest, h: HostSnapshot): string | undefined {
  const why = new Planner([h]).explain(req);
  return why.checks.find((c) => c.filtered > 0)?.check;
}

describe('feasibility checks', () => {
  it('are named and ordered: alive, avoid, drained, storage, qemu, cpu, ram, disk', () => {
    expect(CHECKS.map((c) => c.name)).toEqual(['alive', 'avoid', 'drained', 'storage', 'qemu', 'cpu', 'ram', 'disk']);
  });

  it('each filters the host it is about, and a host passing all is placed on', () => {
    const full = { cpu: 4, ramBytes: 8 * GiB, diskBytes: 100 * GiB };
    expect(failing(ONE, host('a'))).toBeUndefined();
    expect(failing(ONE, host('a', { alive: false }))).toBe('alive');
    expect(failing({ ...ONE, avoid: ['a'] }, host('a'))).toBe('avoid');
    expect(failing(ONE, host('a', { drained: true }))).toBe('drained');
    expect(failing({ ...ONE, stores: ['ceph'] }, host('a', { stores: ['local'] }))).toBe('storage');
    expect(failing(ONE, host('a', { used: { ...full, cpu: 4, ramBytes: 0, diskBytes: 0 } }))).toBe('cpu');
    expect(failing(ONE, host('a', { used: { cpu: 0, ramBytes: 8 * GiB, diskBytes: 0 } }))).toBe('ram');
    expect(failing(ONE, host('a', { used: { cpu: 0, ramBytes: 0, diskBytes: 100 * GiB } }))).toBe('disk');
  });

  it('qemu: the destination offers the VM\'s machine type and CPU model; host/max only between equal CPUs', () => {
    const offer = { machines: ['pc', 'pc-i440fx-7.2', 'pc-i440fx-7.1'], cpuModels: ['Nehalem-v1', 'qemu64-v1', 'host', 'max'], hostCpu: 'sig-a' };
    const need = { ...ONE, qemu: { machine: 'pc-i440fx-7.2', cpu: 'Nehalem-v1' } };
    expect(failing(need, host('a', { qemu: offer }))).toBeUndefined();
    expect(failing({ ...ONE, qemu: { machine: 'pc-i440fx-8.2', cpu: 'Nehalem-v1' } }, host('a', { qemu: offer }))).toBe('qemu');
    expect(failing({ ...ONE, qemu: { machine: 'pc-i440fx-7.2', cpu: 'Icelake-Server-v6' } }, host('a', { qemu: offer }))).toBe('qemu');
    // host/max: the guest saw the source's own CPU; only the same CPU and QEMU (signature) can take it.
    expect(failing({ ...ONE, qemu: { machine: 'pc-i440fx-7.2', cpu: 'max', hostCpu: 'sig-a' } }, host('a', { qemu: offer }))).toBeUndefined();
    expect(failing({ ...ONE, qemu: { machine: 'pc-i440fx-7.2', cpu: 'max', hostCpu: 'sig-b' } }, host('a', { qemu: offer }))).toBe('qemu');
    expect(failing({ ...ONE, qemu: { machine: 'pc-i440fx-7.2', cpu: 'host' } }, host('a', { qemu: offer }))).toBe('qemu');
    // Unknown on either side (an older agent, a VM started before the record): not checked.
    expect(failing(need, host('a'))).toBeUndefined();
    expect(failing(ONE, host('a', { qemu: offer }))).toBeUndefined();
    // Its reason names the check, and the planner keeps shapes with different needs apart.
    const plan = place({ ...ONE, qemu: { machine: 'pc-i440fx-8.2', cpu: 'Nehalem-v1' } }, [host('a', { qemu: offer }), host('b', { qemu: offer })]);
    expect(plan).toEqual({ host: null, reason: 'no host fits: 2 whose QEMU cannot run pc-i440fx-8.2 / Nehalem-v1' });
    const p = new Planner([host('a', { qemu: offer }), host('b', { qemu: { ...offer, machines: ['pc-i440fx-8.2'] } })]);
    expect(p.place({ ...ONE, qemu: { machine: 'pc-i440fx-8.2' } })).toMatchObject({ host: 'b' });
    expect(p.place({ ...ONE, qemu: { machine: 'pc-i440fx-7.2' } })).toMatchObject({ host: 'a' });
  });

  it('storage: every needed store must be on the host; a host that announced none reaches all', () => {
    const req = { ...ONE, stores: ['ceph', 'local'] };
    expect(failing(req, host('a', { stores: ['ceph'] }))).toBe('storage');
    expect(failing(req, host('a', { stores: ['local', 'ceph', 'other'] }))).toBeUndefined();
    expect(failing(req, host('a'))).toBeUndefined();
    expect(failing(ONE, host('a', { stores: [] }))).toBeUndefined();
  });

  it('drained and unreachable hosts are passed over for a worse but eligible one', () => {
    const hosts = [host('a', { drained: true }), host('b', { stores: ['x'] }), host('c', { used: { cpu: 3, ramBytes: 0, diskBytes: 0 } })];
    const req = { ...ONE, stores: ['y'] };
    expect(place(req, hosts)).toMatchObject({ host: 'c' });
    expect(new Planner(hosts).place(req)).toMatchObject({ host: 'c' });
  });

  it('a pending reason names the count per check when drained or storage filtered a host', () => {
    const hosts = [
      host('a', { drained: true }),
      host('b', { drained: true }),
      host('c', { drained: true }),
      host('d', { alive: false }),
      host('e', { stores: ['x'] }),
      host('f', { used: { cpu: 4, ramBytes: 0, diskBytes: 0 } }),
      host('g', { used: { cpu: 3, ramBytes: 0, diskBytes: 0 } }),
    ];
    const req = { ...ONE, cpu: 2, stores: ['y'] };
    const reason = 'no alive host has 2 vCPU free (most free: 1 of 4 cores); filtered: 1 dead, 3 drained, 1 without store y, 2 without 2 vCPU free';
    expect(place(req, hosts)).toEqual({ host: null, reason });
    const why = new Planner(hosts).explain(req);
    expect(why.reason).toBe(reason);
    expect(Object.fromEntries(why.checks.map((c) => [c.check, c.filtered]))).toEqual({ alive: 1, avoid: 0, drained: 3, storage: 1, qemu: 0, cpu: 2, ram: 0, disk: 0 });
  });

  it('only drained hosts: the reason names drained', () => {
    expect(place(ONE, [host('a', { drained: true })])).toEqual({ host: null, reason: 'no host fits: 1 drained' });
    expect(place({ ...ONE, stores: ['y'] }, [host('a', { drained: true }), host('b', { alive: false }), host('c', { stores: ['x'] })])).toEqual({ host: null, reason: 'no host fits: 1 dead, 1 drained, 1 without store y' });
  });

  it('without drained or storage in play, the reasons are as before', () => {
    expect(place(ONE, [host('a', { alive: false })])).toEqual({ host: null, reason: 'no host is alive' });
    expect(place({ ...ONE, cpu: 8 }, [host('a')])).toEqual({ host: null, reason: 'no alive host has 8 vCPU free (most free: 4 of 4 cores)' });
  });

  it('requests differing only in stores are different shapes', () => {
    const p = new Planner([host('a', { stores: ['x'] })]);
    expect(p.place({ ...ONE, stores: ['x'] })).toMatchObject({ host: 'a' });
    expect(p.place({ ...ONE, stores: ['y'] })).toEqual({ host: null });
  });
});

describe('migrationModeOf', () => {
  it('is shared only when every store is shared', () => {
    expect(migrationModeOf([{ shared: true }, { shared: true }])).toBe('shared');
    expect(migrationModeOf([{ shared: true }, { shared: false }])).toBe('copy');
    expect(migrationModeOf([{ shared: true }, undefined])).toBe('copy');
    expect(migrationModeOf([])).toBe('shared');
  });
});
