import morphdom from 'morphdom';

/** A child of h(): nodes, text (always as text, never parsed as HTML), or nothing. */
export type Child = Node | string | number | false | null | undefined | Child[];

type Props = Record<string, unknown>;

/** Each element's listeners from h(), so patch() can hand a kept element the new ones. */
const listeners = new WeakMap<Element, [string, EventListener][]>();

/**
 * Builds an element. `on<event>` props are listeners, `class` the class name,
 * value/checked/disabled/selected properties, anything else an attribute.
 * Text from the API is only ever a text node, so a VM named `<img onerror>` stays text.
 */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Props = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2), v as EventListener);
      listeners.set(el, [...(listeners.get(el) ?? []), [k.slice(2), v as EventListener]]);
    }
    else if (k === 'class') el.className = String(v);
    else if (k === 'value' || k === 'checked' || k === 'disabled' || k === 'selected') (el as unknown as Record<string, unknown>)[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el: Node, children: Child[]): void {
  for (const c of children) {
    if (c === false || c === null || c === undefined) continue;
    if (Array.isArray(c)) append(el, c);
    else el.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
  }
}

/** Replaces what `el` holds. */
export function fill(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}

/**
 * The attribute that names a list's row, so a row is kept as it moves in the
 * list: `data-id` where names are not unique on the page (an admin sees two
 * users' VMs or networks of one name), else the row's name.
 */
const ROW_KEYS = ['data-id', 'data-vm', 'data-host', 'data-network', 'data-key', 'data-image'];

function rowKey(tr: Element): string | undefined {
  const k = ROW_KEYS.find((a) => tr.hasAttribute(a));
  return k && `${k}=${tr.getAttribute(k)}`;
}

/**
 * What morphdom keeps an element as: rows by their name; an action (`data-act`)
 * only as the same action of the same row, so a pressed Stop whose VM stopped
 * meanwhile is replaced (the click is lost) rather than turned into Start
 * under the mouse (the click would start it). Other elements by position.
 */
function keyOf(node: Node): string | undefined {
  if (!(node instanceof Element)) return undefined;
  if (node.id) return node.id;
  if (node.tagName === 'TR') return rowKey(node);
  const act = node.getAttribute('data-act');
  if (act === null) return undefined;
  const tr = node.closest('tr');
  return `${(tr && rowKey(tr)) ?? ''}/${act}`;
}

/**
 * Makes what `el` holds look like `children`, keeping the elements that are
 * still there rather than drawing anew. A live update redraws a list while
 * its user points at it: with every row replaced, a click whose press and
 * release straddle the redraw lands on no button at all and is lost. A kept
 * element takes the new one's attributes, text and listeners (its handler
 * then acts on the new state; one that needs what the user chose reads it
 * from the page when clicked). A focused <select> is left as the user holds
 * it, and any other keeps the choice made in it while that is still offered;
 * a field marked `data-typed` keeps what was typed into it.
 */
export function patch(el: Element, ...children: Child[]): void {
  const next = el.cloneNode(false) as Element;
  append(next, children);
  morphdom(el, next, {
    childrenOnly: true,
    getNodeKey: keyOf,
    onBeforeElUpdated: (from, to) => {
      // What was typed into a field marked data-typed stays (morphdom would set the new render's empty value).
      if (from instanceof HTMLInputElement && from.hasAttribute('data-typed')) (to as HTMLInputElement).value = from.value;
      if (from instanceof HTMLSelectElement) {
        if (from === document.activeElement) return false;
        // morphdom selects the option that has the attribute (none: a blank choice).
        const options = [...(to as HTMLSelectElement).options];
        const chosen = options.find((o) => o.value === from.value) ?? options[(to as HTMLSelectElement).selectedIndex];
        for (const o of options) o.toggleAttribute('selected', o === chosen);
      }
      for (const [type, fn] of listeners.get(from) ?? []) from.removeEventListener(type, fn);
      const fresh = listeners.get(to) ?? [];
      for (const [type, fn] of fresh) from.addEventListener(type, fn);
      listeners.set(from, fresh);
      return true;
    },
  });
}

/** 1073741824 → "1 GiB". */
export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1 && n % 1024 === 0) {
    n /= 1024;
    i++;
  }
  return `${n} ${units[i]}`;
}
