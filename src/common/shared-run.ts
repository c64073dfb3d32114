/**
 * Runs one costly job for every caller that asked while the last one ran:
 * `ask(x)` joins the run waiting to start, or queues one; a run starts when
 * the previous ended, with everything asked until then. Each caller's answer
 * therefore comes from a run that began after it asked (what a look that must
 * see everything written before it relies on), and however many ask at once,
 * at most one runs and one waits.
 */
export class SharedRun<Q, A> {
  private waiting?: { asked: Q[]; answers: Promise<A[]> };
  private last: Promise<unknown> = Promise.resolve();

  /** `run(asked)` answers each asked item, in the order asked. */
  constructor(private readonly run: (asked: Q[]) => Promise<A[]>) {}

  ask(q: Q): Promise<A> {
    let batch = this.waiting;
    if (!batch) {
      const asked: Q[] = [];
      const answers = this.last.then(() => {
        // Started: later asks queue the next run.
        if (this.waiting === batch) this.waiting = undefined;
        return this.run(asked);
      });
      batch = this.waiting = { asked, answers };
      this.last = answers.catch(() => undefined);
    }
    const i = batch.asked.push(q) - 1;
    return batch.answers.then((all) => all[i]!);
  }
}
