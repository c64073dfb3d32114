import { relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/** test/e2e first (guests booted end to end: the longest files), then test/integration, then the rest. */
function rank(file: string): number {
  if (file.startsWith('test/e2e/')) return 0;
  if (file.startsWith('test/integration/')) return 1;
  return 2;
}

/**
 * Vitest's order, except on a run with no durations on record (a fresh clone,
 * as in CI), where it would start the largest files first: a short file that
 * boots a stock Debian guest for two minutes then started near the end, and
 * one core idled beside it once the small files were done. There, the long
 * kinds of file go first. With durations on record, longest first as Vitest does.
 */
export default class LongFilesFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const root = this.ctx.config.root;
    const path = (f: TestSpecification) => relative(root, f.moduleId);
    if (sorted.every((f) => this.ctx.cache.getFileTestResults(`${f.project.name}:${path(f)}`))) return sorted;
    const at = new Map(sorted.map((f, i) => [f, i]));
    return [...sorted].sort(
      (a, b) =>
        // projects stay in Vitest's order (groupOrder, then name); within one, the kind of file, then Vitest's order
        a.project.config.sequence.groupOrder - b.project.config.sequence.groupOrder ||
        (a.project.name === b.project.name ? 0 : a.project.name < b.project.name ? -1 : 1) ||
        rank(path(a)) - rank(path(b)) ||
        at.get(a)! - at.get(b)!,
    );
  }
}
