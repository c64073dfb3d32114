import { UcloudError } from '../common/errors.js';
import type { PageOf } from '../model/common.js';
import { h } from './dom.js';

/** Which page: its cursor (undefined: the first) and those of the pages before it, nearest last. */
interface PageAt {
  cursor: string | undefined;
  back: (string | undefined)[];
}

/**
 * A list the dashboard shows one page at a time (an admin's fleet can be
 * 100,000 VMs on 5,000 hosts: a page never loads them all): the page on view,
 * its number and the next one's cursor, and the page the next read asks for.
 */
export class Paged<T> {
  items: T[] = [];
  pageNo = 1;
  next: string | undefined;
  /** The page the next read asks for (turned to, not yet arrived, or the one on view). */
  private at: PageAt = { cursor: undefined, back: [] };

  constructor(
    /** `vms` → buttons `vms-previous` / `vms-next`. */
    private readonly act: string,
    /** The pager's element id. */
    private readonly id: string,
    private readonly fetchPage: (cursor: string | undefined) => Promise<PageOf<T>>,
  ) {}

  /**
   * Reads the page asked for; a cursor the API no longer takes (24 h old)
   * starts over at the first page, and a page emptied by deletes goes back to
   * the one before it. Resolves to what puts the page on view: the caller
   * drops it when a later read has begun meanwhile.
   */
  async read(): Promise<() => void> {
    let { cursor, back } = this.at;
    for (;;) {
      const c = cursor;
      const page = await this.fetchPage(c).catch((err: unknown) => {
        if (!(err instanceof UcloudError) || (err.code !== 'CURSOR_EXPIRED' && err.code !== 'INVALID_CURSOR') || c === undefined) throw err;
        return undefined;
      });
      if (page && (page.items.length > 0 || c === undefined)) {
        const b = back;
        return () => {
          this.items = page.items;
          this.next = page.next;
          this.pageNo = b.length + 1;
          this.at = { cursor: c, back: b };
        };
      }
      [cursor, back] = page ? [back.at(-1), back.slice(0, -1)] : [undefined, []];
    }
  }

  /**
   * Turns to the page after or before the one on view: at once in what the
   * next read asks for (a read begun meanwhile, by a burst of events, asks for
   * it too), on screen when it has arrived. Next does nothing until then (its
   * cursor is the new page's to give); each Previous goes one page further
   * back. False when there is no such page.
   */
  turn(forward: boolean): boolean {
    const { cursor, back } = this.at;
    if (forward && this.next !== undefined) this.at = { cursor: this.next, back: [...back, cursor] };
    else if (!forward && back.length > 0) this.at = { cursor: back.at(-1), back: back.slice(0, -1) };
    else return false;
    this.next = undefined;
    return true;
  }

  /** Previous / page n / next, under the list when there is more than one page; `onTurn` after a turn. */
  pager(onTurn: () => void): HTMLElement | null {
    const n = this.pageNo;
    if (n === 1 && this.next === undefined) return null;
    const turn = (forward: boolean) => () => this.turn(forward) && onTurn();
    return h('div', { class: 'row pager', id: this.id },
      h('button', { 'data-act': `${this.act}-previous`, disabled: n === 1, onclick: turn(false) }, '← Previous'),
      h('span', { class: 'muted', 'data-page': String(n) }, `page ${n}`),
      h('button', { 'data-act': `${this.act}-next`, disabled: this.next === undefined, onclick: turn(true) }, 'Next →'));
  }
}
