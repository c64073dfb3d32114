import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allowedOf } from '../../src/common/capacity.js';
import type { Vm } from '../../src/model/index.js';
import { Keys, Kinds } from '../../src/store/keys.js';
import { GiB, MiB, TestCluster, until, type Daemon } from '../helpers/cluster.js';

// No host agent runs here: the test announces the hosts itself (as an agent
// would, on a lease), so only the scheduler decides where VMs go.
describe('scheduler (real etcd, real scheduler processes)', () => {
  let c: TestCluster;
  let schedulers: Daemon[] = [];

  const announce = (name: string) => c.announceHost(name);
  const allVms = async () => (await c.store.list(Kinds.vm, Keys.vms())).items.map((i) => i.value);
  const allocations = async () => (await c.store.list(Kinds.hostAlloc, Keys.hostAllocs())).items.map((i) => ({ host: i.key.split('/')[1]!, vms: i.value.vms }));

  /** Every VM with a host is booked on exactly that host, once; nothing else is booked; no host is over its allowed capacity. */
  const checkBookings = async () => {
    const vms = await allVms();
    const allocs = await allocations();
    const hosts = new Map((await c.store.list(Kinds.host, Keys.hosts())).items.map((h) => [h.value.name, allowedOf(h.value)]));
    const bookedOn = new Map<string, string[]>();
    for (const a of allocs) {
      const cap = hosts.get(a.host)!;
      const entries = Object.values(a.vms);
      expect(entries.reduce((s, r) => s + r.cpu, 0)).toBeLessThanOrEqual(cap.cpu);
      expect(entries.reduce((s, r) => s + r.ramBytes, 0)).toBeLessThanOrEqual(cap.ramBytes);
      expect(entries.reduce((s, r) => s + r.diskBytes, 0)).toBeLessThanOrEqual(cap.diskBytes);
      for (const id of Object.keys(a.vms)) bookedOn.set(id, [...(bookedOn.get(id) ?? []), a.host]);
    }
    for (const vm of vms) expect(bookedOn.get(vm.id) ?? []).toEqual(vm.host ? [vm.host] : []);
    expect([...bookedOn.keys()].every((id) => vms.some((v) => v.id === id))).toBe(true);
    return vms;
  };

  beforeAll(async () => {
    c = await TestCluster.start();
    // Room for exactly five 1-vCPU 128 MiB VMs.
    await c.bootstrap({ guestImage: c.tinyImage(), hosts: [{ name: 'hv1', cpu: 5, ram: 5 * 128 * MiB, disk: 100 * GiB }] });
    await announce('hv1');
    const api = c.spawn('api');
    schedulers = [c.spawn('scheduler'), c.spawn('scheduler')];
    await Promise.all([api.ready, ...schedulers.map((s) => s.ready)]);
  });
  afterAll(async () => {
    await c.stop();
  });

  it('20 concurrent creates against room for 5: exactly 5 placed, 15 pending with a reason, never overbooked', async () => {
    const client = c.client();
    const created = await Promise.all(Array.from({ length: 20 }, (_, i) => client.vms.create({ name: `vm${i}`, image: 'ucloud-test', cpu: 1, ram: '128MiB', disk: '1GiB' })));
    expect(created).toHaveLength(20);
    const settled = (vms: Vm[]) => vms.length === 20 && vms.every((v) => v.host || (v.status === 'pending' && v.reason && v.reason !== 'waiting for the scheduler'));
    const vms = await until('every VM placed or told why not', async () => {
      const v = await allVms();
      return settled(v) && v;
    });
    expect(vms.filter((v) => v.host === 'hv1')).toHaveLength(5);
    const pending = vms.filter((v) => !v.host);
    expect(pending).toHaveLength(15);
    // RAM is what runs out: 5 cores × cpu_allocation_ratio 4 would take 20 vCPUs.
    for (const v of pending) expect(v.reason).toBe('no alive host has 128MiB RAM free (most free: 0B of 640MiB)');
    const status = await client.vms.get(pending[0]!.name);
    expect(status.status).toBe('pending');
    await checkBookings();
  });

  it('places pending VMs as soon as capacity appears, and only as many as fit', async () => {
    await c.managers().hosts.add('hv2', '::1', { cpu: 2, ramBytes: 2 * 128 * MiB, diskBytes: 100 * GiB });
    await announce('hv2');
    const vms = await until('two more placed on hv2', async () => {
      const v = await allVms();
      return v.filter((x) => x.host === 'hv2').length === 2 && v;
    });
    // give a wrong scheduler the chance to overbook, then check it did not
    await new Promise((r) => setTimeout(r, 500));
    expect((await allVms()).filter((x) => x.host).length).toBe(7);
    expect(vms.filter((x) => !x.host)).toHaveLength(13);
    await checkBookings();
  });

  it('a scheduler killed with -9 before placing: after restart every VM is placed exactly once', async () => {
    await Promise.all(schedulers.map((s) => s.kill9()));
    await c.managers().hosts.add('hv3', '::1', { cpu: 16, ramBytes: 16 * 128 * MiB, diskBytes: 100 * GiB });
    await announce('hv3');
    // Created while no scheduler runs: they must wait, not be lost.
    const client = c.client();
    const fresh = await Promise.all(Array.from({ length: 3 }, (_, i) => client.vms.create({ name: `late${i}`, image: 'ucloud-test', cpu: 1, ram: '128MiB', disk: '1GiB' })));
    await new Promise((r) => setTimeout(r, 300));
    for (const v of fresh) expect((await client.vms.get(v.name)).host).toBeUndefined();
    // Restart one, and kill it again almost at once, in the middle of its work.
    const s1 = c.spawn('scheduler');
    // Leading, not merely started: the killed ones' election leases run out first (leader_lease_ttl).
    await until('the restarted scheduler leads', () => s1.stderr().includes('became leader'));
    await new Promise((r) => setTimeout(r, 15));
    await s1.kill9();
    const s2 = c.spawn('scheduler');
    await s2.ready;
    const vms = await until('all 16 waiting VMs placed', async () => {
      const v = await allVms();
      return v.filter((x) => x.host).length === 23 && v;
    });
    for (const v of fresh) expect(vms.find((x) => x.id === v.id)?.host).toBe('hv3');
    await checkBookings();
  });
});
