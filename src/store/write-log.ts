import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * What one unit of work (an API request) wrote to etcd: the highest revision
 * it committed and the keys. A cache that holds any of those keys waits until
 * it has applied that revision before the request is answered, so a client
 * that wrote through the API and then reads through it sees its own write.
 */
export interface WriteLog {
  revision: bigint;
  keys: Set<string>;
}

const als = new AsyncLocalStorage<WriteLog>();

export function newWriteLog(): WriteLog {
  return { revision: 0n, keys: new Set() };
}

/** Runs `fn` (and everything it starts) with `log` recording its writes. */
export function runWithWriteLog<T>(log: WriteLog, fn: () => T): T {
  return als.run(log, fn);
}

/** Called by the Store after a successful write; a no-op outside runWithWriteLog. */
export function recordWrite(revision: string, keys: Iterable<string>): void {
  const log = als.getStore();
  if (!log) return;
  const rev = BigInt(revision);
  if (rev > log.revision) log.revision = rev;
  for (const k of keys) log.keys.add(k);
}
