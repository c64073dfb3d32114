import type { Logger } from '../common/logger.js';

/**
 * Runs `fn(key)` for each triggered key, one run per key at a time (a VM is never
 * started and stopped at once) while different keys proceed side by side.
 * Triggers during a run fold into one more run.
 */
export class KeyedQueue {
  private readonly running = new Map<string, Promise<void>>();
  private readonly again = new Set<string>();

  constructor(
    private readonly fn: (key: string) => Promise<void>,
    private readonly log: Logger,
  ) {}

  trigger(key: string): void {
    if (this.running.has(key)) {
      this.again.add(key);
      return;
    }
    const p = (async () => {
      do {
        this.again.delete(key);
        try {
          await this.fn(key);
        } catch (err) {
          this.log.error({ err, key }, 'reconcile failed');
        }
      } while (this.again.has(key));
      this.running.delete(key);
    })();
    this.running.set(key, p);
  }

  async drain(): Promise<void> {
    while (this.running.size) await Promise.all([...this.running.values()]);
  }
}
