import type { Logger } from '../common/logger.js';
import type { WriteLog } from '../store/write-log.js';

/** How long a write's answer waits for the caches to show it before going out anyway. */
const WRITE_WAIT_MS = 5000;

interface Cache {
  /** A top-level prefix (`vm/`, checked by buildApi): a log keeps one revision per top-level prefix. */
  prefix: string;
  revision: string;
  waitFor(revision: bigint, timeoutMs: number): Promise<boolean>;
}

/**
 * Read-your-writes: waits until each cache has applied the last commit under
 * its prefix that the request's log saw (src/store/write-log.ts). On timeout
 * it logs and returns; the write itself is done either way.
 */
export async function waitForWrites(caches: readonly Cache[], writes: WriteLog, log: Logger, timeoutMs = WRITE_WAIT_MS): Promise<void> {
  if (writes.revisions.size === 0) return;
  await Promise.all(
    caches.map(async (c) => {
      const revision = writes.revisions.get(c.prefix);
      if (revision === undefined) return;
      if (!(await c.waitFor(revision, timeoutMs))) {
        log.warn({ prefix: c.prefix, revision: String(revision), cacheRevision: c.revision }, 'cache did not show a write in time; answering anyway');
      }
    }),
  );
}
