import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Keys, Kinds } from '../../src/store/keys.js';
import { Store } from '../../src/store/store.js';
import { startTestEtcd, type TestEtcd } from '../helpers/etcd.js';

const N = 6000;
// ~1.1 KiB per record: N of them are ~6.5 MB, past the etcd client's 4 MiB answer limit.
const key = (i: number) => ({
  owner: 'fleet',
  name: `k${String(i).padStart(5, '0')}`,
  type: 'ssh-ed25519',
  bits: 256,
  fingerprint: `SHA256:${i}`,
  publicKey: `ssh-ed25519 ${'A'.repeat(1000)} k${i}`,
  createdAt: new Date().toISOString(),
});

// The fleet-scale failure: one range over a whole prefix outgrew the client's
// answer limit, and the client's circuit breaker then failed every call.
describe('a prefix larger than one etcd answer (real etcd)', () => {
  let etcd: TestEtcd;
  let store: Store;

  beforeAll(async () => {
    etcd = await startTestEtcd();
    store = new Store(etcd.storeOptions('/big/'));
    for (let i = 0; i < N; i += 100) {
      const t = store.txn().absent(Keys.key('fleet', key(i).name));
      for (let j = i; j < Math.min(N, i + 100); j++) t.put(Kinds.sshKey, Keys.key('fleet', key(j).name), key(j));
      expect(await t.commit()).toBe(true);
    }
  });
  afterAll(async () => {
    store.close();
    await etcd.stop();
  });

  it('list reads it whole, in order, each record once', async () => {
    const { items, skipped } = await store.list(Kinds.sshKey, Keys.keysOf('fleet'));
    expect(skipped).toEqual([]);
    expect(items).toHaveLength(N);
    expect(items.map((i) => i.value.name)).toEqual(Array.from({ length: N }, (_, i) => key(i).name));
  });

  it('pages grow to what the records weigh: a few range reads, not one per 256 records', async () => {
    // etcd 3.4 walks its index over the whole rest of the prefix for every page, so their number is what costs.
    const ranges = vi.spyOn(store.ns, 'getAll');
    try {
      expect((await store.list(Kinds.sshKey, Keys.keysOf('fleet'))).items).toHaveLength(N);
      expect(ranges.mock.calls.length).toBeLessThanOrEqual(10);
    } finally {
      ranges.mockRestore();
    }
  });

  it('records far larger than those before them are read in smaller pages, not refused', async () => {
    // 100 small records, then 300 of 60 kB: 256 of them (the first page) are past the 4 MiB answer limit,
    // and so is any page sized by the small ones.
    const blob = (i: number) => ({ i, blob: i < 100 ? '' : 'x'.repeat(60_000) });
    for (let i = 0; i < 400; i += 20) {
      const t = store.txn().absent(`mixed/${String(i).padStart(4, '0')}`);
      for (let j = i; j < i + 20; j++) t.put(Kinds.meta, `mixed/${String(j).padStart(4, '0')}`, blob(j));
      expect(await t.commit()).toBe(true);
    }
    const { items } = await store.list(Kinds.meta, 'mixed/');
    expect(items.map((r) => r.value.i)).toEqual(Array.from({ length: 400 }, (_, i) => i));
  });

  it('an oversized answer fails that call alone: every other call goes on working', async () => {
    // The one-range read `list` used to make; the client refuses the answer.
    for (let i = 0; i < 5; i++) {
      await expect(store.ns.getAll().prefix(Keys.keysOf('fleet')).exec()).rejects.toThrow(/RESOURCE_EXHAUSTED|exhausted|larger than max/i);
      // Straight after each failure (the default client's breaker opened after three): unrelated reads and writes.
      expect((await store.get(Kinds.sshKey, Keys.key('fleet', 'k00042')))?.value.name).toBe('k00042');
      await store.put(Kinds.user, Keys.user(`u${i}`), { name: `u${i}`, role: 'user', createdAt: new Date().toISOString() });
    }
    expect((await store.list(Kinds.user, 'user/')).items).toHaveLength(5);
  });

  it('a list that runs while records change is one snapshot: exactly what was there at its revision', async () => {
    const writes = (async () => {
      for (let i = 0; i < 200; i++) await store.delete(Keys.key('fleet', key(i * 7).name));
    })();
    const [listed] = await Promise.all([store.list(Kinds.sshKey, Keys.keysOf('fleet')), writes]);
    expect(listed.items.every((i) => BigInt(i.modRevision) <= BigInt(listed.revision))).toBe(true);
    const thenCount = await store.ns.getAll().prefix(Keys.keysOf('fleet')).revision(listed.revision).count();
    expect(listed.items).toHaveLength(thenCount);
    expect((await store.list(Kinds.sshKey, Keys.keysOf('fleet'))).items).toHaveLength(N - 200);
  });
});
