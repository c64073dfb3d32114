import type { Lease } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mirrorHostsOf, resourcesOf, VmManager } from '../../src/managers/vms.js';
import type { Vm, VmMigration } from '../../src/model/index.js';
import { Keys, Kinds } from '../../src/store/keys.js';
import { GiB, TestCluster, until } from '../helpers/cluster.js';

// A source host that dies mid-migration (issue 11): only the source settles a
// migration, so without the scheduler stepping in the VM would stay migrating,
// and undeletable, for ever. Real etcd, API and scheduler; the test plays the
// agents (their presence leases and their writes).

const getVm = async (c: TestCluster, id: string) => (await c.store.get(Kinds.vm, Keys.vm(id)))?.value;

describe('a migration whose source host dies', () => {
  let c: TestCluster;
  let scheduler: ReturnType<TestCluster['spawn']>;
  const leases = new Map<string, Lease>();
  const vms = new Map<string, Vm>();

  async function alive(name: string): Promise<void> {
    leases.set(name, await c.announceHost(name, 3_000));
  }

  /** Creates a VM, waits for its placement, and marks it running as its host would. */
  async function running(name: string): Promise<Vm> {
    const made = await c.client().vms.create({ name, image: 'ucloud-test', cpu: 1, ram: '128MiB', disk: '1GiB' });
    const placed = await until(`${name} placed`, async () => {
      const cur = await getVm(c, made.id);
      return cur?.host ? cur : undefined;
    });
    const vm = await new VmManager(c.store, { actor: { kind: 'host', name: placed.host! } }).observe(made.id, (cur) => ({
      ...cur,
      status: 'running',
      observedGeneration: cur.generation,
      disks: [{ name: 'os', store: 'local', ref: `${cur.id}.qcow2`, format: 'qcow2', sizeBytes: cur.diskBytes }],
    }));
    vms.set(name, vm!);
    return vm!;
  }

  /** Moves VM `name`'s migration on as `host` would. */
  async function phase(name: string, host: string, to: VmMigration['phase'], extra: Partial<VmMigration> = {}): Promise<void> {
    const id = vms.get(name)!.id;
    const moved = await new VmManager(c.store, { actor: { kind: 'host', name: host } }).observe(id, (cur) => ({ ...cur, migration: { ...cur.migration!, phase: to, ...extra, updatedAt: new Date().toISOString() } }));
    expect(moved?.migration?.phase).toBe(to);
  }

  beforeAll(async () => {
    c = await TestCluster.start();
    await c.bootstrap({
      guestImage: c.tinyImage(),
      hosts: [
        { name: 'hv1', cpu: 8, ram: 8 * GiB, disk: 100 * GiB },
        { name: 'hv2', cpu: 8, ram: 8 * GiB, disk: 100 * GiB },
        // Room for one VM: the control VM below runs there.
        { name: 'hv3', cpu: 1, ram: 8 * GiB, disk: 100 * GiB },
      ],
    });
    const local = (await c.store.get(Kinds.imageStore, Keys.imageStore('local')))!;
    await c.store.put(Kinds.imageStore, local.key, { ...local.value, settings: { ...local.value.settings, shared: true } });
    scheduler = c.spawn('scheduler');
    await Promise.all([c.spawn('api').ready, scheduler.ready]);
    await alive('hv3');
    await running('ctl');
    await alive('hv1');
    for (const n of ['req', 'lis', 'xfer']) await running(n);
    await alive('hv2');
  }, 120_000);
  afterAll(async () => {
    for (const l of leases.values()) await l.revoke().catch(() => undefined);
    await c?.stop();
  });

  it('is settled failed with HOST_DEAD before the transfer, the destination booking and mirror released; one in transfer and a live source keep theirs', async () => {
    expect(['ctl', 'req', 'lis', 'xfer'].map((n) => vms.get(n)!.host)).toEqual(['hv3', 'hv1', 'hv1', 'hv1']);
    for (const n of ['ctl', 'req', 'lis', 'xfer']) await c.client().vms.migrate(n, { to: 'hv2' });
    // hv2 gets ready for three of them; hv1 starts sending one.
    const ready = { address: 'fd00::2', port: 49152, destinationQemu: { pid: 4242, qmpSocket: '/run/q.sock', serialLog: '/run/s.log', accel: 'tcg', startedAt: new Date().toISOString() } };
    for (const n of ['ctl', 'lis', 'xfer']) {
      await phase(n, 'hv2', 'preparing');
      await phase(n, 'hv2', 'listening', ready);
    }
    await phase('xfer', 'hv1', 'transferring');
    const booked = (await c.store.get(Kinds.hostAlloc, Keys.hostAlloc('hv2')))!.value.vms;
    expect(Object.keys(booked).sort()).toEqual(['ctl', 'req', 'lis', 'xfer'].map((n) => vms.get(n)!.id).sort());

    // Migrating: not deletable (that is what would stay for ever without the settle).
    expect(await c.client().vms.delete('lis').then(() => 'OK', (e: { code: string }) => e.code)).toBe('VM_MIGRATING');
    // hv1 dies: its presence goes with its lease.
    await leases.get('hv1')!.revoke();
    const settled = await until('the dead source’s migrations settled', async () => {
      const all = await Promise.all(['req', 'lis'].map((n) => getVm(c, vms.get(n)!.id)));
      return all.every((v) => v?.status === 'running' && !v.migration) && all;
    }, 30_000);
    for (const v of settled) {
      const vm = v!;
      expect(vm.host).toBe('hv1');
      expect(vm.lastMigration?.phase).toBe('failed');
      expect(vm.lastMigration?.error?.code).toBe('HOST_DEAD');
      expect(vm.lastMigration?.error?.message).toMatch(/source host hv1 died/);
      expect(mirrorHostsOf(vm)).toEqual(['hv1']);
      // The destination's mirror is gone: its agent removes what it prepared.
      expect(await c.store.get(Kinds.vm, Keys.hostVm('hv2', vm.id))).toBeUndefined();
    }
    // In transfer the guest may already run on hv2 (on disks only hv2 holds, mode copy): failing it would have
    // hv2's agent destroy them. The scheduler says so and leaves it to an operator.
    await until('the scheduler left the migration in transfer alone', async () => scheduler.stderr().includes('died during the transfer'), 30_000);
    const xfer = (await getVm(c, vms.get('xfer')!.id))!;
    expect(xfer.status).toBe('migrating');
    expect(xfer.migration?.phase).toBe('transferring');
    const alloc2 = (await c.store.get(Kinds.hostAlloc, Keys.hostAlloc('hv2')))!.value.vms;
    expect(Object.keys(alloc2).sort()).toEqual([vms.get('ctl')!.id, xfer.id].sort());
    // The source's bookings stay (the VMs are still there, on a dead host).
    const alloc1 = (await c.store.get(Kinds.hostAlloc, Keys.hostAlloc('hv1')))!.value.vms;
    for (const n of ['req', 'lis', 'xfer']) expect(alloc1[vms.get(n)!.id]).toEqual(resourcesOf(vms.get(n)!));
    // The same passes left the migration of a live source alone.
    const ctl = (await getVm(c, vms.get('ctl')!.id))!;
    expect(ctl.status).toBe('migrating');
    expect(ctl.migration?.phase).toBe('listening');
  });

  it('then the VM is like any VM on a dead host: it can be deleted, and its booking goes', async () => {
    expect(await c.client().vms.delete('xfer').then(() => 'OK', (e: { code: string }) => e.code)).toBe('VM_MIGRATING');
    for (const n of ['req', 'lis']) {
      const vm = vms.get(n)!;
      await c.client().vms.delete(n);
      await until(`${n} deleted`, async () => (await getVm(c, vm.id)) === undefined, 30_000);
      const alloc1 = (await c.store.get(Kinds.hostAlloc, Keys.hostAlloc('hv1')))!.value.vms;
      expect(alloc1[vm.id]).toBeUndefined();
    }
  });
});
