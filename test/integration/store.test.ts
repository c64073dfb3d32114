import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/common/logger.js';
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
    store = new Store({ endpoints: [etcd.url], prefix: '/t/' });
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
    const internals = inf as unknown as { watcher: { cancel(): Promise<void> }; revision: string; watch(): Promise<void> };
    const resumeFrom = internals.revision;
    await internals.watcher.cancel();
    await store.put(Kinds.user, Keys.user('carol'), user('carol'));
    await store.delete(Keys.user('ann'));
    const head = (await store.list(Kinds.user, 'user/')).revision;
    await store.client.kv.compact({ revision: head, physical: true } as never);
    internals.revision = resumeFrom;
    await internals.watch(); // etcd cancels it (compacted): the informer must re-list
    await until('carol seen after re-list', () => inf.get(Keys.user('carol')));
    await until('ann gone after re-list', () => !inf.get(Keys.user('ann')));
    expect(changes).toEqual(expect.arrayContaining([Keys.user('carol'), Keys.user('ann')]));
    // and it watches again afterwards
    await store.put(Kinds.user, Keys.user('dave'), user('dave'));
    await until('dave seen on the new watch', () => inf.get(Keys.user('dave')));
    await inf.stop();
  });
});
