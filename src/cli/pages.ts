import type { Command } from 'commander';
import type { PageParams } from '../client/client.js';
import { LIST_LIMITS, type PageOf } from '../model/common.js';
import { wholeNumber } from './context.js';
import { note } from './output.js';

export interface PageFlags {
  limit?: number;
  cursor?: string;
}

/** `--limit` and `--cursor` on a list command: without either, the command shows every page. */
export function pageOptions(cmd: Command): Command {
  return cmd
    .option('--limit <n>', `show one page of at most n items (1-${LIST_LIMITS.max}); without it, every page`, wholeNumber)
    .option('--cursor <cursor>', 'the page after this cursor (the one --limit printed on stderr)');
}

/**
 * Every item (all pages), or with --limit/--cursor one page; when more
 * follow, stderr says so with the cursor for the next page.
 */
export async function listed<T>(o: PageFlags, lister: { list(): Promise<T[]>; page(p: PageParams): Promise<PageOf<T>> }): Promise<T[]> {
  if (o.limit === undefined && o.cursor === undefined) return lister.list();
  const p = await lister.page({ ...(o.limit !== undefined ? { limit: o.limit } : {}), ...(o.cursor !== undefined ? { cursor: o.cursor } : {}) });
  if (p.next !== undefined) note(`more follow: the next page is --cursor ${p.next}`);
  return p.items;
}
