import { describe, expect, it } from 'vitest';
import { PageCache } from '../../src/api/pages.js';

// The API's kept list pages (src/api/pages.ts): a page is kept from the second
// time it is asked for under one version of its list, given again only while
// the version is the same, for at most the keep time, and the bytes held stay
// under the bound, least recently used out first.

describe('PageCache', () => {
  const page = (n: number, fill = 'x') => Buffer.from(fill.repeat(n));
  /** As the route does: asks, and keeps the page when told to. */
  const ask = (pages: PageCache, key: string, version: number, bytes: Buffer) => {
    const found = pages.get(key, version);
    if (found === 'keep') pages.set(key, version, bytes);
    return found;
  };

  it('keeps a page from its second ask under one version, and gives it only under that version', () => {
    const pages = new PageCache();
    const k = 'vms/alice\u0000100\u0000';
    expect(ask(pages, k, 7, page(10))).toBe('once');
    expect(pages.size).toBe(k.length); // its key only
    expect(ask(pages, k, 7, page(10))).toBe('keep');
    expect(pages.size).toBe(k.length + 10);
    expect((pages.get(k, 7) as Buffer).toString()).toBe('x'.repeat(10));
    // The list changed: not given, and dropped, not kept beside the new one.
    expect(pages.get(k, 8)).toBe('once');
    expect(pages.size).toBe(k.length);
    expect(pages.get(k, 7)).toBe('once');
    expect(pages.get('vms/bob\u0000100\u0000', 7)).toBe('once');
  });

  it('a list that changes between every two reads is never kept', () => {
    const pages = new PageCache();
    for (let v = 0; v < 100; v++) expect(ask(pages, 'vms\u0000100\u0000', v, page(1000))).toBe('once');
    expect(pages.size).toBe('vms\u0000100\u0000'.length);
  });

  it('gives a page for at most the keep time, so the cursor in it is never much older than a fresh one', () => {
    let now = 1_000_000;
    const pages = new PageCache(1 << 20, 60_000, () => now);
    ask(pages, 'k', 1, page(10));
    ask(pages, 'k', 1, page(10));
    now += 60_000;
    expect(pages.get('k', 1)).toBeInstanceOf(Buffer);
    now += 1;
    expect(pages.get('k', 1)).toBe('once');
  });

  it('holds at most its bound in bytes and in lists, the least recently used out first; a page too large is never kept', () => {
    const pages = new PageCache(1000, 60_000, Date.now, 50);
    const keep = (key: string, bytes: Buffer) => {
      ask(pages, key, 1, bytes);
      ask(pages, key, 1, bytes);
    };
    keep('a', page(100, 'a'));
    keep('b', page(100, 'b'));
    keep('c', page(100, 'c'));
    expect(pages.get('a', 1)).toBeInstanceOf(Buffer); // a is now the most recently used
    for (let i = 0; i < 8; i++) keep(`n${i}`, page(100));
    expect(pages.size).toBeLessThanOrEqual(1000);
    expect(pages.get('b', 1)).toBe('once');
    expect((pages.get('a', 1) as Buffer).toString()).toBe('a'.repeat(100));
    keep('big', page(126));
    expect(pages.get('big', 1)).toBe('keep');
    // Kept again under the same key: counted once.
    const before = pages.size;
    pages.set('a', 2, page(100, 'A'));
    expect(pages.size).toBe(before);
    expect((pages.get('a', 2) as Buffer).toString()).toBe('A'.repeat(100));
    // Lists asked once each (no bytes) are bounded too, and push out the oldest.
    for (let i = 0; i < 60; i++) pages.get(`o${i}`, 1);
    expect(pages.get('a', 2)).toBe('once');
    expect(pages.size).toBeLessThanOrEqual(50 * 3);
  });
});
