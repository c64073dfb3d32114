/**
 * What was written to etcd while one unit of work (an API request that
 * writes) was open, per top-level prefix (`vm/`, `quota/`, …): the highest
 * revision committed there. A cache follows one such prefix and waits for that
 * prefix's revision before the request is answered, so a client that wrote
 * through the API and then reads through it sees its own write. Per prefix,
 * not one maximum: a cache only advances on events under its own prefix, so a
 * later write elsewhere (an audit event, another request's write) is a
 * revision it would never reach.
 *
 * A log collects every write the process commits while it is open, through
 * any Store (a test's API may write through another Store on the same etcd
 * than the one its caches follow): its own request's and those of requests
 * beside it (committed under the prefix the cache follows, so the cache gets
 * there). Not an AsyncLocalStorage: on Node 20 one turns on async hooks for
 * every promise of the process for as long as it exists, which cost each read
 * of the API about 15 % once the first write had run (bench/scale).
 */
export interface WriteLog {
  /** Top-level prefix (with its "/") → the highest revision committed under it. */
  readonly revisions: Map<string, bigint>;
}

/** The top-level prefix of a key or prefix: `vm/` of `vm/abc`, `vm-name/` of `vm-name/alice/web`. */
export function topLevelPrefix(key: string): string {
  const i = key.indexOf('/');
  return i < 0 ? key : key.slice(0, i + 1);
}

/** Open write logs; the process has one (`writeJournal`), tests make their own. */
export class WriteJournal {
  private readonly logs = new Set<WriteLog>();

  /** A log that records every write committed from now until `close`. */
  open(): WriteLog {
    const log: WriteLog = { revisions: new Map() };
    this.logs.add(log);
    return log;
  }

  /** Stops recording into `log` (idempotent); what it holds stays readable. */
  close(log: WriteLog): void {
    this.logs.delete(log);
  }

  /** Called by a Store after each successful write; a no-op while no log is open. */
  record(revision: string, keys: Iterable<string>): void {
    if (this.logs.size === 0) return;
    const rev = BigInt(revision);
    const prefixes = new Set<string>();
    for (const k of keys) prefixes.add(topLevelPrefix(k));
    for (const log of this.logs) {
      for (const p of prefixes) {
        if ((log.revisions.get(p) ?? 0n) < rev) log.revisions.set(p, rev);
      }
    }
  }
}

/** The process's journal: every Store records into it, the API opens its requests' logs on it. */
export const writeJournal = new WriteJournal();
