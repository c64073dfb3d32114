import { randomUUID } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { backfillImageIndex, imageIndexComplete } from '../../src/managers/image-vm-index.js';
import { ImageManager } from '../../src/managers/images.js';
import { HostManager } from '../../src/managers/hosts.js';
import { VmManager } from '../../src/managers/vms.js';
import { nowIso, type Image, type User, type Vm } from '../../src/model/index.js';
import { API_ACTOR, hostActor, SCHEDULER_ACTOR } from '../../src/model/vm-lifecycle.js';
import { Keys, Kinds } from '../../src/store/keys.js';
import { Store } from '../../src/store/store.js';
import { MiB } from '../helpers/cluster.js';
import { etcdPerSuite } from '../helpers/etcd-suite.js';

// The image index: `image-vm/<owner|store>/…/<vm id>` is written and deleted with
// `vm/<id>`, so an image delete asks one small prefix instead of reading every VM.

const capacity = { cpu: 64, ramBytes: 1024 * 1024 * MiB, diskBytes: 1024 * 1024 * MiB };
const admin: User = { name: 'root', role: 'admin', createdAt: nowIso() };
const size = { cpu: 1, ramBytes: 64 * MiB, diskBytes: 64 * MiB };

function imageRecord(owner: string, name: string): Image {
  const now = nowIso();
  return { name, store: 'local', owner, public: true, status: 'ready', volume: { ref: `${owner}.${name}`, format: 'qcow2', virtualSize: 64 * MiB }, createdAt: now, updatedAt: now };
}

/** A VM record as a ucloud from before the index wrote it: no entry. */
function oldVm(owner: string, name: string, image: Vm['image']): Vm {
  const now = nowIso();
  return { id: randomUUID(), owner, name, image, ...size, desired: 'running', generation: 1, observedGeneration: 0, status: 'pending', disks: [], createdAt: now, updatedAt: now };
}

/** The prefixes `store.list` was asked for while `fn` ran. */
async function prefixesListed(store: Store, fn: () => Promise<unknown>): Promise<string[]> {
  const spy = vi.spyOn(store, 'list');
  try {
    await fn();
    return spy.mock.calls.map((c) => c[1]);
  } finally {
    spy.mockRestore();
  }
}

describe('image index (real etcd)', () => {
  const { storeFor } = etcdPerSuite();

  /** Every entry of the index, as key → value. */
  const entries = async (store: Store) => Object.fromEntries((await store.list(Kinds.imageVm, Keys.imageVmIndex())).items.map((i) => [i.key, i.value]));

  /** The entries every VM record calls for, and nothing else. */
  async function expected(store: Store) {
    const vms = (await store.list(Kinds.vm, Keys.vms())).items.map((i) => i.value);
    return Object.fromEntries(vms.map((v) => [Keys.imageVm(v.image, v.id), { owner: v.owner, name: v.name }]));
  }

  it('a VM has its entry from its create to its delete, through placement and every update; an image delete reads only its own entries', async () => {
    const store = storeFor('/ivi-a/');
    await store.put(Kinds.image, Keys.image('alice', 'deb'), imageRecord('alice', 'deb'));
    await store.put(Kinds.image, Keys.image('alice', 'alp'), imageRecord('alice', 'alp'));
    await new HostManager(store).add('h1', '::1', capacity);
    await backfillImageIndex(store); // an empty cluster: nothing to write, the marker
    expect(await imageIndexComplete(store)).toBe(true);
    const vms = new VmManager(store, { actor: API_ACTOR });
    const sched = new VmManager(store, { actor: SCHEDULER_ACTOR });
    const h1 = new VmManager(store, { actor: hostActor('h1') });
    const images = new ImageManager(store);
    const deb = { store: 'local', owner: 'alice', name: 'deb' };

    const a = await vms.create({ owner: 'alice', name: 'a', image: deb, ...size });
    const b = await vms.create({ owner: 'bob', name: 'b', image: deb, ...size });
    const c = await vms.create({ owner: 'bob', name: 'c', image: { store: 'local', owner: 'alice', name: 'alp' }, ...size });
    expect(await entries(store)).toEqual({
      [`image-vm/owner/alice/deb/${a.id}`]: { owner: 'alice', name: 'a' },
      [`image-vm/owner/alice/deb/${b.id}`]: { owner: 'bob', name: 'b' },
      [`image-vm/owner/alice/alp/${c.id}`]: { owner: 'bob', name: 'c' },
    });

    expect(await sched.assign((await store.get(Kinds.vm, Keys.vm(a.id)))!, 'h1', undefined)).toBe(true);
    await h1.observe(a.id, (cur) => ({ ...cur, status: 'running', observedGeneration: cur.generation }));
    await vms.request(a.id, 'stopped');
    expect(await entries(store)).toEqual(await expected(store));

    const deletes = await prefixesListed(store, async () => {
      await expect(images.requestDelete(imageRecord('alice', 'deb'), admin)).rejects.toMatchObject({ code: 'IMAGE_IN_USE', message: expect.stringMatching(/used by 2 VM\(s\): (alice\/a, bob\/b|bob\/b, alice\/a)$/) });
    });
    expect(deletes).not.toContain(Keys.vms());
    expect(deletes.sort()).toEqual([Keys.imageVms({ store: 'local', name: 'deb' }), Keys.imageVms(deb)].sort());

    // Deleted: a never-placed VM at once by the API, a placed one by its host.
    await vms.request(b.id, 'deleted');
    await vms.request(a.id, 'deleted');
    await h1.observe(a.id, (cur) => ({ ...cur, status: 'deleting' }));
    await h1.finalizeDelete(a.id);
    expect(await store.get(Kinds.vm, Keys.vm(a.id))).toBeUndefined();
    expect(await store.get(Kinds.vm, Keys.vm(b.id))).toBeUndefined();
    expect(Object.keys(await entries(store))).toEqual([`image-vm/owner/alice/alp/${c.id}`]);
    expect(await images.users(deb)).toEqual([]);
  });

  it('the backfill indexes a cluster from before the index, beside creates and deletes, and until it ran a delete reads every VM', async () => {
    const store = storeFor('/ivi-b/');
    await store.put(Kinds.image, Keys.image('admin', 'base'), imageRecord('admin', 'base'));
    const images = new ImageManager(store);
    const base = { store: 'local', owner: 'admin', name: 'base' };
    const legacy = { store: 'local', name: 'base' }; // a reference from before images had owners
    const old = Array.from({ length: 300 }, (_, i) => oldVm(`u${i % 7}`, `old${i}`, i % 3 ? base : legacy));
    for (let i = 0; i < old.length; i += 50) {
      const t = store.txn();
      for (const vm of old.slice(i, i + 50)) t.absent(Keys.vm(vm.id)).put(Kinds.vm, Keys.vm(vm.id), vm).put(Kinds.vmName, Keys.vmName(vm.owner, vm.name), { id: vm.id });
      expect(await t.commit()).toBe(true);
    }
    // A stale entry, for a VM that is gone.
    const gone = randomUUID();
    await store.put(Kinds.imageVm, Keys.imageVm(base, gone), { owner: 'u1', name: 'gone' });

    // No marker yet: the index is not trusted, every VM is read.
    expect(await imageIndexComplete(store)).toBe(false);
    const before = await prefixesListed(store, async () => expect(await images.users(base)).toHaveLength(300));
    expect(before).toContain(Keys.vms());

    // The backfill races a create and delete of its own VMs.
    const vms = new VmManager(store, { actor: API_ACTOR });
    const [filled, created] = await Promise.all([
      backfillImageIndex(store),
      (async () => {
        const made: Vm[] = [];
        for (let i = 0; i < 20; i++) {
          made.push(await vms.create({ owner: 'u9', name: `new${i}`, image: base, ...size }));
          await vms.request(old[i]!.id, 'deleted');
        }
        return made;
      })(),
    ]);
    expect(filled.written).toBeGreaterThanOrEqual(280);
    expect(filled.written).toBeLessThanOrEqual(300);
    expect(filled.removed).toBe(1);
    expect(await imageIndexComplete(store)).toBe(true);
    expect(await entries(store)).toEqual(await expected(store));

    const after = await prefixesListed(store, async () => {
      const users = await images.users(base);
      expect(users).toHaveLength(280 + created.length);
      expect(users).toContainEqual({ owner: 'u9', name: 'new19' });
      expect(users).toContainEqual({ owner: old[299]!.owner, name: 'old299' });
    });
    expect(after).not.toContain(Keys.vms());

    // Run again (a second scheduler, a restart): nothing to do.
    expect(await backfillImageIndex(store)).toEqual({ written: 0, removed: 0 });
  });

  it('after the marker, an older writer (a rolling upgrade) cannot make an image lose its bytes under a VM, nor stick it in use', async () => {
    const store = storeFor('/ivi-c/');
    await store.put(Kinds.image, Keys.image('admin', 'base'), imageRecord('admin', 'base'));
    await backfillImageIndex(store);
    const images = new ImageManager(store);
    const vms = new VmManager(store, { actor: API_ACTOR });
    const base = { store: 'local', owner: 'admin', name: 'base' };

    // An older API deletes a VM (no entry removed) and makes one (no entry written).
    const a = await vms.create({ owner: 'u1', name: 'a', image: base, ...size });
    await store.txn().present(Keys.vm(a.id)).delete(Keys.vm(a.id)).delete(Keys.vmName('u1', 'a')).commit();
    const old = oldVm('u2', 'b', base);
    await store.create(Kinds.vm, Keys.vm(old.id), old);

    // The request's look: the gone VM's entry is dropped, not counted (the delete is not stuck on it) …
    expect(await images.users(base)).toEqual([]);
    expect(await store.get(Kinds.imageVm, Keys.imageVm(base, a.id))).toBeUndefined();
    // … and an entry whose VM is there, though unreadable, still counts.
    const c = await vms.create({ owner: 'u3', name: 'c', image: base, ...size });
    await store.ns.put(Keys.vm(c.id)).value('{"not":"a vm"}');
    expect(await images.users(base)).toEqual([{ owner: 'u3', name: 'c' }]);
    await store.ns.put(Keys.vm(c.id)).value(JSON.stringify(c));

    // The imagescanner's look before removing the bytes reads every record: the older writer's VM is found, and indexed.
    expect(await images.usersFromRecords(base)).toEqual(expect.arrayContaining([{ owner: 'u2', name: 'b' }, { owner: 'u3', name: 'c' }]));
    expect(await store.get(Kinds.imageVm, Keys.imageVm(base, old.id))).toMatchObject({ value: { owner: 'u2', name: 'b' } });
    expect(await images.users(base)).toEqual(expect.arrayContaining([{ owner: 'u2', name: 'b' }, { owner: 'u3', name: 'c' }]));
  });

  it("image deletes waiting at once share one read of every VM, each answered with its own image's VMs", async () => {
    const store = storeFor('/ivi-d/');
    const names = ['i0', 'i1', 'i2', 'i3', 'i4', 'i5'];
    for (const n of names) await store.put(Kinds.image, Keys.image('u1', n), imageRecord('u1', n));
    const refs = names.map((name) => ({ store: 'local', owner: 'u1', name }));
    // Older records (no entries): one VM on each image but the last, two on the first.
    const made = [oldVm('u1', 'a', refs[0]!), oldVm('u2', 'b', refs[0]!), ...refs.slice(1, -1).map((r, i) => oldVm('u3', `c${i}`, r))];
    for (const v of made) await store.create(Kinds.vm, Keys.vm(v.id), v);
    const images = new ImageManager(store);
    let answers: { owner: string; name: string }[][] = [];
    const listed = await prefixesListed(store, async () => {
      answers = await Promise.all(refs.map((r) => images.usersFromRecords(r)));
    });
    // Asked together (before a read began): one read answers all six (test/unit/shared-run.test.ts: asks during a read share the next).
    expect(listed.filter((p) => p === Keys.vms())).toHaveLength(1);
    expect(answers.map((a) => a.map((u) => u.name).sort())).toEqual([['a', 'b'], ['c0'], ['c1'], ['c2'], ['c3'], []]);
    // Each VM found was indexed.
    expect(await entries(store)).toEqual(await expected(store));
  });
});
