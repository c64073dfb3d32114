import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UcloudError } from '../../src/common/errors.js';
import { UserManager } from '../../src/managers/users.js';
import { mirrorHostsOf, resourcesOf, VmManager } from '../../src/managers/vms.js';
import type { Vm } from '../../src/model/index.js';
import { Keys, Kinds } from '../../src/store/keys.js';
import { GiB, MiB, TestCluster, until, type Daemon } from '../helpers/cluster.js';

// The migration request path (issue 11, part D2): real etcd, the real API and
// scheduler processes, no host agent. The test plays the agents' part where a
// VM must be running (it writes status running as the VM's host would), so what
// is shown is the API's and the scheduler's side: the refusals, the bookings on
// both hosts, the races, the destination the scheduler picks, and drain.

const codeOf = async (p: Promise<unknown>) => p.then(() => 'OK', (e: UcloudError) => e.code);

/** Every booking matches a VM booked there (its host, or its migration's destination), and every such VM is booked. */
async function checkAllocations(c: TestCluster): Promise<void> {
  const vms = new Map((await c.store.list(Kinds.vm, Keys.vms())).items.map((i) => [i.value.id, i.value]));
  const allocs = new Map((await c.store.list(Kinds.hostAlloc, Keys.hostAllocs())).items.map((a) => [a.key.split('/')[1]!, a.value]));
  for (const [host, alloc] of allocs) {
    for (const [id, res] of Object.entries(alloc.vms)) {
      const vm = vms.get(id);
      expect(vm, `booking of a VM that is gone (${id} on ${host})`).toBeDefined();
      expect(mirrorHostsOf(vm!), `${vm!.name} booked on ${host}`).toContain(host);
      expect(res).toEqual(resourcesOf(vm!));
    }
  }
  for (const vm of vms.values()) for (const h of mirrorHostsOf(vm)) expect(allocs.get(h)?.vms[vm.id], `${vm.name} not booked on ${h}`).toBeDefined();
}

/** A cluster with the API and a scheduler; `hosts` registered, none alive yet. */
async function startCluster(hosts: { name: string; cpu: number; ram: number; disk: number }[], env: NodeJS.ProcessEnv = {}): Promise<TestCluster> {
  const c = await TestCluster.start();
  await c.bootstrap({ guestImage: c.tinyImage(), hosts });
  // Every host sees the store `local` (as a shared fs path would be): its VMs migrate RAM only.
  const local = (await c.store.get(Kinds.imageStore, Keys.imageStore('local')))!;
  await c.store.put(Kinds.imageStore, local.key, { ...local.value, settings: { ...local.value.settings, shared: true } });
  const daemons: Daemon[] = [c.spawn('api', env), c.spawn('scheduler', env)];
  await Promise.all(daemons.map((d) => d.ready));
  return c;
}

/** Creates VMs through the API and waits until each is placed, then marks them running as their host's agent would (one disk on `store`). */
async function runningVms(c: TestCluster, names: string[], ram = '128MiB', store = 'local'): Promise<Vm[]> {
  const made = await Promise.all(names.map((name) => c.client().vms.create({ name, image: 'ucloud-test', cpu: 1, ram, disk: '1GiB' })));
  const out: Vm[] = [];
  for (const v of made) {
    const placed = await until(`${v.name} placed`, async () => {
      const cur = (await c.store.get(Kinds.vm, Keys.vm(v.id)))?.value;
      return cur?.host ? cur : undefined;
    });
    const agent = new VmManager(c.store, { actor: { kind: 'host', name: placed.host! } });
    const running = await agent.observe(v.id, (cur) => ({
      ...cur,
      status: 'running',
      observedGeneration: cur.generation,
      disks: [{ name: 'os', store, ref: `${cur.id}.qcow2`, format: 'qcow2', sizeBytes: cur.diskBytes }],
    }));
    out.push(running!);
  }
  return out;
}

async function drain(c: TestCluster, name: string): Promise<void> {
  const h = (await c.store.get(Kinds.host, Keys.host(name)))!;
  expect(await c.store.txn().unchanged(h).put(Kinds.host, h.key, { ...h.value, drained: true }).commit()).toBe(true);
}

const getVm = async (c: TestCluster, id: string) => (await c.store.get(Kinds.vm, Keys.vm(id)))!.value;

describe('vm migrate: the request path (real etcd, api, scheduler)', () => {
  let c: TestCluster;
  let vms: Vm[];
  const byName = (n: string) => vms.find((v) => v.name === n)!;
  /** What a refused request must leave alone: the VM record and every allocation, as revisions. */
  const revisions = async (id: string) => ({
    vm: (await c.store.get(Kinds.vm, Keys.vm(id)))!.modRevision,
    allocs: (await c.store.list(Kinds.hostAlloc, Keys.hostAllocs())).items.map((a) => `${a.key}@${a.modRevision}`),
  });

  beforeAll(async () => {
    c = await startCluster([
      { name: 'hv1', cpu: 8, ram: 8 * GiB, disk: 100 * GiB },
      { name: 'hv2', cpu: 8, ram: 8 * GiB, disk: 100 * GiB },
      // Too small for any of the VMs below.
      { name: 'tiny', cpu: 1, ram: 64 * MiB, disk: 100 * GiB },
      // Registered, never alive.
      { name: 'dead', cpu: 8, ram: 8 * GiB, disk: 100 * GiB },
      // Drained (and too small, so the scheduler never picks it whatever its checks).
      { name: 'gone', cpu: 1, ram: 64 * MiB, disk: 100 * GiB },
    ]);
    // Only hv1 alive while the VMs are placed: they all land there.
    await c.announceHost('hv1');
    vms = await runningVms(c, ['a1', 'a2', 'a3', 'a4', 'r1', 'r2', 'r3', 'r4', 'r5']);
    // A disk on a store not every host sees: it migrates with a disk copy (mode copy).
    vms.push(...(await runningVms(c, ['lone'], '128MiB', 'elsewhere')));
    const stopped = await c.client().vms.create({ name: 'cold', image: 'ucloud-test', cpu: 1, ram: '128MiB', disk: '1GiB' });
    vms.push(stopped);
    await until('cold placed', async () => (await getVm(c, stopped.id)).host !== undefined);
    await drain(c, 'gone');
    for (const h of ['hv2', 'tiny', 'gone']) await c.announceHost(h);
  }, 120_000);
  afterAll(async () => {
    await c?.stop();
  });

  it('refuses with a code and changes nothing: not running, own host, unknown, dead, drained, full host; non-admins', async () => {
    const a1 = byName('a1');
    const before = await revisions(a1.id);
    const cases: [string, string | undefined, string][] = [
      ['cold', 'hv2', 'VM_NOT_RUNNING'],
      ['a1', 'hv1', 'MIGRATION_SAME_HOST'],
      ['a1', 'nosuch', 'HOST_NOT_FOUND'],
      ['a1', 'dead', 'HOST_DEAD'],
      ['a1', 'gone', 'HOST_DRAINED'],
      ['a1', 'tiny', 'NO_CAPACITY'],
    ];
    for (const [vm, to, code] of cases) expect(`${vm}→${to}: ${await codeOf(c.client().vms.migrate(vm, { to }))}`).toBe(`${vm}→${to}: ${code}`);
    // The CLI says the same, with its exit code (4: conflict).
    const r = await c.cli(['vm', 'migrate', 'a1', '--to', 'dead']);
    expect(r.code).toBe(4);
    expect(r.stderr).toContain('HOST_DEAD');
    const bob = await new UserManager(c.store).create('bob', 'user');
    expect(await codeOf(c.client(bob.token).vms.migrate(a1.id, { to: 'hv2' }))).toBe('FORBIDDEN');
    expect(await codeOf(c.client().vms.migrate('a1', { to: 'hv2', cancel: true }))).toBe('VALIDATION_FAILED');
    expect(await codeOf(c.client().vms.migrate('a1', { cancel: true }))).toBe('NO_MIGRATION');
    expect(await revisions(a1.id)).toEqual(before);
    expect((await getVm(c, a1.id)).status).toBe('running');
  });

  it('a request books the VM on both hosts in one transaction and records the migration', async () => {
    const a1 = byName('a1');
    const r = await c.cli(['vm', 'migrate', 'a1', '--to', 'hv2']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('a1: requested hv1 → hv2');
    const vm = await getVm(c, a1.id);
    expect(vm.status).toBe('migrating');
    expect(vm.host).toBe('hv1');
    expect(vm.migration).toMatchObject({ source: 'hv1', destination: 'hv2', phase: 'requested', mode: 'shared', requestedBy: 'admin' });
    const [hv1, hv2] = await Promise.all(['hv1', 'hv2'].map(async (h) => (await c.store.get(Kinds.hostAlloc, Keys.hostAlloc(h)))!.value));
    expect(hv1!.vms[a1.id]).toEqual(resourcesOf(vm));
    expect(hv2!.vms[a1.id]).toEqual(resourcesOf(vm));
    // The destination's agent sees it coming in its own index.
    expect((await c.store.get(Kinds.vm, Keys.hostVm('hv2', a1.id)))?.value.migration?.id).toBe(vm.migration!.id);
    // A second request: refused; a cancel sets the flag the source acts on.
    expect(await codeOf(c.client().vms.migrate('a1', { to: 'hv2' }))).toBe('MIGRATION_IN_PROGRESS');
    const cancelled = await c.client().vms.migrate('a1', { cancel: true });
    expect(cancelled.migration).toMatchObject({ id: vm.migration!.id, cancel: true, phase: 'requested' });
    await checkAllocations(c);
  });

  it('a VM with a disk on a store not every host sees is not refused: it migrates with its disks copied (mode copy)', async () => {
    const lone = byName('lone');
    const r = await c.cli(['vm', 'migrate', 'lone', '--to', 'hv2']);
    expect(r.code, r.stderr).toBe(0);
    const vm = await getVm(c, lone.id);
    expect(vm.status).toBe('migrating');
    expect(vm.migration).toMatchObject({ source: 'hv1', destination: 'hv2', phase: 'requested', mode: 'copy' });
    // Booked on both hosts, its disks too: the destination makes copies of them.
    expect((await c.store.get(Kinds.hostAlloc, Keys.hostAlloc('hv2')))!.value.vms[lone.id]).toEqual(resourcesOf(vm));
    await checkAllocations(c);
  });

  it('two migrate requests of the same VM at once: exactly one wins', async () => {
    for (const name of ['a2', 'a3']) {
      const results = await Promise.all([codeOf(c.client().vms.migrate(name, { to: 'hv2' })), codeOf(c.client().vms.migrate(name, { to: 'hv2' }))]);
      expect(results.sort()).toEqual(['MIGRATION_IN_PROGRESS', 'OK']);
    }
    await checkAllocations(c);
  });

  it('a migrate racing a delete: exactly one wins, nothing leaks', async () => {
    for (const name of ['r1', 'r2', 'r3', 'r4', 'r5']) {
      const [migrate, del] = await Promise.all([codeOf(c.client().vms.migrate(name, { to: 'hv2' })), codeOf(c.client().vms.delete(name))]);
      expect([migrate, del].filter((x) => x === 'OK'), `${name}: migrate ${migrate}, delete ${del}`).toHaveLength(1);
      const vm = await getVm(c, byName(name).id);
      if (migrate === 'OK') expect([vm.status, vm.desired, del]).toEqual(['migrating', 'running', 'VM_MIGRATING']);
      else expect([vm.desired, vm.migration, migrate]).toEqual(['deleted', undefined, 'VM_NOT_RUNNING']);
    }
    await checkAllocations(c);
  });

  it('without --to, the scheduler picks a destination that passes the checks, not the source, and books it', async () => {
    const a4 = byName('a4');
    const r = await c.cli(['vm', 'migrate', 'a4']);
    expect(r.code, r.stderr).toBe(0);
    const vm = await until('a destination chosen', async () => {
      const v = await getVm(c, a4.id);
      return v.migration?.destination ? v : undefined;
    });
    // hv2 is the only alive, undrained host with room (tiny is full, dead is dead, gone is drained).
    expect(vm.migration).toMatchObject({ source: 'hv1', destination: 'hv2', phase: 'requested' });
    expect((await c.store.get(Kinds.hostAlloc, Keys.hostAlloc('hv2')))!.value.vms[a4.id]).toEqual(resourcesOf(vm));
    await checkAllocations(c);
  });
});

describe('host drain: the scheduler starts the moves (real etcd, api, scheduler)', () => {
  let c: TestCluster;
  let vms: Vm[];

  beforeAll(async () => {
    c = await startCluster([
      { name: 'src', cpu: 8, ram: 8 * GiB, disk: 100 * GiB },
      // Room for exactly one of the VMs below.
      { name: 'one', cpu: 8, ram: 256 * MiB, disk: 100 * GiB },
      { name: 'big', cpu: 8, ram: 8 * GiB, disk: 100 * GiB },
    ]);
    await c.announceHost('src');
    vms = await runningVms(c, ['d1', 'd2', 'd3'], '256MiB');
    await c.announceHost('one');
  }, 120_000);
  afterAll(async () => {
    await c?.stop();
  });

  const state = async () => Promise.all(vms.map((v) => getVm(c, v.id)));

  it('a drained host\'s VMs are migrated where they fit; one that fits nowhere stays with a reason', async () => {
    await drain(c, 'src');
    const s = await until('one VM moving, the other two told why they stay', async () => {
      const cur = await state();
      return cur.filter((v) => v.migration?.destination).length === 1 && cur.filter((v) => v.reason).length === 2 ? cur : undefined;
    });
    const moving = s.find((v) => v.migration)!;
    expect(moving.migration).toMatchObject({ source: 'src', destination: 'one', phase: 'requested', requestedBy: 'scheduler' });
    for (const d of s.filter((v) => v !== moving)) {
      expect(d.status).toBe('running');
      expect(d.migration).toBeUndefined();
      expect(d.reason).toMatch(/^host src is drained; no alive host has 256MiB RAM free/);
    }
    await checkAllocations(c);
  });

  it('vm migrate without --to when no host fits: settled as failed with the reason', async () => {
    const stays = (await state()).find((v) => !v.migration)!;
    const r = await c.cli(['vm', 'migrate', stays.name, '--wait', '--timeout', '1m']);
    expect(r.code, r.stderr).toBe(7);
    expect(r.stderr).toContain('NO_CAPACITY');
    const vm = await getVm(c, stays.id);
    expect(vm.status).toBe('running');
    expect(vm.migration).toBeUndefined();
    expect(vm.lastMigration).toMatchObject({ phase: 'failed', source: 'src', error: { code: 'NO_CAPACITY' } });
    expect(vm.lastMigration!.destination).toBeUndefined();
    // The end is an event of its own, the VM's owner's to see (the dashboard's live view refreshes on it).
    const events = await until('the migration\'s end recorded', async () => {
      const r = await c.cli(['events', '--vm', stays.name, '-o', 'json']);
      const all = JSON.parse(r.stdout) as { action: string; result: string; code?: string; message?: string; actor: { kind: string } }[];
      return all.some((e) => e.action === 'vm.migrated') ? all : undefined;
    }, 30_000, 200);
    expect(events.filter((e) => e.action === 'vm.migrated')).toEqual([expect.objectContaining({ result: 'error', code: 'NO_CAPACITY', actor: expect.objectContaining({ kind: 'scheduler' }) })]);
    await checkAllocations(c);
  });

  it('at most drain_parallel (2) migrations off one host at once', async () => {
    await c.announceHost('big');
    // Room now for both: only one more starts, as one is under way already.
    const s = await until('a second move', async () => {
      const cur = await state();
      return cur.filter((v) => v.migration).length === 2 ? cur : undefined;
    });
    expect(s.filter((v) => v.migration).map((v) => v.migration!.destination).sort()).toEqual(['big', 'one']);
    // Two later passes (each places a new VM) leave the third where it is.
    for (const name of ['x1', 'x2']) {
      const x = await c.client().vms.create({ name, image: 'ucloud-test', cpu: 1, ram: '128MiB', disk: '1GiB' });
      await until(`${name} placed`, async () => (await getVm(c, x.id)).host !== undefined);
    }
    expect((await state()).filter((v) => v.migration)).toHaveLength(2);
    await checkAllocations(c);
  });
});
