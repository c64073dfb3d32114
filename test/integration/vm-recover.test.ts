import { spawn, type ChildProcess } from 'node:child_process';
import type { Lease } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VmManager } from '../../src/managers/vms.js';
import type { Vm, VmDisk } from '../../src/model/index.js';
import type { CephDriver } from '../../src/storage/drivers/ceph.js';
import { RbdClient } from '../../src/storage/rbd.js';
import { storageDriver } from '../../src/storage/registry.js';
import { Keys, Kinds } from '../../src/store/keys.js';
import { CEPH_HOOK_TIMEOUT_MS, startCeph, uniquePool, type TestCeph } from '../helpers/ceph.js';
import { GiB, TestCluster, until } from '../helpers/cluster.js';

// `vm recover` and storage fencing (issue 13) against real etcd, the real API
// and scheduler and a real Ceph; the test plays the host agents (their
// presence leases and their writes) and stands in for a dead host's QEMU with
// an `rbd bench` writer on the VM's disk, as ucloud's own Ceph client.

describe('vm recover: a VM left on a dead host, started elsewhere, its storage fenced first', () => {
  let c: TestCluster;
  let ceph: TestCeph;
  let pool: string;
  let driver: CephDriver;
  const leases = new Map<string, Lease>();
  const writers: ChildProcess[] = [];
  const get = async (id: string) => (await c.store.get(Kinds.vm, Keys.vm(id)))!.value;

  async function alive(name: string): Promise<void> {
    leases.set(name, await c.announceHost(name, 3_000));
  }

  /** A VM running on hv1 as its agent would record it, its disk on `store`, then hv1 dead: the scheduler marks it HOST_DEAD. */
  async function leftOnDeadHv1(name: string, store: 'ceph' | 'local'): Promise<Vm> {
    // hv1 the only host alive: the VM goes there.
    await leases.get('hv2')?.revoke();
    await alive('hv1');
    const made = await c.client().vms.create({ name, image: 'ucloud-test', cpu: 1, ram: '128MiB', disk: '1GiB' });
    const placed = await until(`${name} placed`, async () => ((await get(made.id)).host === 'hv1' ? get(made.id) : undefined));
    const disk: VmDisk =
      store === 'ceph'
        ? { name: 'os', store, ...(await driver.createDisk(`${made.id}-os`, 64 * 1024 * 1024)), sizeBytes: 64 * 1024 * 1024 }
        : { name: 'os', store, ref: `${made.id}.qcow2`, format: 'qcow2', sizeBytes: placed.diskBytes };
    const hv1 = new VmManager(c.store, { actor: { kind: 'host', name: 'hv1' } });
    await hv1.observe(made.id, (cur) => ({ ...cur, status: 'running', observedGeneration: cur.generation, disks: [{ name: disk.name, store: disk.store, ref: disk.ref, format: disk.format, sizeBytes: disk.sizeBytes }] }));
    await leases.get('hv1')!.revoke();
    return until(`${name} HOST_DEAD`, async () => {
      const v = await get(made.id);
      return v.status === 'error' && v.error?.code === 'HOST_DEAD' ? v : undefined;
    }, 30_000);
  }

  /** A client that keeps writing the disk (it holds its lock), as the dead host's QEMU would; resolves its exit code. */
  function writer(ref: string): { exited: Promise<number | null>; stderr: () => string } {
    const child = spawn('rbd', ['--conf', ceph.conf, '--id', 'ucloud', '--keyring', driver.keyring, 'bench', '--io-type', 'write', '--io-size', '4K', '--io-total', '100G', '--io-threads', '1', ref], { stdio: ['ignore', 'ignore', 'pipe'] });
    writers.push(child);
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    return { exited: new Promise((resolve) => child.on('exit', (code) => resolve(code))), stderr: () => err };
  }

  beforeAll(async () => {
    c = await TestCluster.start();
    await c.bootstrap({
      guestImage: c.tinyImage(),
      hosts: [
        { name: 'hv1', cpu: 4, ram: 4 * GiB, disk: 100 * GiB },
        { name: 'hv2', cpu: 4, ram: 4 * GiB, disk: 100 * GiB },
      ],
    });
    // The fs store, declared shared (as an NFS mount would be): it cannot fence.
    const local = (await c.store.get(Kinds.imageStore, Keys.imageStore('local')))!;
    await c.store.put(Kinds.imageStore, local.key, { ...local.value, settings: { ...local.value.settings, shared: true } });
    ceph = await startCeph();
    pool = uniquePool('recover');
    await ceph.ensurePool(pool);
    await c.managers().images.ensureStore('ceph', 'ceph', { pool, conf: ceph.conf });
    driver = (await storageDriver('ceph', { pool, conf: ceph.conf })) as CephDriver;
    await Promise.all([c.spawn('api').ready, c.spawn('scheduler', { UCLOUD_FAILOVER_MARGIN: '1s' }).ready]);
  }, CEPH_HOOK_TIMEOUT_MS);

  afterAll(async () => {
    for (const w of writers) w.kill('SIGKILL');
    for (const l of leases.values()) await l.revoke().catch(() => undefined);
    await c?.stop();
    if (pool) await new RbdClient({ conf: ceph.conf }).deletePool(pool).catch(() => undefined);
    await ceph?.stop();
  }, 120_000);

  it('on Ceph: the client still writing the disk is blocklisted before the VM is placed again; a disk nobody holds needs --host-is-off', async () => {
    const vm = await leftOnDeadHv1('db1', 'ceph');
    // The host is back: it takes the VM back itself.
    await alive('hv1');
    expect(await c.client().vms.recover('db1', {}).then(() => 'OK', (e: { code: string }) => e.code)).toBe('VM_NOT_RECOVERABLE');
    await leases.get('hv1')!.revoke();
    await alive('hv2');

    // Nothing holds the disk: fencing could not tell a cut-off QEMU from a dead one. The request is dropped, with why.
    const asked = await c.client().vms.recover('db1', {});
    expect(asked.recover?.by).toBe('admin');
    const dropped = await until('recover dropped', async () => {
      const v = await get(vm.id);
      return v.recover === undefined ? v : undefined;
    }, 30_000);
    expect([dropped.status, dropped.error?.code, dropped.host]).toEqual(['error', 'HOST_DEAD', 'hv1']);
    expect(dropped.reason).toMatch(/vm recover refused: nothing holds disk .*--host-is-off/);

    // The dead host's "QEMU" writes on: it holds the disk's lock.
    const w = writer(vm.disks[0]!.ref);
    await until('the writer holds the lock', async () => (await driver.diskClients((await get(vm.id)).disks[0]!)).length > 0, 30_000, 100);
    await c.client().vms.recover('db1', {});
    const placed = await until('db1 placed on hv2', async () => {
      const v = await get(vm.id);
      return v.host === 'hv2' ? v : undefined;
    }, 60_000);
    expect(placed.lastFailover).toMatchObject({ from: 'hv1', code: 'HOST_DEAD', restarted: true, recoveredBy: 'admin' });
    expect(placed.lastFailover?.fencePending).toBeUndefined();
    const fenced = placed.lastFailover?.fenced ?? [];
    expect(fenced.length).toBeGreaterThan(0);
    expect(await new RbdClient({ conf: ceph.conf }).blocklisted()).toEqual(expect.arrayContaining(fenced.map((f) => f.split(' ')[1])));
    // Fenced: the old writer can write no more.
    expect(await w.exited).not.toBe(0);
    expect(w.stderr()).toMatch(/blocklisted|transport endpoint shutdown/);
    expect(placed.recover).toBeUndefined();
    expect((await c.store.get(Kinds.hostAlloc, Keys.hostAlloc('hv1')))?.value.vms[vm.id]).toBeUndefined();
  }, 180_000);

  it('on a shared filesystem (no fencing): refused with HOST_NOT_FENCED, done with --host-is-off', async () => {
    const vm = await leftOnDeadHv1('web1', 'local');
    await alive('hv2');
    const refusal = await c.client().vms.recover('web1', {}).then(() => undefined, (e: { code: string; message: string }) => e);
    expect(refusal?.code).toBe('HOST_NOT_FENCED');
    expect((await get(vm.id)).recover).toBeUndefined();
    await c.client().vms.recover('web1', { hostIsOff: true });
    const placed = await until('web1 placed on hv2', async () => {
      const v = await get(vm.id);
      return v.host === 'hv2' ? v : undefined;
    }, 60_000);
    expect(placed.lastFailover).toMatchObject({ from: 'hv1', restarted: true, recoveredBy: 'admin' });
    expect(placed.lastFailover?.fenced).toBeUndefined();
    // A VM no longer left on a dead host is not recovered.
    expect(await c.client().vms.recover(vm.id, { hostIsOff: true }).then(() => 'OK', (e: { code: string }) => e.code)).toBe('VM_NOT_RECOVERABLE');
  }, 120_000);
});
