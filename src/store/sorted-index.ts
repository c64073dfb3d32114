/**
 * A sorted set of strings for keyset pagination over a cache: `after` finds a
 * cursor by binary search and slices a page, so a page costs O(log n + limit)
 * however large the set. Inserts and deletes shift the array (a memmove,
 * microseconds at 100,000 keys), which is far cheaper than sorting per request.
 */
export class SortedKeys {
  private readonly keys: string[] = [];

  get size(): number {
    return this.keys.length;
  }

  /** Index of the first key > `key` (`orEqual`: ≥ `key`). */
  private search(key: string, orEqual: boolean): number {
    let lo = 0;
    let hi = this.keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const k = this.keys[mid]!;
      if (k < key || (!orEqual && k === key)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  has(key: string): boolean {
    const i = this.search(key, true);
    return this.keys[i] === key;
  }

  add(key: string): void {
    const i = this.search(key, true);
    if (this.keys[i] !== key) this.keys.splice(i, 0, key);
  }

  delete(key: string): boolean {
    const i = this.search(key, true);
    if (this.keys[i] !== key) return false;
    this.keys.splice(i, 1);
    return true;
  }

  /**
   * Up to `limit` keys strictly after `cursor` (from the start when undefined),
   * and whether more follow.
   */
  after(cursor: string | undefined, limit: number): { keys: string[]; more: boolean } {
    const start = cursor === undefined ? 0 : this.search(cursor, false);
    const keys = this.keys.slice(start, start + limit);
    return { keys, more: start + limit < this.keys.length };
  }

  values(): readonly string[] {
    return this.keys;
  }
}
