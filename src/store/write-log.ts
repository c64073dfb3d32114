/**
 * What one unit of work (an API request) wrote to etcd: the highest revision
 * committed while it was open and the keys. A cache that holds any of those
 * keys waits until it has applied that revision before the request is
 * answered, so a client that wrote through the API and then reads through it
 * sees its own write.
 *
 * A log collects every write this process commits while it is open — its
 * own and those of requests running beside it, which only makes its wait cover
 * a little more (they are committed, so the caches get there). Not an
 * AsyncLocalStorage: on Node 20 one turns on async hooks for every promise of
 * the process for as long as it exists, which cost each read of the API about
 * 15 % once the first write had run (bench/scale).
 */
export interface WriteLog {
  revision: bigint;
  keys: Set<string>;
  /** More keys were written than a log keeps: every cache waits for `revision`. */
  overflowed: boolean;
}

/** Keys a log keeps before it stands for "everything" (a long request beside a busy API). */
export const WRITE_LOG_MAX_KEYS = 4096;

const open = new Set<WriteLog>();

/** A log that records every write committed from now until `closeWriteLog`. */
export function openWriteLog(): WriteLog {
  const log: WriteLog = { revision: 0n, keys: new Set(), overflowed: false };
  open.add(log);
  return log;
}

/** Stops recording into `log` (idempotent); what it holds stays readable. */
export function closeWriteLog(log: WriteLog): void {
  open.delete(log);
}

/** Called by the Store after a successful write; a no-op while no log is open. */
export function recordWrite(revision: string, keys: Iterable<string>): void {
  if (open.size === 0) return;
  const rev = BigInt(revision);
  for (const log of open) {
    if (rev > log.revision) log.revision = rev;
    if (log.overflowed) continue;
    for (const k of keys) log.keys.add(k);
    if (log.keys.size > WRITE_LOG_MAX_KEYS) {
      log.overflowed = true;
      log.keys.clear();
    }
  }
}
