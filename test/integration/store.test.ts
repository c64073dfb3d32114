import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger, type Logger } from '../../src/common/logger.js';
import { Informer } from '../../src/store/informer.js';
import { Keys, Kinds } from '../../src/store/keys.js';
import { Store } from '../../src/store/store.js';
import { until } from '../helpers/cluster.js';
import { startTestEtcd } from '../helpers/etcd.js';

const user = (name: string) => ({ name, role: 'user' as const, createdAt: new Date().toISOString() });

describe('etcd store (real etcd)', () => {
  let etcd: Awaited<ReturnType<typeof startTestEtcd>>;
  let store: Store;

  beforeAll(async () => {
    etcd = await startTestEtcd();
    store = new Store(etcd.storeOptions('/t/'));
  });
  afterAll(async () => {
    store.close();
    await etcd.stop();
  });

  it('compare-and-swap updates lose no write under contention', async () => {
    const key = Keys.meta('counter');
    await Promise.all(
      Array.from({ length: 20 }, () =>
        store.update(Kinds.meta, key, (cur) => ({ n: ((cur?.n as number | undefined) ?? 0) + 1 }), { attempts: 100 }),
      ),
    );
    expect((await store.get(Kinds.meta, key))?.value.n).toBe(20);
  });

  it('create refuses an existing key', async () => {
    expect(await store.create(Kinds.user, Keys.user('ann'), user('ann'))).toBe(true);
    expect(await store.create(Kinds.user, Keys.user('ann'), user('ann'))).toBe(false);
  });

  it('a transaction without a compare is refused with a catalogue code, and writes nothing', async () => {
    await expect(store.txn().put(Kinds.user, Keys.user('nocmp'), user('nocmp')).commit()).rejects.toMatchObject({ code: 'INTERNAL' });
    expect(await store.get(Kinds.user, Keys.user('nocmp'))).toBeUndefined();
  });

  it('validates records on write and on read', async () => {
    await expect(store.put(Kinds.user, Keys.user('bad'), { name: 'bad', role: 'root' } as never)).rejects.toMatchObject({ code: 'INTERNAL' });
    expect(await store.get(Kinds.user, Keys.user('bad'))).toBeUndefined();
    await store.ns.put(Keys.user('corrupt')).value('{"name": 42}');
    await expect(store.get(Kinds.user, Keys.user('corrupt'))).rejects.toThrow(/corrupt user record/);
    await store.delete(Keys.user('corrupt'));
  });

  it('a leased key vanishes when its lease ends', async () => {
    const lease = store.lease(1000);
    await store.put(Kinds.hostAlive, Keys.hostAlive('h1'), { name: 'h1', pid: 1, accel: 'tcg', since: new Date().toISOString() }, lease);
    expect(await store.get(Kinds.hostAlive, Keys.hostAlive('h1'))).toBeDefined();
    await lease.revoke();
    expect(await store.get(Kinds.hostAlive, Keys.hostAlive('h1'))).toBeUndefined();
  });

  it('an informer follows puts and deletes', async () => {
    const inf = new Informer(store, Kinds.user, 'user/', silentLogger);
    await inf.start();
    await store.put(Kinds.user, Keys.user('bob'), user('bob'));
    await until('bob seen', () => inf.get(Keys.user('bob')));
    await store.delete(Keys.user('bob'));
    await until('bob gone', () => !inf.get(Keys.user('bob')));
    await inf.stop();
  });

  it('an informer whose revision was compacted away re-lists and misses nothing', async () => {
    const inf = new Informer(store, Kinds.user, 'user/', silentLogger);
    await inf.start();
    const changes: string[] = [];
    inf.on('change', (k) => changes.push(k));
    // Cut the watch, change things, and compact the history it would resume from.
    const internals = inf as unknown as { watcher: { watcher: { cancel(): Promise<void> }; close(): void }; watch(revision: string): Promise<void> };
    const resumeFrom = inf.revision;
    await internals.watcher.watcher.cancel();
    internals.watcher.close();
    await store.put(Kinds.user, Keys.user('carol'), user('carol'));
    await store.delete(Keys.user('ann'));
    const head = (await store.list(Kinds.user, 'user/')).revision;
    await store.client.kv.compact({ revision: head, physical: true } as never);
    await internals.watch(resumeFrom); // etcd cancels it (compacted): the informer must re-list
    await until('carol seen after re-list', () => inf.get(Keys.user('carol')));
    await until('ann gone after re-list', () => !inf.get(Keys.user('ann')));
    expect(changes).toEqual(expect.arrayContaining([Keys.user('carol'), Keys.user('ann')]));
    // and it watches again afterwards
    await store.put(Kinds.user, Keys.user('dave'), user('dave'));
    await until('dave seen on the new watch', () => inf.get(Keys.user('dave')));
    await inf.stop();
  });
  describe('records that fail their schema', () => {
    const logged: { key: string; modRevision: string }[] = [];
    const log = { error: (o: { key: string; modRevision: string }) => logged.push(o) } as unknown as Logger;
    let s: Store;
    beforeAll(() => {
      s = new Store({ ...etcd.storeOptions('/bad/'), log });
    });
    afterAll(() => s.close());

    it('are skipped by list (named in `skipped`) and logged once per key and revision, not on every list', async () => {
      await s.put(Kinds.user, Keys.user('ann'), user('ann'));
      await s.ns.put(Keys.user('broken')).value('{"name": 42}');
      await s.ns.put(Keys.user('garbage')).value('not json at all');
      await s.put(Kinds.user, Keys.user('zed'), user('zed'));
      for (let i = 0; i < 3; i++) {
        const res = await s.list(Kinds.user, Keys.users());
        expect(res.items.map((x) => x.value.name)).toEqual(['ann', 'zed']);
        expect(res.skipped.sort()).toEqual([Keys.user('broken'), Keys.user('garbage')]);
      }
      expect(logged.map((l) => l.key).sort()).toEqual([Keys.user('broken'), Keys.user('garbage')]);
      // a new revision of a bad record is news: logged once more
      await s.ns.put(Keys.user('broken')).value('{"name": 43}');
      await s.list(Kinds.user, Keys.users());
      await s.list(Kinds.user, Keys.users());
      expect(logged.filter((l) => l.key === Keys.user('broken'))).toHaveLength(2);
      await s.delete(Keys.user('garbage'));
    });

    it('never stall an informer: it starts, keeps watching, and keeps the last good value of a record that goes bad', async () => {
      const inf = new Informer(s, Kinds.user, Keys.users(), silentLogger);
      // Before: list threw on the bad record and start() retried for ever.
      await Promise.race([inf.start(), new Promise((_, reject) => setTimeout(() => reject(new Error('informer did not start past a bad record')), 10_000))]);
      expect(inf.unreadable.has(Keys.user('broken'))).toBe(true);
      expect(inf.get(Keys.user('ann'))?.value.name).toBe('ann');

      const ann = inf.get(Keys.user('ann'))!;
      await s.ns.put(Keys.user('ann')).value('{"name": "ann", "role": "root"}');
      // The next good write is the event that shows the watch went past the bad one.
      await s.put(Kinds.user, Keys.user('bea'), user('bea'));
      await until('bea seen after a bad write', () => inf.get(Keys.user('bea')));
      expect(inf.get(Keys.user('ann'))).toEqual(ann);
      expect(inf.unreadable.has(Keys.user('ann'))).toBe(true);

      // A re-list (as after a compaction) keeps it too: a corrupt record is not a deleted one.
      const internals = inf as unknown as { watcher: { watcher: { cancel(): Promise<void> }; close(): void }; relist(): Promise<void> };
      await internals.watcher.watcher.cancel();
      internals.watcher.close();
      await internals.relist();
      expect(inf.get(Keys.user('ann'))).toEqual(ann);

      await s.put(Kinds.user, Keys.user('ann'), { ...user('ann'), role: 'admin' });
      await until('ann readable again', () => inf.get(Keys.user('ann'))?.value.role === 'admin');
      expect(inf.unreadable.has(Keys.user('ann'))).toBe(false);
      await s.delete(Keys.user('broken'));
      await until('broken gone', () => !inf.unreadable.has(Keys.user('broken')));
      await inf.stop();
    });
  });
});
