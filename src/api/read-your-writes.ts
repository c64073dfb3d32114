import type { Logger } from '../common/logger.js';
import type { WriteLog } from '../store/write-log.js';

/** How long a write's answer waits for the caches to show it before going out anyway. */
const WRITE_WAIT_MS = 5000;

interface Cache {
  prefix: string;
  revision: string;
  waitFor(revision: bigint, timeoutMs: number): Promise<boolean>;
}

/**
 * Read-your-writes: waits until each cache whose prefix holds a key the
 * request wrote has applied the request's last commit (every cache, when the
 * log overflowed). On timeout it logs and returns; the write itself is done
 * either way.
 */
export async function waitForWrites(caches: readonly Cache[], writes: WriteLog, log: Logger, timeoutMs = WRITE_WAIT_MS): Promise<void> {
  if (writes.revision === 0n) return;
  const keys = [...writes.keys];
  await Promise.all(
    caches
      .filter((c) => writes.overflowed || keys.some((k) => k.startsWith(c.prefix)))
      .map(async (c) => {
        if (!(await c.waitFor(writes.revision, timeoutMs))) {
          log.warn({ prefix: c.prefix, revision: String(writes.revision), cacheRevision: c.revision }, 'cache did not show a write in time; answering anyway');
        }
      }),
  );
}
