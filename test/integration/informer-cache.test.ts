import { rmSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/common/logger.js';
import { Informer } from '../../src/store/informer.js';
import { Keys, Kinds } from '../../src/store/keys.js';
import { Store } from '../../src/store/store.js';
import { waitForWrites } from '../../src/api/read-your-writes.js';
import { writeJournal } from '../../src/store/write-log.js';
import { until } from '../helpers/cluster.js';
import { startTestEtcd, type TestEtcd } from '../helpers/etcd.js';
import { freePort } from '../helpers/ports.js';

const user = (name: string, role: 'user' | 'admin' = 'user') => ({ name, role, createdAt: new Date().toISOString() });

/** An informer on user/ (started), and a logger that keeps what was warned: a read-your-writes wait that timed out. */
async function userCacheAndWarnings(store: Store) {
  const inf = new Informer(store, Kinds.user, 'user/', silentLogger);
  await inf.start();
  const warned: unknown[] = [];
  const log = { ...silentLogger, warn: (...a: unknown[]) => void warned.push(a) } as unknown as typeof silentLogger;
  return { inf, log, warned };
}

/** A TCP relay that can be cut and restored: a network partition between one client and etcd. */
async function relay(target: URL): Promise<{ url: string; cut(): void; restore(): void; close(): void }> {
  const sockets = new Set<Socket>();
  let open = true;
  const server: Server = createServer((client) => {
    if (!open) return client.destroy();
    const upstream = connect(Number(target.port), target.hostname);
    sockets.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
  });
  const port = await freePort('127.0.0.1');
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${port}`,
    cut: () => {
      open = false;
      for (const s of sockets) s.destroy();
    },
    restore: () => {
      open = true;
    },
    close: () => {
      open = false;
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

describe('informer as a cache (real etcd)', () => {
  let etcd: TestEtcd;
  let store: Store;

  beforeAll(async () => {
    etcd = await startTestEtcd();
    store = new Store(etcd.storeOptions('/ic/'));
  });
  afterAll(async () => {
    store.close();
    await etcd.stop();
    rmSync(etcd.dir, { recursive: true, force: true });
  });

  it('keeps its indexes as records are written, changed and deleted', async () => {
    const inf = new Informer(store, Kinds.user, 'user/', silentLogger, { indexes: { role: (u) => u.role, admin: (u) => (u.role === 'admin' ? 'yes' : undefined) } });
    await inf.start();
    await store.put(Kinds.user, Keys.user('a'), user('a'));
    await store.put(Kinds.user, Keys.user('b'), user('b', 'admin'));
    await until('both seen', () => inf.items.size === 2);
    expect(inf.byIndex('role', 'user').map((i) => i.value.name)).toEqual(['a']);
    expect(inf.byIndex('admin', 'yes').map((i) => i.value.name)).toEqual(['b']);
    await store.put(Kinds.user, Keys.user('a'), user('a', 'admin'));
    await until('a promoted', () => inf.byIndex('role', 'admin').length === 2);
    expect(inf.byIndex('role', 'user')).toEqual([]);
    expect(inf.byIndex('admin', 'yes').map((i) => i.value.name).sort()).toEqual(['a', 'b']);
    await store.delete(Keys.user('b'));
    await until('b gone', () => inf.byIndex('admin', 'yes').length === 1);
    expect(inf.byIndex('role', 'admin').map((i) => i.value.name)).toEqual(['a']);
    expect(() => inf.byIndex('nope', 'x')).toThrow(/no index/);
    await inf.stop();
  });

  it('waitFor(the revision of a write) means the write is in the cache: read-your-writes', async () => {
    const inf = new Informer(store, Kinds.user, 'user/', silentLogger);
    await inf.start();
    for (let i = 0; i < 50; i++) {
      const log = writeJournal.open();
      await store.txn().absent(Keys.user(`ryw${i}`)).put(Kinds.user, Keys.user(`ryw${i}`), user(`ryw${i}`)).commit();
      writeJournal.close(log);
      const revision = log.revisions.get('user/')!;
      // Checked synchronously after the wait: no later event could have helped.
      expect(await inf.waitFor(revision)).toBe(true);
      expect(inf.get(Keys.user(`ryw${i}`))?.value.name).toBe(`ryw${i}`);
      const del = writeJournal.open();
      await store.delete(Keys.user(`ryw${i}`));
      writeJournal.close(del);
      expect(await inf.waitFor(del.revisions.get('user/')!)).toBe(true);
      expect(inf.get(Keys.user(`ryw${i}`))).toBeUndefined();
    }
    // A revision that does not exist yet is not reached: false when the time is up, not an exception.
    expect(await inf.waitFor(BigInt(inf.revision) + 1000n, 200)).toBe(false);
    await inf.stop();
  });

  it('a write elsewhere after the request\'s own (its audit event) does not hold the answer: the cache waits for its prefix\'s revision', async () => {
    const { inf, log, warned } = await userCacheAndWarnings(store);
    for (let i = 0; i < 5; i++) {
      const w = writeJournal.open();
      await store.put(Kinds.user, Keys.user(`aud${i}`), user(`aud${i}`));
      // Under a prefix no informer follows, at a higher revision: a cache waiting for it would time out.
      await store.put(Kinds.user, `audit-elsewhere/aud${i}`, user(`aud${i}`));
      writeJournal.close(w);
      await waitForWrites([inf], w, log, 3000);
      expect(inf.get(Keys.user(`aud${i}`))?.value.name).toBe(`aud${i}`);
    }
    expect(warned).toEqual([]);
    await inf.stop();
  });

  it('deleting a key that is already gone is not waited for: it makes no event, and the answer would time out', async () => {
    const { inf, log, warned } = await userCacheAndWarnings(store);
    const w = writeJournal.open();
    // As a user's delete stages their quota override whether or not there is one.
    expect(await store.txn().absent('gone-test/a').put(Kinds.user, 'gone-test/a', user('a')).delete(Keys.user('never-was')).commit()).toBe(true);
    await store.delete(Keys.user('never-was-either'));
    writeJournal.close(w);
    expect(w.revisions.has('user/')).toBe(false);
    await waitForWrites([inf], w, log, 3000);
    expect(warned).toEqual([]);
    // A delete that removes something is still waited for, and seen.
    await store.put(Kinds.user, Keys.user('was'), user('was'));
    await until('was seen', () => inf.get(Keys.user('was')) !== undefined);
    const d = writeJournal.open();
    await store.txn().present(Keys.user('was')).delete(Keys.user('was')).delete(Keys.user('never-was')).commit();
    writeJournal.close(d);
    expect(d.revisions.has('user/')).toBe(true);
    await waitForWrites([inf], d, log, 3000);
    expect(inf.get(Keys.user('was'))).toBeUndefined();
    expect(warned).toEqual([]);
    await inf.stop();
  });

  it('a watch cut off while etcd compacts past it re-lists, and serves neither deleted nor stale records', async () => {
    const r = await relay(new URL(etcd.url));
    const far = new Store({ ...etcd.storeOptions('/ic/'), endpoints: [r.url] });
    const inf = new Informer(far, Kinds.user, 'part/', silentLogger);
    try {
      await far.put(Kinds.user, 'part/keep', user('keep'));
      await far.put(Kinds.user, 'part/gone', user('gone'));
      await inf.start();
      await until('synced', () => inf.items.size === 2);
      const changed: string[] = [];
      inf.on('change', (k) => changed.push(k));

      r.cut();
      await store.delete('part/gone');
      await store.put(Kinds.user, 'part/keep', user('keep', 'admin'));
      await store.put(Kinds.user, 'part/new', user('new'));
      // Compact to now: the revisions the cut-off watch would resume from are gone.
      const head = (await store.ns.get('part/new').exec()).header.revision;
      await store.ns.kv.compact({ revision: head, physical: true });
      r.restore();

      await until('re-listed after the compaction', () => inf.items.size === 2 && inf.get('part/new') !== undefined, 30_000);
      expect(inf.get('part/gone')).toBeUndefined();
      expect(inf.get('part/keep')?.value.role).toBe('admin');
      expect(new Set(changed)).toEqual(new Set(['part/gone', 'part/keep', 'part/new']));
      // And it follows the prefix again afterwards.
      await store.put(Kinds.user, 'part/later', user('later'));
      await until('a write after the re-list', () => inf.get('part/later') !== undefined, 10_000);
    } finally {
      await inf.stop();
      far.close();
      r.close();
    }
  });
});
