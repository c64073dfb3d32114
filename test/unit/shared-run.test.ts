import { describe, expect, it } from 'vitest';
import { SharedRun } from '../../src/common/shared-run.js';

/** A run whose end the test decides; it records what each run was asked and when it started. */
function controlled() {
  const runs: { asked: number[]; end: (fail?: boolean) => void }[] = [];
  let running = 0;
  let most = 0;
  const shared = new SharedRun<number, number>(
    (asked) =>
      new Promise((resolve, reject) => {
        running++;
        most = Math.max(most, running);
        runs.push({
          asked: [...asked],
          end: (fail) => {
            running--;
            if (fail) reject(new Error('run failed'));
            else resolve(asked.map((x) => x * 10));
          },
        });
      }),
  );
  return { shared, runs, most: () => most };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('SharedRun', () => {
  it('asks during a run share the next one; each is answered from a run that began after it asked; one runs at a time', async () => {
    const { shared, runs, most } = controlled();
    const first = shared.ask(1);
    await tick();
    expect(runs.map((r) => r.asked)).toEqual([[1]]);
    const later = [2, 3, 4].map((x) => shared.ask(x));
    await tick();
    // Not joined to the run already going: it began before they asked.
    expect(runs).toHaveLength(1);
    runs[0]!.end();
    expect(await first).toBe(10);
    await tick();
    expect(runs.map((r) => r.asked)).toEqual([[1], [2, 3, 4]]);
    const last = shared.ask(5);
    runs[1]!.end();
    expect(await Promise.all(later)).toEqual([20, 30, 40]);
    await tick();
    expect(runs.map((r) => r.asked)).toEqual([[1], [2, 3, 4], [5]]);
    runs[2]!.end();
    expect(await last).toBe(50);
    expect(most()).toBe(1);
  });

  it('a failed run fails its own asks only; the next run goes on', async () => {
    const { shared, runs } = controlled();
    const a = shared.ask(1);
    await tick();
    const b = shared.ask(2);
    runs[0]!.end(true);
    await expect(a).rejects.toThrow('run failed');
    await tick();
    expect(runs.map((r) => r.asked)).toEqual([[1], [2]]);
    runs[1]!.end();
    expect(await b).toBe(20);
  });
});
