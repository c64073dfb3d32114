import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/common/logger.js';
import { HostAgent } from '../../src/host/agent.js';
import { HostNetwork } from '../../src/host/network/index.js';
import { VmRuntime } from '../../src/host/vm-runtime.js';
import { HostManager } from '../../src/managers/hosts.js';
import { ImageManager } from '../../src/managers/images.js';
import { stageVmWrite, VmManager } from '../../src/managers/vms.js';
import { nowIso, type Vm } from '../../src/model/index.js';
import { API_ACTOR, hostActor, SCHEDULER_ACTOR } from '../../src/model/vm-lifecycle.js';
import { Informer } from '../../src/store/informer.js';
import { Keys, Kinds } from '../../src/store/keys.js';
import { DELETE, Store } from '../../src/store/store.js';
import { MiB, until } from '../helpers/cluster.js';
import { etcdPerSuite } from '../helpers/etcd-suite.js';

const capacity = { cpu: 64, ramBytes: 1024 * 1024 * MiB, diskBytes: 1024 * 1024 * MiB };
const image = { store: 'local', name: 'img' };

/** A placed VM record as an older ucloud wrote it: no mirror. */
function placedVm(host: string, name: string): Vm {
  const now = nowIso();
  return { id: randomUUID(), owner: 'alice', name, image, cpu: 1, ramBytes: 64 * MiB, diskBytes: 64 * MiB, desired: 'stopped', generation: 1, observedGeneration: 1, status: 'stopped', host, disks: [], createdAt: now, updatedAt: now };
}

// The per-host VM index: `host-vm/<host>/<id>` mirrors `vm/<id>` in the same
// transaction, so an agent watches its own VMs instead of the whole fleet.
describe('per-host VM index (real etcd)', () => {
  const { storeFor } = etcdPerSuite();

  /** The mirror keys under host-vm/, whatever host. */
  const mirrorKeys = async (store: Store) => (await store.list(Kinds.vm, Keys.hostVmIndex())).items.map((i) => i.key).sort();

  /** vm/<id> and its host's mirror hold the same record, written at the same revision; no other mirror of it exists. */
  async function expectMirrored(store: Store, id: string): Promise<Vm> {
    const rec = (await store.get(Kinds.vm, Keys.vm(id)))!;
    expect(rec).toBeDefined();
    const host = rec.value.host!;
    const mirror = await store.get(Kinds.vm, Keys.hostVm(host, id));
    expect(mirror?.value).toEqual(rec.value);
    expect(mirror?.modRevision).toBe(rec.modRevision);
    expect((await mirrorKeys(store)).filter((k) => k.endsWith(id))).toEqual([Keys.hostVm(host, id)]);
    return rec.value;
  }

  it('every VM write path keeps vm/<id> and its mirror identical; no mirror before placement or after delete', async () => {
    const store = storeFor('/hvi-a/');
    // Each write by the actor that makes it in the system (the state machine checks them).
    const vms = new VmManager(store, { actor: API_ACTOR });
    const sched = new VmManager(store, { actor: SCHEDULER_ACTOR });
    const h1 = new VmManager(store, { actor: hostActor('h1') });
    const h2 = new VmManager(store, { actor: hostActor('h2') });
    const hosts = new HostManager(store);
    await hosts.add('h1', '::1', capacity);
    await hosts.add('h2', '::1', capacity);

    const vm = await vms.create({ owner: 'alice', name: 'a', image, cpu: 1, ramBytes: 64 * MiB, diskBytes: 64 * MiB });
    expect(await mirrorKeys(store)).toEqual([]);

    expect(await sched.assign((await store.get(Kinds.vm, Keys.vm(vm.id)))!, 'h1', undefined)).toBe(true);
    expect(await expectMirrored(store, vm.id)).toMatchObject({ host: 'h1', status: 'scheduled' });

    await h1.observe(vm.id, (cur) => ({ ...cur, status: 'running', observedGeneration: cur.generation }));
    expect(await expectMirrored(store, vm.id)).toMatchObject({ status: 'running' });

    await vms.request(vm.id, 'stopped');
    expect(await expectMirrored(store, vm.id)).toMatchObject({ desired: 'stopped', generation: 2 });
    await h1.observe(vm.id, (cur) => ({ ...cur, status: 'stopped', observedGeneration: cur.generation }));

    await vms.resize(vm.id, { cpu: 2, diskBytes: 128 * MiB });
    expect(await expectMirrored(store, vm.id)).toMatchObject({ cpu: 2, diskBytes: 128 * MiB });
    await vms.request(vm.id, 'running');
    await h1.observe(vm.id, (cur) => ({ ...cur, status: 'running', observedGeneration: cur.generation }));

    // A migration mirrors the VM on both hosts; its end moves the host and the mirror.
    const running = (await store.get(Kinds.vm, Keys.vm(vm.id)))!;
    const at = new Date().toISOString();
    const migration = { id: randomUUID(), source: 'h1', destination: 'h2', phase: 'requested' as const, mode: 'shared' as const, requestedBy: 'alice', startedAt: at, updatedAt: at };
    expect(await stageVmWrite(store.txn(), running, { ...running.value, status: 'migrating', migration }, API_ACTOR).commit()).toBe(true);
    expect(await mirrorKeys(store)).toEqual([Keys.hostVm('h1', vm.id), Keys.hostVm('h2', vm.id)]);
    for (const [phase, by] of [['preparing', 'h2'], ['listening', 'h2'], ['transferring', 'h1']] as const) {
      const m = (await store.get(Kinds.vm, Keys.vm(vm.id)))!;
      expect(await stageVmWrite(store.txn(), m, { ...m.value, migration: { ...migration, phase } }, hostActor(by)).commit()).toBe(true);
      expect((await store.get(Kinds.vm, Keys.hostVm('h2', vm.id)))?.value.migration?.phase).toBe(phase);
    }
    const cur = (await store.get(Kinds.vm, Keys.vm(vm.id)))!;
    const settled = { ...cur.value, status: 'running' as const, host: 'h2', lastMigration: { ...migration, phase: 'completed' as const } };
    delete settled.migration;
    expect(await stageVmWrite(store.txn(), cur, settled, hostActor('h1')).commit()).toBe(true);
    expect(await expectMirrored(store, vm.id)).toMatchObject({ host: 'h2' });
    expect(await mirrorKeys(store)).toEqual([Keys.hostVm('h2', vm.id)]);
    // A stale read loses: the CAS is on vm/<id>.
    expect(await stageVmWrite(store.txn(), cur, settled, hostActor('h1')).commit()).toBe(false);

    await vms.request(vm.id, 'deleted');
    expect(await expectMirrored(store, vm.id)).toMatchObject({ desired: 'deleted' });
    await h2.observe(vm.id, (c) => ({ ...c, status: 'deleting' }));
    await h2.finalizeDelete(vm.id);
    expect(await store.get(Kinds.vm, Keys.vm(vm.id))).toBeUndefined();
    expect(await mirrorKeys(store)).toEqual([]);

    // Never placed: deleted at once, never mirrored.
    const b = await vms.create({ owner: 'alice', name: 'b', image, cpu: 1, ramBytes: 64 * MiB, diskBytes: 64 * MiB });
    expect(await vms.request(b.id, 'deleted')).toBeUndefined();
    expect(await store.get(Kinds.vm, Keys.vm(b.id))).toBeUndefined();
    expect(await mirrorKeys(store)).toEqual([]);

    // stageVmWrite with DELETE on a placed VM takes the mirror too.
    const c = await vms.create({ owner: 'alice', name: 'c', image, cpu: 1, ramBytes: 64 * MiB, diskBytes: 64 * MiB });
    expect(await sched.assign((await store.get(Kinds.vm, Keys.vm(c.id)))!, 'h2', await store.get(Kinds.hostAlloc, Keys.hostAlloc('h2')))).toBe(true);
    await expectMirrored(store, c.id);
    await vms.request(c.id, 'deleted');
    expect(await stageVmWrite(store.txn(), (await store.get(Kinds.vm, Keys.vm(c.id)))!, DELETE, SCHEDULER_ACTOR).commit()).toBe(true);
    expect(await mirrorKeys(store)).toEqual([]);
  });

  it("an informer on host-vm/h1/ gets events for h1's VMs only, not for 200 on h2", async () => {
    const store = storeFor('/hvi-b/');
    const vms = new VmManager(store, { actor: API_ACTOR });
    const sched = new VmManager(store, { actor: SCHEDULER_ACTOR });
    const informer = new Informer(store, Kinds.vm, Keys.hostVms('h1'), silentLogger);
    const seen: string[] = [];
    informer.on('change', (key) => seen.push(key));
    await informer.start();
    try {
      const place = async (host: string, name: string) => {
        const v = await vms.create({ owner: 'bob', name, image, cpu: 1, ramBytes: MiB, diskBytes: MiB });
        // Unregistered hosts: assign books without a capacity check, as in the scheduler tests.
        // Concurrent bookings on one host race for its allocation: the losers read again.
        for (let attempt = 0; attempt < 500; attempt++) {
          const [rec, alloc] = await Promise.all([store.get(Kinds.vm, Keys.vm(v.id)), store.get(Kinds.hostAlloc, Keys.hostAlloc(host))]);
          if (await sched.assign(rec!, host, alloc)) return v.id;
        }
        throw new Error(`could not place ${name}`);
      };
      const onH2 = Array.from({ length: 200 }, (_, i) => `h2-${i}`);
      const h1Ids: string[] = [];
      // h1's VMs among h2's, not all at one end.
      for (let i = 0; i < onH2.length; i += 20) {
        await Promise.all(onH2.slice(i, i + 20).map((n) => place('h2', n)));
        if (i % 80 === 0) h1Ids.push(await place('h1', `h1-${i}`));
      }
      expect(h1Ids).toHaveLength(3);
      // The barrier: a later write to one of h1's VMs; once the informer holds it, it has seen every earlier event.
      const last = h1Ids[2]!;
      const after = await new VmManager(store, { actor: hostActor('h1') }).observe(last, (cur) => ({ ...cur, status: 'running' }));
      expect(after?.status).toBe('running');
      const barrier = (await store.get(Kinds.vm, Keys.hostVm('h1', last)))!.modRevision;
      await until('the informer saw the barrier write', () => informer.get(Keys.hostVm('h1', last))?.modRevision === barrier);

      expect((await mirrorKeys(store)).filter((k) => k.startsWith(Keys.hostVms('h2')))).toHaveLength(200);
      const h1Keys = h1Ids.map((id) => Keys.hostVm('h1', id)).sort();
      expect([...new Set(seen)].sort()).toEqual(h1Keys);
      // Each h1 VM: placed (one event), the last also observed (one more).
      expect(seen).toHaveLength(4);
      expect([...informer.items.keys()].sort()).toEqual(h1Keys);
    } finally {
      await informer.stop();
    }
  });

  describe('a cluster upgraded from before the index', () => {
    let store: Store;
    let vms: VmManager;
    let runDir: string;
    let agent: HostAgent | undefined;
    const onH1 = [placedVm('h1', 'one'), placedVm('h1', 'two'), placedVm('h1', 'three')];
    const onH2 = [placedVm('h2', 'four'), placedVm('h2', 'five')];

    const startAgent = async () => {
      const runtime = new VmRuntime(
        { runDir, qemuBinary: 'qemu-system-x86_64', machine: 'pc', accel: 'tcg', stopTimeoutMs: 1000, consoleLogBytes: MiB },
        new ImageManager(store),
        new HostNetwork({ runDir: join(runDir, 'net'), underlay: 'lo', log: silentLogger }),
        silentLogger,
      );
      const a = new HostAgent(store, vms, new HostManager(store), runtime, { name: 'h1', accel: 'tcg', leaseTtlMs: 5000 }, silentLogger);
      await a.start();
      return a;
    };
    /** Local state on h1, as a VM's run directory holds it. */
    const localDir = (id: string) => join(runDir, 'vms', id);
    const makeLocal = (id: string) => {
      mkdirSync(localDir(id), { recursive: true });
      writeFileSync(join(localDir(id), 'vm.json'), JSON.stringify({ id, disks: [] }));
    };

    beforeAll(async () => {
      store = storeFor('/hvi-c/');
      vms = new VmManager(store, { actor: hostActor('h1') });
      runDir = mkdtempSync(join(tmpdir(), 'ucloud-hvi-'));
      await new HostManager(store).add('h1', '::1', capacity);
      // Written as an older ucloud did: the records only.
      for (const vm of [...onH1, ...onH2]) await store.put(Kinds.vm, Keys.vm(vm.id), vm);
    });
    afterAll(async () => {
      await agent?.stop();
      rmSync(runDir, { recursive: true, force: true });
    });

    it("the agent backfills its own VMs' mirrors before trusting its index: nothing placed here is taken for an orphan", async () => {
      expect(await vms.hostIndexComplete()).toBe(false);
      expect(await mirrorKeys(store)).toEqual([]);
      for (const vm of onH1) makeLocal(vm.id);
      // Real orphans, so the collector is seen to run: one with no record, one whose record is on another host.
      const orphan = randomUUID();
      makeLocal(orphan);
      makeLocal(onH2[0]!.id);
      // A mirror no record calls for (an older writer deleted the VM): removed, not acted on.
      const ghost = placedVm('h1', 'ghost');
      await store.put(Kinds.vm, Keys.hostVm('h1', ghost.id), ghost);

      agent = await startAgent();
      await until('the orphans removed', () => !existsSync(localDir(orphan)) && !existsSync(localDir(onH2[0]!.id)));
      for (const vm of onH1) {
        expect(existsSync(localDir(vm.id))).toBe(true);
        await expectMirrored(store, vm.id);
      }
      // Its own only: h2's agent writes h2's; the cluster-wide backfill writes the marker.
      expect(await mirrorKeys(store)).toEqual(onH1.map((v) => Keys.hostVm('h1', v.id)).sort());
      expect(await vms.hostIndexComplete()).toBe(false);
    });

    it('the cluster-wide backfill writes the rest and the marker; a second run writes nothing', async () => {
      // Cluster-wide, as the scheduler runs it.
      const sched = new VmManager(store, { actor: SCHEDULER_ACTOR });
      expect(await sched.backfillHostIndex()).toEqual({ written: 2, removed: 0 });
      for (const vm of [...onH1, ...onH2]) await expectMirrored(store, vm.id);
      expect(await vms.hostIndexComplete()).toBe(true);
      expect(await sched.backfillHostIndex()).toEqual({ written: 0, removed: 0 });
    });

    it('with the marker written, a VM placed here whose mirror is missing is still never deleted: its mirror is written back', async () => {
      await agent?.stop();
      agent = undefined;
      const lost = placedVm('h1', 'lost');
      await store.put(Kinds.vm, Keys.vm(lost.id), lost);
      makeLocal(lost.id);
      const orphan = randomUUID();
      makeLocal(orphan);
      agent = await startAgent();
      await until('the orphan removed', () => !existsSync(localDir(orphan)));
      expect(existsSync(localDir(lost.id))).toBe(true);
      await until('the mirror written back', () => store.get(Kinds.vm, Keys.hostVm('h1', lost.id)));
      await expectMirrored(store, lost.id);
    });
  });
});
