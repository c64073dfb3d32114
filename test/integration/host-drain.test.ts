import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HostView } from '../../src/client/client.js';
import type { UcloudError } from '../../src/common/errors.js';
import type { Vm } from '../../src/model/index.js';
import { UserManager } from '../../src/managers/users.js';
import { Keys, Kinds } from '../../src/store/keys.js';
import { GiB, TestCluster, until, type Daemon } from '../helpers/cluster.js';

// Drained hosts and host removal (issue 11 part B): real etcd, the real API and
// a real scheduler. No host agent: the test announces hosts itself, so only the
// scheduler decides where VMs go. Two identical hosts: ties go to the name that
// sorts first (hv1), so a VM on hv2 shows the drain was obeyed.
describe('host drain, undrain, remove (real etcd, api, scheduler)', () => {
  let c: TestCluster;
  let daemons: Daemon[] = [];

  const vm = async (name: string): Promise<Vm | undefined> => (await c.store.list(Kinds.vm, Keys.vms())).items.map((i) => i.value).find((v) => v.name === name);
  const create = (name: string) => c.client().vms.create({ name, image: 'ucloud-test', cpu: 1, ram: '128MiB', disk: '1GiB' });
  const hostJson = async (name: string) => {
    const r = await c.cli(['host', 'list', '-o', 'json']);
    expect(r.code).toBe(0);
    return (JSON.parse(r.stdout) as HostView[]).find((h) => h.name === name);
  };
  const codeOf = async (p: Promise<unknown>) => p.then(() => 'OK', (e: UcloudError) => e.code);
  const placed = (name: string) => until(`${name} placed`, async () => (await vm(name))?.host);

  beforeAll(async () => {
    c = await TestCluster.start();
    await c.bootstrap({ guestImage: c.tinyImage(), hosts: ['hv1', 'hv2', 'hv3'].map((name) => ({ name, cpu: 4, ram: 4 * GiB, disk: 100 * GiB })) });
    for (const h of ['hv1', 'hv2']) await c.announceHost(h);
    daemons = [c.spawn('api'), c.spawn('scheduler')];
    await Promise.all(daemons.map((d) => d.ready));
  });
  afterAll(async () => {
    await c.stop();
  });

  it('a drained host gets no new VM: it goes to the other host', async () => {
    const r = await c.cli(['host', 'drain', 'hv1']);
    expect(r.code, r.stderr).toBe(0);
    expect((await hostJson('hv1'))?.drained).toBe(true);
    expect((await c.cli(['host', 'list'])).stdout.split('\n').find((l) => l.startsWith('hv1'))).toMatch(/^hv1\s+yes\s+yes\s/);
    await create('d1');
    expect(await placed('d1')).toBe('hv2');
  });

  it('with only drained hosts alive a VM stays pending, its reason naming drained; undrain makes a host eligible again', async () => {
    await c.client().hosts.drain('hv2');
    await create('d2');
    const pending = await until('d2 told why', async () => {
      const v = await vm('d2');
      return v?.status === 'pending' && v.reason && v.reason !== 'waiting for the scheduler' ? v : undefined;
    });
    expect(pending.reason).toBe('no host fits: 1 dead, 2 drained');
    expect(pending.host).toBeUndefined();
    const r = await c.cli(['host', 'undrain', 'hv1']);
    expect(r.code, r.stderr).toBe(0);
    expect((await hostJson('hv1'))?.drained).toBeUndefined();
    expect(await placed('d2')).toBe('hv1');
  });

  it('host list shows the VM count', async () => {
    expect((await hostJson('hv1'))?.vms).toBe(1);
    expect((await hostJson('hv2'))?.vms).toBe(1);
    expect((await hostJson('hv3'))?.vms).toBe(0);
  });

  it('drain --wait stops naming a VM that stays and why (exit 7)', async () => {
    // d1 (on the drained hv2) as if stopped by its host: only running VMs are migrated, so it stays.
    const d1 = (await c.store.list(Kinds.vm, Keys.vms())).items.find((i) => i.value.name === 'd1')!;
    await c.store.put(Kinds.vm, d1.key, { ...d1.value, status: 'stopped', desired: 'stopped' });
    await until('the API sees d1 stopped', async () => (await c.client().vms.get('d1')).status === 'stopped');
    const r = await c.cli(['host', 'drain', 'hv2', '--wait', '--timeout', '60']);
    expect(r.code, r.stderr).toBe(7);
    expect(r.stderr).toContain('error: host hv2 still holds 1 VM that stays: d1 (stopped: only running VMs are migrated)');
  });

  it('a tenant can neither drain, undrain nor remove a host, and changes nothing', async () => {
    const mallory = await new UserManager(c.store).create('mallory', 'user');
    const before = (await c.store.list(Kinds.host, Keys.hosts())).items.map((h) => `${h.key}@${h.modRevision}`);
    for (const call of [() => c.client(mallory.token).hosts.drain('hv1'), () => c.client(mallory.token).hosts.undrain('hv2'), () => c.client(mallory.token).hosts.remove('hv3')]) {
      expect(await codeOf(call())).toBe('FORBIDDEN');
    }
    expect((await c.store.list(Kinds.host, Keys.hosts())).items.map((h) => `${h.key}@${h.modRevision}`)).toEqual(before);
  });

  it('remove refuses a host with VMs (HOST_NOT_EMPTY) and changes nothing', async () => {
    const before = await c.store.get(Kinds.hostAlloc, Keys.hostAlloc('hv2'));
    expect(await codeOf(c.client().hosts.remove('hv2'))).toBe('HOST_NOT_EMPTY');
    const r = await c.cli(['host', 'remove', 'hv2']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('HOST_NOT_EMPTY');
    expect(await c.store.get(Kinds.host, Keys.host('hv2'))).toBeDefined();
    expect((await c.store.get(Kinds.hostAlloc, Keys.hostAlloc('hv2')))?.modRevision).toBe(before?.modRevision);
  });

  it('remove takes an empty host: its record and allocation gone, nothing else', async () => {
    // An allocation left empty, as after its last VM moved away.
    await c.store.put(Kinds.hostAlloc, Keys.hostAlloc('hv3'), { vms: {} });
    const snapshot = async () => {
      const [hosts, allocs, vms] = await Promise.all([c.store.list(Kinds.host, Keys.hosts()), c.store.list(Kinds.hostAlloc, Keys.hostAllocs()), c.store.list(Kinds.vm, Keys.vms())]);
      return [...hosts.items, ...allocs.items, ...vms.items].map((i) => `${i.key}@${i.modRevision}`).sort();
    };
    const before = await snapshot();
    const r = await c.cli(['host', 'remove', 'hv3']);
    expect(r.code, r.stderr).toBe(0);
    const after = await snapshot();
    expect(before.filter((k) => !after.includes(k)).map((k) => k.split('@')[0])).toEqual([Keys.host('hv3'), Keys.hostAlloc('hv3')].sort());
    expect(after.every((k) => before.includes(k))).toBe(true);
    expect(await hostJson('hv3')).toBeUndefined();
    expect(await codeOf(c.client().hosts.remove('hv3'))).toBe('HOST_NOT_FOUND');
  });
});
