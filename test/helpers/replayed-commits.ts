import type { Store } from '../../src/store/store.js';
import { writeJournal } from '../../src/store/write-log.js';

/**
 * Makes every transaction of `store` commit twice and answer with the second
 * commit's outcome: what the etcd client does when etcd applied an attempt
 * whose answer was lost (a member died, a deadline passed) and it sends the
 * same request again (RetryWithin, src/store/store.ts). The second commit's
 * compares then fail on the first one's own writes. The first commit is kept
 * out of the process's write journal, as a commit whose answer never came is;
 * so, for that moment, is any other write of the process: use it one call at a time.
 */
export function replayCommits(store: Store): Store {
  const txn = store.txn.bind(store);
  store.txn = () => {
    const t = txn();
    const commit = t.commit.bind(t);
    t.commit = async (opts) => {
      const record = writeJournal.record;
      writeJournal.record = () => undefined;
      try {
        await commit();
      } finally {
        writeJournal.record = record;
      }
      return commit(opts);
    };
    return t;
  };
  return store;
}
