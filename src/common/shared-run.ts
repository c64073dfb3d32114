/**
 * Runs one costly job for every caller that asked while the last one ran:
 * `ask(x)` joins the run waiting to start, or queues one; a run starts when
 * the previous ended, with everything asked until then. Each caller's answer
 * therefore comes from a run that began after it asked (what a look that must
 * see everything written before it relies on), and however many ask at once,
 * at most one runs and one waits.
 */
interface Batch<Q, A> {
  asked: Q[];
  answers: Promise<A[]>;
}

export class SharedRun<Q, A> {
  /** The run not yet started, which a new ask joins. */
  private waiting?: Batch<Q, A>;
  private last: Promise<unknown> = Promise.resolve();

  /** `run(asked)` answers each asked item, in the order asked. */
  constructor(private readonly run: (asked: Q[]) => Promise<A[]>) {}

  ask(q: Q): Promise<A> {
    const batch = this.waiting ?? this.queue();
    const i = batch.asked.push(q) - 1;
    return batch.answers.then((all) => all[i]!);
  }

  /** The next run: it starts when the last one ended, with whatever was asked by then. */
  private queue(): Batch<Q, A> {
    const asked: Q[] = [];
    const answers = this.last.then(() => {
      // Started (it was the one waiting): later asks queue the next run.
      this.waiting = undefined;
      return this.run(asked);
    });
    this.last = answers.catch(() => undefined);
    return (this.waiting = { asked, answers });
  }
}
