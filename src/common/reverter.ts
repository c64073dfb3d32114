import type { Logger } from 'pino';

type Undo = () => unknown | Promise<unknown>;

/**
 * Multi-step work registers an undo after each step that succeeded; on failure
 * `revert()` runs them newest first. Undo failures are logged, never thrown, so
 * the original error is what the caller sees.
 */
export class Reverter {
  private steps: { what: string; undo: Undo }[] = [];

  constructor(private readonly log?: Logger) {}

  add(what: string, undo: Undo): void {
    this.steps.push({ what, undo });
  }

  /** The work succeeded: forget the undo steps. */
  success(): void {
    this.steps = [];
  }

  async revert(): Promise<void> {
    const steps = this.steps.reverse();
    this.steps = [];
    for (const { what, undo } of steps) {
      try {
        await undo();
      } catch (err) {
        this.log?.warn({ err, step: what }, 'undo step failed');
      }
    }
  }

  /** Runs `fn` with this reverter; reverts and rethrows when it fails. */
  async run<T>(fn: (r: Reverter) => Promise<T>): Promise<T> {
    try {
      const result = await fn(this);
      this.success();
      return result;
    } catch (err) {
      await this.revert();
      throw err;
    }
  }
}
