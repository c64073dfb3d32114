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

/** A page read from a cache's sorted index: `read(after, limit)`. */
export async function pageFromCache<T>(list: string, q: { limit?: number; cursor?: string }, read: (after: string | undefined, limit: number) => Promise<CachePage<T>>) {
  const after = q.cursor === undefined ? undefined : decodeCursor(list, q.cursor);
  const page = await read(after, limitOf(q));
  return pageOf(list, page.items, page.last, page.more);
}

const OPEN = Buffer.from('{"items":[');
const COMMA = Buffer.from(',');
const CLOSE = Buffer.from(']}');

/**
 * A page whose items are JSON bytes already (a cache keeps each record's):
 * concatenated into the page as it is sent (in one of `buffers`, reused once
 * `res` has sent it), with no serializer run and no string encoded per request.
 */
export async function rawPageFromCache(
  list: string,
  q: { limit?: number; cursor?: string },
  read: (after: string | undefined, limit: number) => Promise<CachePage<Buffer>>,
  buffers: AnswerBuffers,
  res: ServerResponse,
): Promise<Buffer> {
  const after = q.cursor === undefined ? undefined : decodeCursor(list, q.cursor);
  const page = await read(after, limitOf(q));
  const { next } = pageOf(list, [], page.last, page.more);
  const parts: Buffer[] = [OPEN];
  page.items.forEach((item, i) => {
    if (i > 0) parts.push(COMMA);
    parts.push(item);
  });
  parts.push(next === undefined ? CLOSE : Buffer.from(`],"next":${JSON.stringify(next)}}`));
  return buffers.join(parts, res);
}
