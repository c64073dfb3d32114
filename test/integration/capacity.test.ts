import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HostView } from '../../src/client/client.js';
import { allowedOf, sumResources } from '../../src/common/capacity.js';
import type { UcloudError } from '../../src/common/errors.js';
import type { Vm } from '../../src/model/index.js';
import { Keys, Kinds } from '../../src/store/keys.js';
import { GiB, TestCluster, until, type Daemon } from '../helpers/cluster.js';
import { SCHEDULER_ACTOR } from '../../src/model/vm-lifecycle.js';

/** Test cleanup: the user's delete, then the record removed as the scheduler removes a VM whose host is gone. */
async function removeVm(m: ReturnType<TestCluster['managers']>, id: string): Promise<void> {
  if (await m.vms.request(id, 'deleted')) await m.vmsAs(SCHEDULER_ACTOR).finalizeDelete(id);
}

// Host capacity with allocation ratios (issue 9): real etcd, the real API and two
// real scheduler processes. No host agent: the test announces hosts itself, as an
// agent would, so only the scheduler decides where VMs go.
describe('host capacity and overcommit (real etcd, api, two schedulers)', () => {
  let c: TestCluster;
  let daemons: Daemon[] = [];

  const announce = (name: string) => c.announceHost(name);
  const vmsNamed = async (prefix: string) => (await c.store.list(Kinds.vm, Keys.vms())).items.map((i) => i.value).filter((v) => v.name.startsWith(prefix));
  const told = (v: Vm) => v.status === 'pending' && Boolean(v.reason) && v.reason !== 'waiting for the scheduler';
  const create = (name: string) => c.client().vms.create({ name, image: 'ucloud-test', cpu: 1, ram: '128MiB', disk: '1GiB' });
  const hostJson = async (name: string) => {
    const r = await c.cli(['host', 'list', '-o', 'json']);
    expect(r.code).toBe(0);
    return (JSON.parse(r.stdout) as HostView[]).find((h) => h.name === name)!;
  };
  const codeOf = async (p: Promise<unknown>) => p.then(() => 'OK', (e: UcloudError) => e.code);

  /** Nothing booked beyond floor(physical × ratio) on any host; every booking matches its VM. */
  const checkNotOverbooked = async () => {
    const hosts = new Map((await c.store.list(Kinds.host, Keys.hosts())).items.map((h) => [h.value.name, h.value]));
    for (const a of (await c.store.list(Kinds.hostAlloc, Keys.hostAllocs())).items) {
      const name = a.key.split('/')[1]!;
      const used = sumResources(Object.values(a.value.vms));
      const allowed = allowedOf(hosts.get(name)!);
      expect(used.cpu, `${name} cpu`).toBeLessThanOrEqual(allowed.cpu);
      expect(used.ramBytes, `${name} ram`).toBeLessThanOrEqual(allowed.ramBytes);
      expect(used.diskBytes, `${name} disk`).toBeLessThanOrEqual(allowed.diskBytes);
    }
  };

  beforeAll(async () => {
    c = await TestCluster.start();
    // A 2-core host registered with no ratios given: the defaults (cpu 4, ram 1, disk 1) go into its record.
    await c.bootstrap({ guestImage: c.tinyImage(), hosts: [{ name: 'hv1', cpu: 2, ram: 4 * GiB, disk: 100 * GiB }] });
    await announce('hv1');
    daemons = [c.spawn('api'), c.spawn('scheduler'), c.spawn('scheduler')];
    await Promise.all(daemons.map((d) => d.ready));
  });
  afterAll(async () => {
    await c.stop();
  });

  it('host list: 2 physical cores, 8 allowed vCPUs (json and table)', async () => {
    const h = await hostJson('hv1');
    expect(h.capacity.cpu).toBe(2);
    expect(h.allowed).toEqual({ cpu: 8, ramBytes: 4 * GiB, diskBytes: 100 * GiB });
    expect(h.allocationRatio).toEqual({ cpu: 4, ram: 1, disk: 1 });
    const table = await c.cli(['host', 'list']);
    expect(table.stdout).toContain('CPU used/allowed (physical)');
    expect(table.stdout.split('\n').find((l) => l.startsWith('hv1'))).toMatch(/ 0\/8 \(2\) .* 0B\/4GiB \(4GiB\) .* 0B\/100GiB \(100GiB\) .* 4\/1\/1 /);
  });

  it('12 concurrent creates, two schedulers: exactly 8 placed, 4 pending with the ratio in their reason', async () => {
    const created = await Promise.all(Array.from({ length: 12 }, (_, i) => create(`oc${i}`)));
    expect(created).toHaveLength(12);
    const vms = await until('every VM placed or told why not', async () => {
      const v = await vmsNamed('oc');
      return v.length === 12 && v.every((x) => x.host || told(x)) && v;
    });
    expect(vms.filter((v) => v.host === 'hv1')).toHaveLength(8);
    const pending = vms.filter((v) => !v.host);
    expect(pending).toHaveLength(4);
    for (const v of pending) expect(v.reason).toBe('no alive host has 1 vCPU free (most free: 0 of 8 allowed = 2 cores × cpu_allocation_ratio 4)');
    expect((await c.cli(['vm', 'status', pending[0]!.name])).stdout).toContain('cpu_allocation_ratio 4');
    const h = await hostJson('hv1');
    expect([h.used.cpu, h.allowed.cpu, h.vms]).toEqual([8, 8, 8]);
    expect((await c.cli(['host', 'list'])).stdout).toMatch(/hv1 .* 8\/8 \(2\) /);
    await checkNotOverbooked();
  });

  it('host set below what is booked is refused with CAPACITY_BELOW_BOOKED and changes nothing', async () => {
    const before = (await c.store.get(Kinds.host, Keys.host('hv1')))!;
    const r = await c.cli(['host', 'set', 'hv1', '--cpu', '1']);
    expect(r.code).toBe(4); // conflict
    expect(r.stderr).toContain('CAPACITY_BELOW_BOOKED');
    expect(r.stderr).toContain('8 vCPU booked; the change would allow 4 vCPU (1 × cpu_allocation_ratio 4)');
    expect(await codeOf(c.client().hosts.set('hv1', { allocationRatio: { cpu: 3.5 } }))).toBe('CAPACITY_BELOW_BOOKED'); // floor(2 × 3.5) = 7
    expect(await codeOf(c.client().hosts.set('hv1', { ram: '512MiB' }))).toBe('CAPACITY_BELOW_BOOKED'); // 8 × 128 MiB booked
    const after = (await c.store.get(Kinds.host, Keys.host('hv1')))!;
    expect(after).toEqual(before); // same value and the same mod revision: nothing was written
  });

  it('bad host set requests get their codes: nothing to change, unknown host, not an admin, a bad ratio', async () => {
    const none = await c.cli(['host', 'set', 'hv1']);
    expect([none.code, none.stderr]).toEqual([2, expect.stringContaining('VALIDATION_FAILED')]);
    expect(await codeOf(c.client().hosts.set('hv1', {}))).toBe('VALIDATION_FAILED');
    expect(await codeOf(c.client().hosts.set('nope', { cpu: 4 }))).toBe('HOST_NOT_FOUND');
    expect(await codeOf(c.client().hosts.set('hv1', { allocationRatio: { cpu: 0 } }))).toBe('VALIDATION_FAILED');
    const bad = await c.cli(['host', 'set', 'hv1', '--cpu-ratio', 'lots']);
    expect(bad.code).toBe(2);
    const bob = (await c.managers().users.create('bob', 'user')).token;
    expect(await codeOf(c.client(bob).hosts.set('hv1', { cpu: 64 }))).toBe('FORBIDDEN');
  });

  it('host set --cpu-ratio 5 takes effect at once: two of the pending VMs are placed, nothing restarted', async () => {
    const before = (await c.store.get(Kinds.host, Keys.host('hv1')))!.value;
    const r = await c.cli(['host', 'set', 'hv1', '--cpu-ratio', '5', '-o', 'json']);
    expect(r.code, r.stderr).toBe(0);
    // Nothing else in the record is lost.
    expect(JSON.parse(r.stdout)).toEqual({ ...before, allocationRatio: { cpu: 5, ram: 1, disk: 1 } });
    expect((await c.store.get(Kinds.host, Keys.host('hv1')))!.value).toEqual({ ...before, allocationRatio: { cpu: 5, ram: 1, disk: 1 } });
    const vms = await until('two more VMs placed', async () => {
      const v = await vmsNamed('oc');
      return v.filter((x) => x.host).length === 10 && v.filter((x) => !x.host).every(told) && v;
    });
    for (const v of vms.filter((x) => !x.host)) expect(v.reason).toBe('no alive host has 1 vCPU free (most free: 0 of 10 allowed = 2 cores × cpu_allocation_ratio 5)');
    for (const d of daemons) expect(d.child.exitCode).toBeNull();
    expect((await hostJson('hv1')).allowed.cpu).toBe(10);
    await checkNotOverbooked();
  });

  it('a record from before ratios counts 1:1 (its capacity was vCPUs), and a host set writes the ratios in force', async () => {
    const old = { name: 'oldhv', address: '::1', capacity: { cpu: 3, ramBytes: GiB, diskBytes: 10 * GiB }, createdAt: new Date().toISOString() };
    await c.store.put(Kinds.host, Keys.host('oldhv'), old);
    const seen = await hostJson('oldhv');
    expect([seen.allowed.cpu, seen.allocationRatio]).toEqual([3, { cpu: 1, ram: 1, disk: 1 }]);
    expect((await c.cli(['host', 'list'])).stdout).toMatch(/oldhv .* 0\/3 \(3\) .* 1\/1\/1 /);
    // Any change makes the ratios explicit, so the record rules from then on.
    await c.client().hosts.set('oldhv', { ram: '2GiB' });
    expect((await c.store.get(Kinds.host, Keys.host('oldhv')))!.value).toEqual({ ...old, capacity: { ...old.capacity, ramBytes: 2 * GiB }, allocationRatio: { cpu: 1, ram: 1, disk: 1 } });
    await c.client().hosts.set('oldhv', { allocationRatio: { cpu: 2 } });
    expect((await hostJson('oldhv')).allowed.cpu).toBe(6);
    await c.store.delete(Keys.host('oldhv'));
  });

  it('host set lowering capacity while VMs are being placed never ends overbooked (3 rounds)', async () => {
    // hv1's leftovers would go to the new host: out of the way first (never placed: gone at once).
    for (const v of (await vmsNamed('oc')).filter((x) => !x.host)) await c.client().vms.delete(v.name);
    // cpu ratio 1 from the request, RAM and disk from the API's config: 12 vCPUs allowed.
    const added = await c.client().hosts.add({ name: 'race', cpu: 12, ram: '64GiB', disk: '1TiB', allocationRatio: { cpu: 1 } });
    expect(added.allocationRatio).toEqual({ cpu: 1, ram: 1, disk: 1 });
    await announce('race');
    const m = c.managers();
    for (let round = 0; round < 3; round++) {
      await m.hosts.set('race', { capacity: { cpu: 12 } });
      const names = Array.from({ length: 10 }, (_, i) => `race${round}-${i}`);
      // Ten creates at once, and meanwhile lower the host one core at a time, as far as it lets us.
      const lowering = (async () => {
        const results: string[] = [];
        for (let n = 11; n >= 1; n--) results.push(await codeOf(c.client().hosts.set('race', { cpu: n })));
        return results;
      })();
      const [, results] = await Promise.all([Promise.all(names.map(create)), lowering]);
      expect(results.every((r) => r === 'OK' || r === 'CAPACITY_BELOW_BOOKED')).toBe(true);
      const allowed = (await c.store.get(Kinds.host, Keys.host('race')))!.value.capacity.cpu;
      // The scheduler fills what is allowed, and not one more.
      const vms = await until(`round ${round}: min(10, ${allowed}) placed, the rest told why not`, async () => {
        const v = await vmsNamed(`race${round}-`);
        return v.length === 10 && v.filter((x) => x.host === 'race').length === Math.min(10, allowed) && v.filter((x) => !x.host).every(told) && v;
      });
      await checkNotOverbooked();
      const used = sumResources(Object.values((await c.store.get(Kinds.hostAlloc, Keys.hostAlloc('race')))?.value.vms ?? {}));
      expect(used.cpu).toBeLessThanOrEqual(allowed);
      for (const v of vms) await removeVm(m, v.id);
    }
  });

  // The same race without the daemons' pace: in-process bookers (VmManager.assign, as the
  // scheduler books) and `host set` lowering the host, all at once, many rounds.
  it('bookings and capacity changes hammered at once: never overbooked (20 rounds)', async () => {
    await Promise.all(daemons.filter((d) => d.name === 'scheduler').map((d) => d.stop()));
    const m = c.managers();
    await m.hosts.add('hammer', '::1', { cpu: 8, ramBytes: 64 * GiB, diskBytes: 1024 * GiB }, { cpu: 1 });
    let lowered = 0;
    for (let round = 0; round < 20; round++) {
      await m.hosts.set('hammer', { capacity: { cpu: 8 } });
      const vms = await Promise.all(Array.from({ length: 10 }, (_, i) => m.vms.create({ owner: 'admin', name: `hm${round}-${i}`, image: { store: 'local', owner: 'admin', name: 'ucloud-test' }, cpu: 1, ramBytes: 128 * 2 ** 20, diskBytes: GiB })));
      const book = async (id: string) => {
        for (let attempt = 0; attempt < 30; attempt++) {
          const [vm, alloc] = await Promise.all([c.store.get(Kinds.vm, Keys.vm(id)), c.store.get(Kinds.hostAlloc, Keys.hostAlloc('hammer'))]);
          if (await m.vmsAs(SCHEDULER_ACTOR).assign(vm!, 'hammer', alloc)) return;
        }
      };
      const lower = async () => {
        for (let n = 7; n >= 1; n--) {
          const r = await codeOf(m.hosts.set('hammer', { capacity: { cpu: n } }));
          if (r === 'OK') lowered++;
          else expect(r).toBe('CAPACITY_BELOW_BOOKED');
        }
      };
      await Promise.all([...vms.map((v) => book(v.id)), lower(), lower()]);
      await checkNotOverbooked();
      for (const v of vms) await removeVm(m, v.id);
    }
    expect(lowered).toBeGreaterThan(0); // the lowering did race the bookings, not only lose to them
  });

  // A host can be over what it allows without anyone breaking a rule: a record
  // from an older ucloud, or one lowered by hand. Harmless changes must still go through.
  it('a host already over: host set takes changes that make no over dimension worse; a VM shrink always fits, growth does not', async () => {
    const m = c.managers();
    // Not announced: no scheduler would place anything here (and they are stopped by now).
    await m.hosts.add('over', '::1', { cpu: 4, ramBytes: 4 * GiB, diskBytes: 100 * GiB }, { cpu: 1 });
    const vms = [];
    for (const name of ['ov1', 'ov2']) {
      const v = await m.vms.create({ owner: 'admin', name, image: { store: 'local', owner: 'admin', name: 'ucloud-test' }, cpu: 2, ramBytes: GiB, diskBytes: 10 * GiB });
      const [vm, alloc] = await Promise.all([c.store.get(Kinds.vm, Keys.vm(v.id)), c.store.get(Kinds.hostAlloc, Keys.hostAlloc('over'))]);
      expect(await m.vmsAs(SCHEDULER_ACTOR).assign(vm!, 'over', alloc)).toBe(true);
      await c.store.update(Kinds.vm, Keys.vm(v.id), (cur) => cur && { ...cur, desired: 'stopped' as const, status: 'stopped' as const });
      vms.push(v);
    }
    const [ov1, ov2] = vms as [Vm, Vm];
    // 4 vCPUs booked, 2 allowed: over in CPU only.
    const rec = (await c.store.get(Kinds.host, Keys.host('over')))!.value;
    await c.store.put(Kinds.host, Keys.host('over'), { ...rec, capacity: { ...rec.capacity, cpu: 2 } });
    const api = c.client();

    // More RAM while CPU is over: allowed.
    expect((await api.hosts.set('over', { ram: '8GiB' })).capacity).toEqual({ cpu: 2, ramBytes: 8 * GiB, diskBytes: 100 * GiB });
    // Less RAM that still holds what is booked (2 GiB): allowed.
    expect(await codeOf(api.hosts.set('over', { ram: '2GiB' }))).toBe('OK');
    // Lowering CPU further, or RAM below what is booked: refused, nothing written.
    const before = (await c.store.get(Kinds.host, Keys.host('over')))!;
    expect(await codeOf(api.hosts.set('over', { allocationRatio: { cpu: 0.5 } }))).toBe('CAPACITY_BELOW_BOOKED');
    expect(await codeOf(api.hosts.set('over', { ram: '1GiB' }))).toBe('CAPACITY_BELOW_BOOKED');
    expect((await c.store.get(Kinds.host, Keys.host('over')))!).toEqual(before);

    const booked = async () => (await c.store.get(Kinds.hostAlloc, Keys.hostAlloc('over')))!.value.vms;
    // A shrink goes through though the host stays over (3 vCPUs booked, 2 allowed), booking included.
    expect((await m.vms.resize(ov1.id, { cpu: 1 })).cpu).toBe(1);
    expect((await booked())[ov1.id]!.cpu).toBe(1);
    expect((await m.vms.resize(ov2.id, { ramBytes: GiB / 2 })).ramBytes).toBe(GiB / 2);
    expect((await booked())[ov2.id]!.ramBytes).toBe(GiB / 2);
    // Growing any dimension is checked as ever: the host is over in CPU, so no.
    expect(await codeOf(m.vms.resize(ov2.id, { diskBytes: 11 * GiB }))).toBe('NO_CAPACITY');
    expect(await codeOf(m.vms.resize(ov1.id, { cpu: 2 }))).toBe('NO_CAPACITY');
    expect((await booked())[ov1.id]!.cpu).toBe(1);

    for (const v of vms) await removeVm(m, v.id);
    await c.store.delete(Keys.host('over'));
  });
});
