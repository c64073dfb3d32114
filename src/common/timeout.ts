/**
 * `p`, or the error `late()` makes once `ms` have passed without it settling
 * (the work itself is not stopped: the caller cleans up what it started).
 */
export async function withTimeout<T>(p: Promise<T>, ms: number, late: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(late()), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
