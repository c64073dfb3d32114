import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { allowedOf, sumResources } from '../../src/common/capacity.js';
import { silentLogger } from '../../src/common/logger.js';
import { stageVmWrite, VmManager } from '../../src/managers/vms.js';
import type { Host, Vm } from '../../src/model/index.js';
import type { Batch } from '../../src/scheduler/batch.js';
import { Scheduler, type SchedulerOptions } from '../../src/scheduler/loop.js';
import { EVENT_BATCH_MAX, EventLog } from '../../src/store/event-log.js';
import { Keys, Kinds } from '../../src/store/keys.js';
import { Store, type Txn } from '../../src/store/store.js';
import { etcdPerSuite } from '../helpers/etcd-suite.js';
import { until } from '../helpers/cluster.js';
import { API_ACTOR, SCHEDULER_ACTOR } from '../../src/model/vm-lifecycle.js';

/**
 * A VM on `doomed.host` that its user deleted, written the way the system gets
 * there (each step by the actor that makes it): created, placed (with `booking`
 * staged beside it), asked to be deleted.
 */
async function writeDoomed(store: Store, doomed: Vm, booking: (t: Txn) => void = () => {}): Promise<void> {
  const pending: Vm = { ...doomed, desired: 'running', status: 'pending' };
  delete pending.host;
  expect(await stageVmWrite(store.txn(), undefined, pending, API_ACTOR).commit()).toBe(true);
  // A live scheduler in the test may tell the new VM why it fits nowhere first: place it over that.
  await until('the VM placed on its host', async () => {
    const created = (await store.get(Kinds.vm, Keys.vm(doomed.id)))!;
    const placed: Vm = { ...created.value, host: doomed.host!, status: 'scheduled' };
    delete placed.reason;
    const t = stageVmWrite(store.txn(), created, placed, SCHEDULER_ACTOR);
    booking(t);
    return t.commit();
  });
  const placed = (await store.get(Kinds.vm, Keys.vm(doomed.id)))!;
  expect(await stageVmWrite(store.txn(), placed, { ...placed.value, desired: 'deleted', generation: placed.value.generation + 1 }, API_ACTOR).commit()).toBe(true);
}

const GiB = 2 ** 30;

// The batch scheduler against a real etcd, with records written directly and
// hosts made alive by their presence keys on a lease (as an agent would): no
// API, no agent, so only the schedulers decide where VMs go.
describe('scheduler: placement in batches (real etcd)', () => {
  const { storeFor } = etcdPerSuite();
  const schedulers: Scheduler[] = [];

  afterAll(async () => {
    await Promise.all(schedulers.map((s) => s.stop()));
  });

  /** Registers hosts and makes them alive on one lease. */
  async function addHosts(store: Store, hosts: { name: string; cores: number; ramGiB: number }[]): Promise<void> {
    for (let i = 0; i < hosts.length; i += 60) {
      const t = store.txn();
      for (const h of hosts.slice(i, i + 60)) {
        const rec: Host = { name: h.name, address: '::1', capacity: { cpu: h.cores, ramBytes: h.ramGiB * GiB, diskBytes: 1000 * GiB }, allocationRatio: { cpu: 4, ram: 1, disk: 1 }, createdAt: new Date().toISOString() };
        t.absent(Keys.host(h.name)).put(Kinds.host, Keys.host(h.name), rec);
      }
      expect(await t.commit()).toBe(true);
    }
    const lease = store.lease(60_000);
    for (let i = 0; i < hosts.length; i += 100) {
      const t = store.txn();
      for (const h of hosts.slice(i, i + 100)) t.absent(Keys.hostAlive(h.name)).put(Kinds.hostAlive, Keys.hostAlive(h.name), { name: h.name, pid: 1, accel: 'tcg', since: new Date().toISOString() }, lease);
      expect(await t.commit()).toBe(true);
    }
  }

  /** Writes VM records as the API would leave them before the scheduler: running, no host, oldest first. */
  async function addVms(store: Store, n: number, size: (i: number) => { cpu: number; ramGiB: number }): Promise<Vm[]> {
    const base = Date.parse('2026-01-01T00:00:00Z');
    const vms = Array.from({ length: n }, (_, i): Vm => {
      const at = new Date(base + i).toISOString();
      return {
        id: randomUUID(),
        owner: `user${i % 10}`,
        name: `vm${i}`,
        image: { store: 'local', name: 'img' },
        cpu: size(i).cpu,
        ramBytes: size(i).ramGiB * GiB,
        diskBytes: GiB,
        desired: 'running',
        generation: 1,
        observedGeneration: 0,
        status: 'pending',
        reason: 'waiting for the scheduler',
        disks: [],
        createdAt: at,
        updatedAt: at,
      };
    });
    // 60 a transaction: each is a compare and two puts (record and image index), within etcd's 128.
    for (let i = 0; i < vms.length; i += 60) {
      const t = store.txn();
      for (const vm of vms.slice(i, i + 60)) stageVmWrite(t, undefined, vm, API_ACTOR);
      expect(await t.commit()).toBe(true);
    }
    return vms;
  }

  /**
   * Every VM placed exactly once: its host's allocation holds it, no other does,
   * no allocation holds anything else (but `phantoms`), no host is booked beyond
   * what it allows, and each placed VM has its per-host mirror.
   */
  async function checkPlacements(store: Store, count: number, phantoms: string[] = []): Promise<Vm[]> {
    const vms = (await store.list(Kinds.vm, Keys.vms())).items.map((i) => i.value);
    expect(vms).toHaveLength(count);
    const hosts = new Map((await store.list(Kinds.host, Keys.hosts())).items.map((h) => [h.value.name, h.value]));
    const bookedOn = new Map<string, string[]>();
    for (const a of (await store.list(Kinds.hostAlloc, Keys.hostAllocs())).items) {
      const name = a.key.slice('host-alloc/'.length);
      const used = sumResources(Object.values(a.value.vms));
      const allowed = allowedOf(hosts.get(name)!);
      expect(used.cpu, `${name} cpu`).toBeLessThanOrEqual(allowed.cpu);
      expect(used.ramBytes, `${name} ram`).toBeLessThanOrEqual(allowed.ramBytes);
      expect(used.diskBytes, `${name} disk`).toBeLessThanOrEqual(allowed.diskBytes);
      for (const id of Object.keys(a.value.vms)) if (!phantoms.includes(id)) bookedOn.set(id, [...(bookedOn.get(id) ?? []), name]);
    }
    for (const vm of vms) {
      expect(vm.host, vm.name).toBeDefined();
      expect(vm.status).toBe('scheduled');
      expect(bookedOn.get(vm.id), vm.name).toEqual([vm.host]);
    }
    expect(bookedOn.size).toBe(count);
    const mirrors = (await store.list(Kinds.vm, 'host-vm/')).items;
    expect(mirrors).toHaveLength(count);
    for (const m of mirrors) expect(m.key).toBe(Keys.hostVm(m.value.host!, m.value.id));
    return vms;
  }

  async function startScheduler(store: Store, opts: SchedulerOptions = {}): Promise<Scheduler> {
    const s = new Scheduler(store, new VmManager(store, { actor: SCHEDULER_ACTOR }), silentLogger, opts);
    schedulers.push(s);
    await s.start();
    return s;
  }

  it('two schedulers at once place 2,000 VMs onto 200 hosts: each exactly once, no host overbooked', async () => {
    const prefix = '/sched-batch-two/';
    const store = storeFor(prefix);
    // 100 hosts of 16 vCPU / 16 GiB and 100 of 12 / 12 (cores × cpu ratio 4): 2,800 vCPU for 2,200 asked.
    await addHosts(store, Array.from({ length: 200 }, (_, i) => ({ name: `hv${String(i).padStart(3, '0')}`, cores: i % 2 ? 3 : 4, ramGiB: i % 2 ? 12 : 16 })));
    const [a, b] = await Promise.all([startScheduler(storeFor(prefix)), startScheduler(storeFor(prefix))]);
    // Both are watching when the VMs arrive, 100 to a transaction, so both plan them and race.
    const t0 = performance.now();
    await addVms(store, 2000, (i) => (i % 10 === 0 ? { cpu: 2, ramGiB: 2 } : { cpu: 1, ramGiB: 1 }));
    const written = performance.now();
    await until('the schedulers placed 2,000 VMs', () => a!.stats.placed + b!.stats.placed >= 2000, 120_000, 5);
    const seconds = (performance.now() - t0) / 1000;
    console.log(
      `scheduler-batch: 2,000 VMs onto 200 hosts by two schedulers: ${seconds.toFixed(2)} s from the first VM written to the last placed ` +
        `(writing took ${((written - t0) / 1000).toFixed(2)} s) = ${(2000 / seconds).toFixed(0)} placements/s ` +
        `(placed ${a!.stats.placed} + ${b!.stats.placed}; batches lost ${a!.stats.lostBatches} + ${b!.stats.lostBatches}; re-planned ${a!.stats.replanned} + ${b!.stats.replanned})`,
    );
    expect(a!.stats.placed + b!.stats.placed).toBe(2000);
    const vms = await checkPlacements(store, 2000);
    // Spread: every host got some.
    expect(new Set(vms.map((v) => v.host)).size).toBe(200);
    await Promise.all([a!.stop(), b!.stop()]);
  });

  it('a batch that loses a race books nothing and only its VMs are planned again', async () => {
    const prefix = '/sched-batch-race/';
    const store = storeFor(prefix);
    await addHosts(store, Array.from({ length: 20 }, (_, i) => ({ name: `hv${String(i).padStart(2, '0')}`, cores: 8, ramGiB: 64 })));
    await addVms(store, 300, () => ({ cpu: 1, ramGiB: 1 }));
    const phantom = randomUUID();
    let lost: { host: string; vms: number; batches: number } | undefined;
    const s = await startScheduler(storeFor(prefix), {
      // Between plan and commit, another writer books on a host that only one batch uses.
      onPlanned: async (batches: readonly Batch[]) => {
        if (lost) return;
        const uses = new Map<string, number>();
        for (const b of batches) for (const h of b.hosts.keys()) uses.set(h, (uses.get(h) ?? 0) + 1);
        const victim = batches.find((b) => [...b.hosts.keys()].some((h) => uses.get(h) === 1))!;
        expect(victim).toBeDefined();
        const host = [...victim.hosts.keys()].find((h) => uses.get(h) === 1)!;
        lost = { host, vms: [...victim.hosts.values()].flat().length, batches: batches.length };
        await store.update(Kinds.hostAlloc, Keys.hostAlloc(host), (cur) => ({ vms: { ...cur?.vms, [phantom]: { cpu: 1, ramBytes: GiB, diskBytes: GiB } } }));
      },
    });
    await until('300 VMs placed', () => s.stats.placed >= 300, 60_000, 20);
    expect(lost!.batches).toBeGreaterThan(2);
    expect(s.stats.lostBatches).toBe(1);
    expect(s.stats.replanned).toBe(lost!.vms);
    expect(s.stats.placed).toBe(300);
    await checkPlacements(store, 300, [phantom]);
    const alloc = await store.get(Kinds.hostAlloc, Keys.hostAlloc(lost!.host));
    expect(alloc?.value.vms[phantom]).toEqual({ cpu: 1, ramBytes: GiB, diskBytes: GiB });
    await s.stop();
  });

  it("a pass's placements are all on record at once, in full event batches, not one after another", async () => {
    const prefix = '/sched-batch-events/';
    const store = storeFor(prefix);
    await addHosts(store, Array.from({ length: 20 }, (_, i) => ({ name: `hv${String(i).padStart(2, '0')}`, cores: 8, ramGiB: 64 })));
    const n = 3 * EVENT_BATCH_MAX;
    const vms = await addVms(store, n, () => ({ cpu: 1, ramGiB: 1 }));
    // A minute's linger: had each placement's event waited for the one before it to be written, the second would wait it out.
    const events = new EventLog(storeFor(prefix), { log: silentLogger, lingerMs: 60_000 });
    const s = await startScheduler(storeFor(prefix), { events });
    await until(`${n} placed`, () => s.stats.placed >= n, 60_000, 20);
    const owners = [...new Set(vms.map((v) => v.owner))];
    const placed = await until(`${n} vm.placed events`, async () => {
      const all = (await Promise.all(owners.map((o) => store.list(Kinds.event, Keys.eventsOf(o))))).flatMap((l) => l.items.map((i) => i.value));
      return all.length >= n && all;
    }, 20_000, 20);
    expect(placed.every((e) => e.action === 'vm.placed' && e.result === 'ok')).toBe(true);
    expect(new Set(placed.map((e) => e.object.id))).toEqual(new Set(vms.map((v) => v.id)));
    const hostOf = new Map((await store.list(Kinds.vm, Keys.vms())).items.map((v) => [v.value.id, v.value.host]));
    for (const e of placed) expect(e.message).toBe(`placed on ${hostOf.get(e.object.id!)}`);
    await s.stop();
  });

  it('VMs that fit nowhere are told why in batched writes, not rewritten while the reason holds; a VM being deleted on a dead host is finalized', async () => {
    const prefix = '/sched-batch-pending/';
    const store = storeFor(prefix);
    await addHosts(store, [{ name: 'hv1', cores: 1, ramGiB: 64 }]);
    const vms = await addVms(store, 150, () => ({ cpu: 1, ramGiB: 1 }));
    const s = await startScheduler(storeFor(prefix));
    const reason = 'no alive host has 1 vCPU free (most free: 0 of 4 allowed = 1 core × cpu_allocation_ratio 4)';
    const told = await until('4 placed, 146 told why', async () => {
      const items = (await store.list(Kinds.vm, Keys.vms())).items;
      return items.filter((v) => v.value.host === 'hv1').length === 4 && items.filter((v) => v.value.reason === reason).length === 146 && items;
    });
    // More than one transaction's worth (128), so the writes were batched, and every pending VM says the same.
    expect(told.filter((v) => !v.value.host).every((v) => v.value.status === 'pending' && v.value.reason === reason)).toBe(true);
    const revisions = new Map(told.map((v) => [v.key, v.modRevision]));

    // A host that is registered but not alive, with a VM on it being deleted: the next pass finalizes that VM
    // and, the reason unchanged, writes none of the 146 again.
    const passes = s.stats.passes;
    await addHostRecordOnly(store, 'hv-dead');
    const doomed = { ...vms[0]!, id: randomUUID(), name: 'doomed', host: 'hv-dead', desired: 'deleted' as const, status: 'deleting' as const };
    delete doomed.reason;
    await writeDoomed(store, doomed, (t) => t.absent(Keys.hostAlloc('hv-dead')).put(Kinds.hostAlloc, Keys.hostAlloc('hv-dead'), { vms: { [doomed.id]: { cpu: 1, ramBytes: GiB, diskBytes: GiB } } }));
    await until('the VM on the dead host is finalized', async () => !(await store.get(Kinds.vm, Keys.vm(doomed.id))));
    expect((await store.get(Kinds.hostAlloc, Keys.hostAlloc('hv-dead')))?.value.vms).toEqual({});
    expect(await store.get(Kinds.vm, Keys.hostVm('hv-dead', doomed.id))).toBeUndefined();
    await until('a pass after it', () => s.stats.passes > passes + 1);
    const after = (await store.list(Kinds.vm, Keys.vms())).items;
    expect(after).toHaveLength(150);
    for (const v of after) expect(v.modRevision, v.value.name).toBe(revisions.get(v.key));
    await s.stop();
  });

  it("finalizing a delete decided from a cache that thought the host dead does nothing once the host's presence is back", async () => {
    const store = storeFor('/sched-batch-alive-again/');
    await addHostRecordOnly(store, 'hv-back');
    const [vm] = await addVms(store, 1, () => ({ cpu: 1, ramGiB: 1 }));
    const doomed = { ...vm!, id: randomUUID(), name: 'doomed-alive', host: 'hv-back', desired: 'deleted' as const, status: 'deleting' as const };
    delete doomed.reason;
    await writeDoomed(store, doomed);
    // The agent is back (its presence key is there) although a cache may not show it yet.
    await store.put(Kinds.hostAlive, Keys.hostAlive('hv-back'), { name: 'hv-back', pid: 1, accel: 'tcg', since: new Date().toISOString() });
    await new VmManager(store, { actor: SCHEDULER_ACTOR }).finalizeDelete(doomed.id, { onlyIfHostDead: true });
    expect((await store.get(Kinds.vm, Keys.vm(doomed.id)))?.value.desired).toBe('deleted');
    expect(await store.get(Kinds.vm, Keys.hostVm('hv-back', doomed.id))).toBeDefined();
    // Once it is really gone, the same call removes the VM.
    await store.delete(Keys.hostAlive('hv-back'));
    await new VmManager(store, { actor: SCHEDULER_ACTOR }).finalizeDelete(doomed.id, { onlyIfHostDead: true });
    expect(await store.get(Kinds.vm, Keys.vm(doomed.id))).toBeUndefined();
  });

  /** A host registered but with no agent announcing it. */
  async function addHostRecordOnly(store: Store, name: string): Promise<void> {
    const rec: Host = { name, address: '::1', capacity: { cpu: 8, ramBytes: 64 * GiB, diskBytes: 1000 * GiB }, allocationRatio: { cpu: 4, ram: 1, disk: 1 }, createdAt: new Date().toISOString() };
    expect(await store.create(Kinds.host, Keys.host(name), rec)).toBe(true);
  }
});
