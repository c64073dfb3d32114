import { build } from 'esbuild';
import type { Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrowserSession } from '../helpers/browser.js';
import { ROOT } from '../helpers/cluster.js';

// The dashboard's list update (src/web/dom.ts `patch`, morphdom) in a real
// Chromium, on its own: what stays the same element, what its handlers act
// on, and what a user's half-made choice becomes.

describe('the dashboard list update in place (patch, real Chromium)', () => {
  let web: BrowserSession;
  let page: Page;

  beforeAll(async () => {
    // dom.ts alone, bundled as the dashboard is (with morphdom), exposed to the page as window.dom.
    const out = await build({ entryPoints: [`${ROOT}/src/web/dom.ts`], bundle: true, format: 'iife', globalName: 'dom', write: false, platform: 'browser' });
    web = await BrowserSession.launch('web-patch');
    ({ page } = await web.newPage('patch'));
    await page.setContent('<!doctype html><body><div id="list"></div></body>');
    await page.addScriptTag({ content: out.outputFiles[0]!.text });
    // draw(rows): the list as renderView draws it; each button records which row's data its handler saw.
    await page.evaluate(`(() => {
      window.acted = [];
      window.draw = (rows) => dom.patch(document.getElementById('list'), dom.h('table', {}, dom.h('tbody', {}, rows.map((r) =>
        dom.h('tr', { 'data-vm': r.name, 'data-id': r.id },
          dom.h('td', {}, r.name), dom.h('td', {}, r.owner), dom.h('td', { 'data-host': r.host }, r.host),
          dom.h('td', {}, dom.h('select', {}, dom.h('option', { value: '' }, 'any host'), r.hosts.map((x) => dom.h('option', { value: x }, x)))),
          dom.h('td', {}, dom.h('button', { 'data-act': r.act, onclick: () => window.acted.push(r.act + ' ' + r.id) }, r.act)))))));
    })()`);
  }, 60_000);
  afterAll(async () => {
    expect(web?.problems ?? []).toEqual([]);
    await web?.close();
  });

  const draw = (rows: unknown[]) => page.evaluate(`window.draw(${JSON.stringify(rows)})`);
  const row = (id: string, owner: string, act: string, hosts = ['h1', 'h2'], host = 'hv1') => ({ id, name: 'twin', owner, act, hosts, host });

  it('keeps each row by its id (two users\' VMs of one name), and each button runs the handler of the data on screen, once', async () => {
    await draw([row('a', 'alice', 'stop'), row('b', 'bob', 'stop')]);
    await page.evaluate(`window.kept = [...document.querySelectorAll('tr')]; window.keptButton = document.querySelector('tr[data-id="b"] button')`);
    // Reordered, one changed: alice's VM stopped, so its button is now Start.
    await draw([row('b', 'bob', 'stop'), row('a', 'alice', 'start')]);
    expect(await page.evaluate(`[...document.querySelectorAll('tr')].map((r) => window.kept.indexOf(r))`)).toEqual([1, 0]);
    // bob's Stop is still the same element (an action is kept as the same action of the same row).
    expect(await page.evaluate(`document.querySelector('tr[data-id="b"] button') === window.keptButton`)).toBe(true);
    expect(await page.$$eval('tr', (rs) => rs.map((r) => `${r.getAttribute('data-id')} ${r.textContent}`))).toEqual(['b twinbobhv1any hosth1h2stop', 'a twinalicehv1any hosth1h2start']);
    await page.click('tr[data-id="a"] button');
    await page.click('tr[data-id="b"] button');
    // One call each, by the handler of the data on screen (a left-over one would add "stop a").
    expect(await page.evaluate('window.acted')).toEqual(['start a', 'stop b']);
  });

  it('never turns a pressed action into another: a Stop whose VM stopped under the press does not start it', async () => {
    await page.evaluate('window.acted = []');
    await draw([row('a', 'alice', 'stop')]);
    const at = await (await page.$('tr[data-id="a"] button'))!.clickablePoint();
    await page.mouse.move(at.x, at.y);
    await page.mouse.down();
    await draw([row('a', 'alice', 'start')]);
    await page.mouse.up();
    // Released on the Start button drawn meanwhile: a new element, so no click at all.
    expect(await page.$eval('tr[data-id="a"] button', (b) => b.textContent)).toBe('start');
    expect(await page.evaluate('window.acted')).toEqual([]);
    // The same action kept under the press is clicked.
    await page.mouse.down();
    await draw([row('a', 'alice', 'start', ['h3'])]);
    await page.mouse.up();
    expect(await page.evaluate('window.acted')).toEqual(['start a']);
  });

  it('keeps rows whole when cells of several rows share an attribute (VMs moving between hosts)', async () => {
    const hosts = ['hv1', 'hv2', 'hv3'];
    const fleet = (turn: number) => [0, 1, 2, 3, 4, 5].map((i) => row(`v${i}`, 'alice', 'stop', ['h1'], hosts[(i * 7 + turn * (i + 1)) % 3]!));
    for (let turn = 0; turn < 12; turn++) {
      await draw(fleet(turn));
      expect(await page.$$eval('tr', (rs) => rs.map((r) => `${r.getAttribute('data-id')}:${r.children.length}:${r.children[2]!.textContent}`))).toEqual(fleet(turn).map((r) => `${r.id}:5:${r.host}`));
    }
  });

  it('keeps a choice made in a select while it is offered, and resets it when its option went', async () => {
    await draw([row('a', 'alice', 'migrate', ['h1', 'h2', 'h3'])]);
    await page.select('tr[data-id="a"] select', 'h2');
    await page.evaluate('document.activeElement.blur()');
    await draw([row('a', 'alice', 'migrate', ['h3', 'h2'])]);
    expect(await page.$eval('tr[data-id="a"] select', (s) => (s as unknown as { value: string }).value)).toBe('h2');
    await draw([row('a', 'alice', 'migrate', ['h3'])]);
    expect(await page.$eval('tr[data-id="a"] select', (s) => (s as unknown as { value: string }).value)).toBe('');
  });

  it('keeps text as text', async () => {
    await draw([{ ...row('x', '<img src=x onerror=alert(1)>', 'stop'), name: '<b>bold</b>' }]);
    expect(await page.$$('tr img, tr b')).toHaveLength(0);
    expect(await page.$eval('tr[data-id="x"]', (r) => r.textContent)).toContain('<b>bold</b>');
  });
});
