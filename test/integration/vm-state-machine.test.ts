import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UcloudError } from '../../src/common/errors.js';
import { silentLogger, type Logger } from '../../src/common/logger.js';
import { KeyedQueue } from '../../src/host/keyed-queue.js';
import { stageVmWrite, VmManager } from '../../src/managers/vms.js';
import { nowIso } from '../../src/model/index.js';
import { API_ACTOR, hostActor, SCHEDULER_ACTOR } from '../../src/model/vm-lifecycle.js';
import { Keys, Kinds } from '../../src/store/keys.js';
import { Store } from '../../src/store/store.js';
import { MiB } from '../helpers/cluster.js';
import { startTestEtcd, type TestEtcd } from '../helpers/etcd.js';

const image = { store: 'local', name: 'img' };
const codeOf = (p: Promise<unknown>) => p.then(() => 'OK', (e: UcloudError) => e.code);

// The state machine as the daemons meet it: VmManager writes checked against
// the table, on a real etcd, and a refused write inside the agent's queue.
describe('VM state machine on the write path (real etcd)', () => {
  let etcd: TestEtcd;
  let store: Store;
  let api: VmManager;
  let sched: VmManager;
  let h1: VmManager;

  beforeAll(async () => {
    etcd = await startTestEtcd();
    store = new Store(etcd.storeOptions('/vsm/'));
    api = new VmManager(store, { actor: API_ACTOR });
    sched = new VmManager(store, { actor: SCHEDULER_ACTOR });
    h1 = new VmManager(store, { actor: hostActor('h1') });
  });
  afterAll(async () => {
    store?.close();
    await etcd?.stop();
  });

  /** A VM running on h1, each step by its actor. */
  async function runningOnH1(name: string) {
    const vm = await api.create({ owner: 'alice', name, image, cpu: 1, ramBytes: 64 * MiB, diskBytes: 64 * MiB });
    expect(await sched.assign((await store.get(Kinds.vm, Keys.vm(vm.id)))!, 'h1', await store.get(Kinds.hostAlloc, Keys.hostAlloc('h1')))).toBe(true);
    await h1.observe(vm.id, (cur) => ({ ...cur, status: 'running', observedGeneration: cur.generation }));
    return (await store.get(Kinds.vm, Keys.vm(vm.id)))!;
  }

  it('a migrating VM: stop, delete and resize are refused with VM_MIGRATING and write nothing; start is a no-op', async () => {
    const running = await runningOnH1('moving');
    const now = nowIso();
    const migration = { id: randomUUID(), source: 'h1', destination: 'h2', phase: 'requested' as const, mode: 'shared' as const, requestedBy: 'alice', startedAt: now, updatedAt: now };
    expect(await stageVmWrite(store.txn(), running, { ...running.value, status: 'migrating', migration }, API_ACTOR).commit()).toBe(true);
    const before = (await store.get(Kinds.vm, Keys.vm(running.value.id)))!;
    expect(await codeOf(api.request(running.value.id, 'stopped'))).toBe('VM_MIGRATING');
    expect(await codeOf(api.request(running.value.id, 'deleted'))).toBe('VM_MIGRATING');
    expect(await codeOf(api.resize(running.value.id, { diskBytes: 128 * MiB }))).toBe('VM_MIGRATING');
    expect(await api.request(running.value.id, 'running')).toEqual(before.value);
    expect((await store.get(Kinds.vm, Keys.vm(running.value.id)))!.modRevision).toBe(before.modRevision);
    // Not even by writing the record directly: the API may only set the cancel flag.
    expect(() => stageVmWrite(store.txn(), before, { ...before.value, desired: 'stopped', generation: before.value.generation + 1 }, API_ACTOR)).toThrow(/VM_TRANSITION_REFUSED|refused for api/);
  });

  it('a host writing a VM it does not run is refused, nothing written; in the agent’s queue it is logged once, not retried', async () => {
    const running = await runningOnH1('elsewhere');
    const h2 = new VmManager(store, { actor: hostActor('h2') });
    expect(await codeOf(h2.observe(running.value.id, (cur) => ({ ...cur, status: 'stopped' })))).toBe('VM_TRANSITION_REFUSED');
    expect((await store.get(Kinds.vm, Keys.vm(running.value.id)))!.modRevision).toBe(running.modRevision);

    let runs = 0;
    const errors: unknown[] = [];
    const log = { ...silentLogger, error: (o: unknown) => errors.push(o) } as unknown as Logger;
    const queue = new KeyedQueue(async (id) => {
      runs++;
      await h2.observe(id, (cur) => ({ ...cur, status: 'stopped' }));
    }, log);
    queue.trigger(running.value.id);
    await queue.drain();
    expect(runs).toBe(1);
    expect(errors).toHaveLength(1);
    expect((errors[0] as { err: UcloudError }).err.code).toBe('VM_TRANSITION_REFUSED');
    expect((await store.get(Kinds.vm, Keys.vm(running.value.id)))!.modRevision).toBe(running.modRevision);
  });
});
