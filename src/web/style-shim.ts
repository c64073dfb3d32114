/**
 * xterm.js writes its theme and cell sizes into <style> elements it creates, and
 * the page's Content-Security-Policy (style-src 'self', no 'unsafe-inline')
 * refuses those. Here a `document.createElement('style')` gets a hidden element
 * whose text goes into a constructed stylesheet (adoptedStyleSheets: CSSOM,
 * which the policy allows) instead, so the policy stays strict.
 */
export function routeStyleElementsToSheets(doc: Document = document): void {
  const native = doc.createElement.bind(doc) as (tag: string, opts?: ElementCreationOptions) => HTMLElement;
  (doc as { createElement: unknown }).createElement = (tag: string, opts?: ElementCreationOptions): HTMLElement => {
    if (String(tag).toLowerCase() !== 'style') return native(tag, opts);
    const el = native('ucloud-style');
    el.hidden = true;
    const sheet = new CSSStyleSheet();
    let text = '';
    doc.adoptedStyleSheets = [...doc.adoptedStyleSheets, sheet];
    Object.defineProperty(el, 'textContent', {
      get: () => text,
      set: (v: string | null) => {
        text = v ?? '';
        sheet.replaceSync(text);
      },
    });
    const remove = el.remove.bind(el);
    el.remove = () => {
      doc.adoptedStyleSheets = doc.adoptedStyleSheets.filter((s) => s !== sheet);
      remove();
    };
    return el;
  };
}
