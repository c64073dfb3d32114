import type { TSchema } from 'typebox';
import { decodeCursor, pageOf, paginateSorted } from '../common/page.js';
import { ErrorResponse, LIST_LIMITS, Page } from '../model/index.js';
import type { CachePage } from '../managers/vm-cache.js';
import type { AnswerBuffers } from './answer-buffers.js';
import type { ServerResponse } from 'node:http';

/** Answers of a list route: one page, or an error (a bad cursor is a 400). */
export const listResponses = <T extends TSchema>(item: T) => ({ 200: Page(item), 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 503: ErrorResponse });

const limitOf = (q: { limit?: number }) => q.limit ?? LIST_LIMITS.default;

/** A page of a list read whole and sorted here (the lists that stay small per caller). */
export function pageFrom<T>(list: string, all: T[], keyOf: (item: T) => string, q: { limit?: number; cursor?: string }) {
  return paginateSorted(list, all, keyOf, { limit: limitOf(q), ...(q.cursor !== undefined ? { cursor: q.cursor } : {}) });
}

/** The sort key the request's cursor continues after (none without one); INVALID_CURSOR or CURSOR_EXPIRED when it is not for `list`. */
export const cursorAfter = (list: string, q: { cursor?: string }): string | undefined => (q.cursor === undefined ? undefined : decodeCursor(list, q.cursor));

/** A page read from a cache's sorted index: `read(after, limit)`. */
export async function pageFromCache<T>(list: string, q: { limit?: number; cursor?: string }, read: (after: string | undefined, limit: number) => Promise<CachePage<T>>) {
  const page = await read(cursorAfter(list, q), limitOf(q));
  return pageOf(list, page.items, page.last, page.more);
}

const OPEN = Buffer.from('{"items":[');
const COMMA = Buffer.from(',');
const CLOSE = Buffer.from(']}');

/** A kept page is given again for at most this long, so the cursor in it is never much older than a fresh one. */
const PAGE_KEEP_MS = 60_000;

/**
 * Whole answers of list pages, each kept with the version of its list (a
 * number the cache changes whenever anything in that list changes, read
 * before the page was) and given again while the version is the same: a
 * page asked for again and again (a dashboard, a script polling) is then
 * found, not assembled from a hundred records scattered in the heap. A page
 * is kept from the second time it is asked for under one version, so a list
 * that changes between every two reads (everyone's, in a busy fleet) is
 * assembled in the reused answer buffers as before, not in a fresh buffer a
 * request. Bounded in bytes and in lists, the least recently used out first.
 */
export class PageCache {
  private readonly pages = new Map<string, { version: number; at: number; bytes?: Buffer }>();
  private bytes = 0;

  constructor(
    private readonly maxBytes = 16 * 1024 * 1024,
    private readonly keepMs = PAGE_KEEP_MS,
    private readonly now = () => Date.now(),
    private readonly maxLists = 4096,
  ) {}

  /** The kept page; else 'keep' when asked for before under this version (make it and `set` it), 'once' the first time. */
  get(key: string, version: number): Buffer | 'keep' | 'once' {
    const p = this.pages.get(key);
    const now = this.now();
    if (p && p.version === version && now - p.at <= this.keepMs) {
      // Most recently used last (a Map keeps insertion order).
      this.pages.delete(key);
      this.pages.set(key, p);
      return p.bytes ?? 'keep';
    }
    this.put(key, { version, at: now });
    return 'once';
  }

  set(key: string, version: number, bytes: Buffer): void {
    if (bytes.length > this.maxBytes / 8) return;
    this.put(key, { version, at: this.now(), bytes });
  }

  /** Bytes held (for tests). */
  get size(): number {
    return this.bytes;
  }

  private put(key: string, entry: { version: number; at: number; bytes?: Buffer }): void {
    this.drop(key);
    this.pages.set(key, entry);
    // The key too: a cursor in it may be long, and lists asked once hold no bytes but their key.
    this.bytes += key.length + (entry.bytes?.length ?? 0);
    for (const [k] of this.pages) {
      if (this.bytes <= this.maxBytes && this.pages.size <= this.maxLists) break;
      this.drop(k);
    }
  }

  private drop(key: string): void {
    const p = this.pages.get(key);
    if (!p) return;
    this.bytes -= key.length + (p.bytes?.length ?? 0);
    this.pages.delete(key);
  }
}

/**
 * A page whose items are JSON bytes already (a cache keeps each record's):
 * concatenated into the page as it is sent (in one of `buffers`, reused once
 * `res` has sent it), with no serializer run and no string encoded per request.
 * `after`: the sort key `q.cursor` continues after, decoded by the caller
 * (cursorAfter) before anything else, so a cursor for another list, or one
 * expired since, is refused the same whether a page is kept or not.
 * With `kept`, a page whose list has not changed since (its version) is sent as
 * it was kept; one asked for the second time is assembled in a buffer of its own and kept.
 */
export function rawPageFromCache(
  list: string,
  q: { limit?: number; cursor?: string },
  after: string | undefined,
  read: (after: string | undefined, limit: number) => CachePage<Buffer>,
  buffers: AnswerBuffers,
  res: ServerResponse,
  kept?: { pages: PageCache; version: number },
): Buffer {
  const key = `${list}\u0000${limitOf(q)}\u0000${q.cursor ?? ''}`;
  const found = kept?.pages.get(key, kept.version);
  if (found instanceof Buffer) return found;
  const page = read(after, limitOf(q));
  const { next } = pageOf(list, [], page.last, page.more);
  const parts: Buffer[] = [OPEN];
  page.items.forEach((item, i) => {
    if (i > 0) parts.push(COMMA);
    parts.push(item);
  });
  parts.push(next === undefined ? CLOSE : Buffer.from(`],"next":${JSON.stringify(next)}}`));
  if (!kept || found !== 'keep') return buffers.join(parts, res);
  const bytes = Buffer.concat(parts);
  kept.pages.set(key, kept.version, bytes);
  return bytes;
}
