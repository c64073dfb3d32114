import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/common/logger.js';
import { startLocalEtcd, type LocalEtcd } from '../../src/store/local-etcd.js';
import { Informer } from '../../src/store/informer.js';
import { Keys, Kinds } from '../../src/store/keys.js';
import { Store } from '../../src/store/store.js';
import { until } from '../helpers/cluster.js';
import { startTestEtcd, type TestEtcd } from '../helpers/etcd.js';

const user = (name: string) => ({ name, role: 'user' as const, createdAt: new Date().toISOString() });

// etcd restarted under running daemons (what `ucloud up` does after etcd dies):
// etcd's simple auth tokens die with it, and etcd3's watch stream keeps the old one.
describe('informers across an etcd restart (real etcd with auth)', () => {
  let etcd: TestEtcd;
  let again: LocalEtcd | undefined;
  let store: Store;

  beforeAll(async () => {
    etcd = await startTestEtcd();
    store = new Store(etcd.storeOptions('/t/'));
  });
  afterAll(async () => {
    store.close();
    await again?.stop();
    rmSync(etcd.dir, { recursive: true, force: true });
  });

  it('every informer of a process keeps following its prefix after etcd is killed and started again', async () => {
    // Several informers on one Store, as in every daemon: one stalled watch must not hide the others' breakage.
    const informers = [new Informer(store, Kinds.user, 'user/', silentLogger), new Informer(store, Kinds.user, 'user/', silentLogger), new Informer(store, Kinds.host, 'host/', silentLogger)];
    for (const i of informers) await i.start();
    await store.put(Kinds.user, Keys.user('before'), user('before'));
    await until('seen before the restart', () => informers[0]!.get(Keys.user('before')) && informers[1]!.get(Keys.user('before')));

    etcd.process.kill('SIGKILL');
    await new Promise((r) => etcd.process.once('exit', r));
    again = await startLocalEtcd({ dataDir: etcd.dataDir, url: etcd.url, credentials: etcd.credentials });

    // Writes through the ordinary call path re-authenticate by themselves; watches must too.
    await until('a write after the restart', () => store.put(Kinds.user, Keys.user('after'), user('after')).then(() => true), 20_000);
    await store.put(Kinds.host, Keys.host('hv9'), { name: 'hv9', address: '::1', capacity: { cpu: 1, ramBytes: 1, diskBytes: 1 }, createdAt: new Date().toISOString() });
    await until('every informer saw the writes after the restart', () => informers[0]!.get(Keys.user('after')) && informers[1]!.get(Keys.user('after')) && informers[2]!.get(Keys.host('hv9')), 30_000);
    await store.delete(Keys.user('before'));
    await until('and deletes', () => informers.slice(0, 2).every((i) => !i.get(Keys.user('before'))), 10_000);
    expect(informers.map((i) => i.items.size)).toEqual([1, 1, 1]);
    for (const i of informers) await i.stop();
  });
});
