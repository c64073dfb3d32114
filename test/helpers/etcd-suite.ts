import { afterAll, beforeAll } from 'vitest';
import { Store } from '../../src/store/store.js';
import { startTestEtcd, type TestEtcd } from './etcd.js';

/**
 * One etcd for a describe block: started before its tests, stopped after them,
 * with Stores on prefixes of it (one prefix per test keeps tests apart), closed
 * first. A suite's own afterAll (registered later) runs before this one.
 */
export function etcdPerSuite(): { storeFor(prefix: string): Store; etcd(): TestEtcd } {
  let etcd: TestEtcd | undefined;
  const stores: Store[] = [];
  beforeAll(async () => {
    etcd = await startTestEtcd();
  });
  afterAll(async () => {
    for (const s of stores) s.close();
    await etcd?.stop();
  });
  return {
    etcd: () => etcd!,
    storeFor: (prefix) => {
      const s = new Store(etcd!.storeOptions(prefix));
      stores.push(s);
      return s;
    },
  };
}
