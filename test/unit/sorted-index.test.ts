import { describe, expect, it } from 'vitest';
import { SortedKeys } from '../../src/store/sorted-index.js';

// A seeded generator, so a failure reproduces.
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

describe('SortedKeys', () => {
  it('stays sorted and unique under random adds and deletes, like a sorted Set', () => {
    const r = rng(7);
    const keys = new SortedKeys();
    const model = new Set<string>();
    for (let i = 0; i < 5000; i++) {
      const k = `k${Math.floor(r() * 800)}`;
      if (r() < 0.6) {
        keys.add(k);
        model.add(k);
      } else expect(keys.delete(k)).toBe(model.delete(k));
    }
    expect([...keys.values()]).toEqual([...model].sort());
    expect(keys.size).toBe(model.size);
    for (const k of model) expect(keys.has(k)).toBe(true);
    expect(keys.has('zzz')).toBe(false);
  });

  it('pages after a cursor cover every key exactly once, whether or not the cursor is still present', () => {
    const keys = new SortedKeys();
    for (const k of ['b', 'd', 'f', 'h', 'j']) keys.add(k);
    expect(keys.after(undefined, 2)).toEqual({ keys: ['b', 'd'], more: true });
    expect(keys.after('d', 2)).toEqual({ keys: ['f', 'h'], more: true });
    expect(keys.after('h', 2)).toEqual({ keys: ['j'], more: false });
    // The cursor's own key was deleted, or never existed: the page starts at the next one.
    keys.delete('d');
    expect(keys.after('d', 2)).toEqual({ keys: ['f', 'h'], more: true });
    expect(keys.after('a', 10)).toEqual({ keys: ['b', 'f', 'h', 'j'], more: false });
    expect(keys.after('j', 10)).toEqual({ keys: [], more: false });
    expect(keys.after('f', 2)).toEqual({ keys: ['h', 'j'], more: false });
  });
});
