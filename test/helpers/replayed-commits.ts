import type { Store } from '../../src/store/store.js';

/**
 * Makes every transaction of `store` commit twice and answer with the second
 * commit's outcome: what the etcd client does when etcd applied an attempt
 * whose answer was lost (a member died, a deadline passed) and it sends the
 * same request again (RetryWithin, src/store/store.ts). The second commit's
 * compares then fail on the first one's own writes.
 */
export function replayCommits(store: Store): Store {
  const txn = store.txn.bind(store);
  store.txn = () => {
    const t = txn();
    const commit = t.commit.bind(t);
    t.commit = async () => {
      await commit();
      return commit();
    };
    return t;
  };
  return store;
}
