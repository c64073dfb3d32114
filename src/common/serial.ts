/**
 * Runs what it is given one after another, in the order given, each once the
 * one before has settled (a failure does not hold up the next). For work that
 * must never overlap itself: record writes whose order matters, a scan, the
 * host's network changes.
 */
export class Serial {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.tail.then(() => fn());
    this.tail = next.catch(() => undefined);
    return next;
  }

  /** Once everything given so far has settled. */
  async idle(): Promise<void> {
    await this.tail;
  }
}
