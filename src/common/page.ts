import { UcloudError } from './errors.js';

// Keyset pagination, one shape for every list: a page is the items whose sort
// key comes strictly after the cursor's, so a record inserted or deleted
// between two pages neither repeats nor hides any other. Sort keys compare by
// UTF-16 code unit (plain `<`), never by locale, so the order of a page and the
// order the cursor is searched in are the same.

/** A cursor older than this is CURSOR_EXPIRED: the client lists again from the start. */
export const CURSOR_TTL_S = 24 * 3600;
/** Clocks of two API processes may differ this much; a cursor from further ahead is not one of ours. */
const CLOCK_SKEW_S = 300;

/** Parts of a composite sort key: NUL sorts before every character a name or file name may hold. */
export const sortKey = (...parts: string[]): string => parts.join('\u0000');
/** The parts `sortKey` joined. */
export const sortKeyParts = (key: string): string[] => key.split('\u0000');

interface CursorBody {
  /** The list it belongs to (with its scope, e.g. the owner): another list's cursor is refused. */
  l: string;
  /** The sort key of the last item of the page it continues. */
  a: string;
  /** Issued at, unix seconds. */
  t: number;
}

const nowS = () => Math.floor(Date.now() / 1000);

export function encodeCursor(list: string, after: string, now = nowS()): string {
  return Buffer.from(JSON.stringify({ l: list, a: after, t: now } satisfies CursorBody)).toString('base64url');
}

/** The sort key a cursor continues after; INVALID_CURSOR or CURSOR_EXPIRED when it cannot be used for `list`. */
export function decodeCursor(list: string, cursor: string, now = nowS()): string {
  const invalid = (why: string) => new UcloudError('INVALID_CURSOR', `the cursor is not valid for this list: ${why}`);
  if (!/^[A-Za-z0-9_-]+$/.test(cursor)) throw invalid('not base64url');
  let body: Partial<CursorBody>;
  try {
    body = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as Partial<CursorBody>;
  } catch {
    throw invalid('not a cursor');
  }
  if (!body || typeof body !== 'object' || typeof body.l !== 'string' || typeof body.a !== 'string' || typeof body.t !== 'number' || !Number.isInteger(body.t)) throw invalid('not a cursor');
  if (body.l !== list) throw invalid('it belongs to another list');
  if (body.t > now + CLOCK_SKEW_S) throw invalid('issued in the future');
  if (now - body.t > CURSOR_TTL_S) throw new UcloudError('CURSOR_EXPIRED', `the cursor is older than ${CURSOR_TTL_S / 3600} hours`);
  return body.a;
}

export interface PageRequest {
  limit: number;
  cursor?: string;
}

/** `{ items, next? }` from items in sort-key order: `more` says whether anything follows the last one. */
export function pageOf<T>(list: string, items: T[], keyOfLast: string | undefined, more: boolean): { items: T[]; next?: string } {
  return more && keyOfLast !== undefined ? { items, next: encodeCursor(list, keyOfLast) } : { items };
}

/**
 * One page of a list read whole (the small ones: images, keys, networks, …):
 * sorted by `keyOf`, the items after the cursor, at most `limit`.
 */
export function paginateSorted<T>(list: string, all: T[], keyOf: (item: T) => string, req: PageRequest): { items: T[]; next?: string } {
  const after = req.cursor === undefined ? undefined : decodeCursor(list, req.cursor);
  const keyed = all.map((item) => ({ key: keyOf(item), item })).filter((k) => after === undefined || k.key > after);
  keyed.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const page = keyed.slice(0, req.limit);
  return pageOf(
    list,
    page.map((k) => k.item),
    page[page.length - 1]?.key,
    keyed.length > req.limit,
  );
}
