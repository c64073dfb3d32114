import type { Lease } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { QemuOffer } from '../../src/common/qemu-compat.js';
import { VmManager } from '../../src/managers/vms.js';
import type { Vm } from '../../src/model/index.js';
import { Keys, Kinds } from '../../src/store/keys.js';
import { GiB, TestCluster, until } from '../helpers/cluster.js';

// Migratable guests (issue 11): a VM records the versioned machine type and
// CPU model it started with; a migration goes only to a host whose QEMU offers
// both (its presence says so). Real etcd, API and scheduler; the test plays
// the agents, announcing what their QEMU offers.

const OFFER: QemuOffer = { machines: ['pc', 'pc-i440fx-7.2'], cpuModels: ['Nehalem-v1', 'host', 'max'], hostCpu: 'cpu-a' };
const codeOf = async (p: Promise<unknown>) => p.then(() => 'OK', (e: { code: string }) => e.code);

describe('migration placement checks the destination QEMU', () => {
  let c: TestCluster;
  const leases: Lease[] = [];
  const getVm = async (id: string) => (await c.store.get(Kinds.vm, Keys.vm(id)))!.value;

  async function alive(name: string, qemu: QemuOffer): Promise<void> {
    const lease = c.store.lease(10_000);
    leases.push(lease);
    await c.store.put(Kinds.hostAlive, Keys.hostAlive(name), { name, pid: 1, accel: 'tcg', since: new Date().toISOString(), qemu }, lease);
  }

  async function running(name: string, cpu: string): Promise<Vm> {
    const made = await c.client().vms.create({ name, image: 'ucloud-test', cpu: 1, ram: '128MiB', disk: '1GiB' });
    const placed = await until(`${name} placed`, async () => ((await getVm(made.id)).host ? getVm(made.id) : undefined));
    return (await new VmManager(c.store, { actor: { kind: 'host', name: placed.host! } }).observe(made.id, (cur) => ({
      ...cur,
      status: 'running',
      observedGeneration: cur.generation,
      disks: [{ name: 'os', store: 'local', ref: `${cur.id}.qcow2`, format: 'qcow2', sizeBytes: cur.diskBytes }],
      qemu: { pid: 4242, qmpSocket: '/run/q.sock', serialLog: '/run/s.log', accel: 'tcg', startedAt: new Date().toISOString(), machine: 'pc-i440fx-7.2', cpu },
    })))!;
  }

  beforeAll(async () => {
    c = await TestCluster.start();
    const hosts = ['src', 'old', 'othercpu', 'fit'].map((name) => ({ name, cpu: name === 'src' ? 8 : 1, ram: 8 * GiB, disk: 100 * GiB }));
    await c.bootstrap({ guestImage: c.tinyImage(), hosts });
    const local = (await c.store.get(Kinds.imageStore, Keys.imageStore('local')))!;
    await c.store.put(Kinds.imageStore, local.key, { ...local.value, settings: { ...local.value.settings, shared: true } });
    await Promise.all([c.spawn('api').ready, c.spawn('scheduler').ready]);
    await alive('src', OFFER);
    await running('named', 'Nehalem-v1');
    await running('passthru', 'max');
    // A QEMU without the machine type; one with it on another CPU; one that fits all.
    await alive('old', { ...OFFER, machines: ['pc', 'pc-i440fx-6.2'] });
    await alive('othercpu', { ...OFFER, hostCpu: 'cpu-b' });
  }, 120_000);
  afterAll(async () => {
    for (const l of leases) await l.revoke().catch(() => undefined);
    await c?.stop();
  });

  it('vm migrate --to a host whose QEMU lacks the machine type or (for host/max) the CPU: HOST_INCOMPATIBLE, nothing written', async () => {
    const before = (await c.store.get(Kinds.vm, Keys.vm((await c.client().vms.get('named')).id)))!.modRevision;
    expect(await codeOf(c.client().vms.migrate('named', { to: 'old' }))).toBe('HOST_INCOMPATIBLE');
    expect(await codeOf(c.client().vms.migrate('passthru', { to: 'othercpu' }))).toBe('HOST_INCOMPATIBLE');
    const err = await c.client().vms.migrate('named', { to: 'old' }).catch((e: Error) => e.message);
    expect(err).toMatch(/no machine type pc-i440fx-7\.2/);
    expect((await c.store.get(Kinds.vm, Keys.vm((await c.client().vms.get('named')).id)))!.modRevision).toBe(before);
    // A named model moves to another CPU as long as the QEMU offers it.
    expect((await c.client().vms.migrate('named', { to: 'othercpu' })).status).toBe('migrating');
  });

  it('without --to the scheduler skips such hosts, and says why when none is left', async () => {
    const vm = await c.client().vms.migrate('passthru', {});
    const failed = await until('settled: no host fits', async () => {
      const v = await getVm(vm.id);
      return !v.migration && v.lastMigration && v;
    }, 30_000);
    expect(failed.lastMigration?.error?.code).toBe('NO_CAPACITY');
    expect(failed.lastMigration?.error?.message).toMatch(/whose QEMU cannot run pc-i440fx-7\.2 \/ max/);
    // A host that fits appears: the next request goes there.
    await alive('fit', OFFER);
    await c.client().vms.migrate('passthru', {});
    const picked = await until('destination chosen', async () => (await getVm(vm.id)).migration?.destination);
    expect(picked).toBe('fit');
  });
});
