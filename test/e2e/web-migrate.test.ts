import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Vm } from '../../src/model/index.js';
import { until } from '../helpers/cluster.js';
import { BrowserSession, click, logIn, redrawnBy } from '../helpers/browser.js';
import { Testbed } from '../helpers/testbed.js';

// Issue 15: an admin migrates a VM and drains a host from the dashboard, in
// headless Chromium, against two real hosts (network namespaces, shared fs
// store, real QEMU): the page's buttons start the live moves, and the VM's row
// follows them from the event stream, without a reload.
describe('the dashboard, two hosts: an admin migrates a VM and drains its host', () => {
  let tb: Testbed;
  let web: BrowserSession;

  beforeAll(async () => {
    tb = await Testbed.start({ hosts: 2, guestImage: inject('guestImage') });
    web = await BrowserSession.launch('web-migrate');
  }, 180_000);
  afterAll(async () => {
    await web?.close();
    await tb?.stop();
  });

  const show = (name: string) => tb.cliJson<Vm>(['vm', 'show', name]);
  const hostCell = (name: string) => `tr[data-vm="${name}"] td[data-host]`;

  it('Migrate moves the running VM to the host chosen, Drain moves it back; its QEMU runs on the new host each time and the row follows live', async () => {
    await tb.cliJson(['vm', 'create', 'wm1', '--image', 'ucloud-test', '--ram', '128MiB', '--wait']);
    const first = await show('wm1');
    expect(first.status).toBe('running');
    const from = first.host!;
    const to = tb.hosts.map((h) => h.name).find((h) => h !== from)!;

    const { ctx, page } = await web.newPage('admin');
    await page.goto(`${tb.c.apiUrl}/`);
    await logIn(page, tb.c.adminToken);
    await page.evaluate('window.__sameDocument = true');
    await page.waitForSelector(`${hostCell('wm1')}[data-host="${from}"]`);
    await page.waitForSelector(`tr[data-vm="wm1"] [data-status="running"]`);
    await web.shot(page, '1-before-migrate');
    // As a user does: the field offers the other host once focused; type it, and a live update redraws
    // the list before Migrate is clicked. What is in the field on the page is what the click sends.
    const field = 'tr[data-vm="wm1"] .migrate input';
    await click(page, field);
    await page.waitForSelector(`#migrate-hosts option[value="${to}"]`, { timeout: 30_000 });
    expect(await page.$$eval('#migrate-hosts option', (o) => o.map((x) => x.getAttribute('value')))).toEqual([to]);
    await page.type(field, to);
    await redrawnBy(page, 'tr[data-vm="wm1"]', () => tb.cliJson(['network', 'create', 'redraw-net']));
    expect(await page.$eval(field, (e) => (e as unknown as { value: string }).value)).toBe(to);
    await click(page, 'tr[data-vm="wm1"] [data-act="migrate"]');
    // The page says how the request went: accepted, or the error's message.
    await page.waitForSelector('#notice p', { timeout: 30_000 });
    expect(await page.$eval('#notice p', (e) => `${e.className}: ${e.textContent}`)).toMatch(/^notice ok: /);
    await page.waitForSelector(`${hostCell('wm1')}[data-host="${to}"]`, { timeout: 120_000 }).catch(async (err: unknown) => {
      console.log(`[web-migrate] wm1 now: ${JSON.stringify(await show('wm1'))}`);
      throw err;
    });
    await page.waitForSelector(`tr[data-vm="wm1"] [data-status="running"]`, { timeout: 60_000 });
    await web.shot(page, '2-migrated');
    const moved = await until('wm1 running on the chosen host', async () => {
      const v = await show('wm1');
      return v.host === to && v.status === 'running' && v.lastMigration?.phase === 'completed' ? v : undefined;
    }, 60_000, 250);
    expect(moved.lastMigration).toMatchObject({ source: from, destination: to, phase: 'completed' });
    // The VM is held by a QEMU on the other host now.
    expect(moved.qemu!.pid).not.toBe(first.qemu!.pid);
    // The move is an event (what the page refreshed on), with its figures.
    const events = await tb.cliJson<{ action: string; result: string; message?: string }[]>(['events', '--vm', 'wm1']);
    expect(events.filter((e) => e.action === 'vm.migrated').map((e) => [e.result, e.message])).toEqual([['ok', expect.stringMatching(new RegExp(`^moved from ${from} to ${to} in \\d+ ms \\(downtime \\d+ ms\\)$`))]]);

    // Drain the host it is on now: it moves back, live, and that host takes nothing new.
    await page.goto(`${tb.c.apiUrl}/#/hosts`);
    await page.waitForSelector(`tr[data-host="${to}"] [data-status="alive"]`);
    await click(page, `tr[data-host="${to}"] [data-act="drain"]`);
    await page.waitForSelector(`tr[data-host="${to}"] [data-status="drained"]`, { timeout: 30_000 });
    await web.shot(page, '3-drained');
    await page.goto(`${tb.c.apiUrl}/#/vms`);
    await page.waitForSelector(`${hostCell('wm1')}[data-host="${from}"]`, { timeout: 120_000 });
    await page.waitForSelector(`tr[data-vm="wm1"] [data-status="running"]`, { timeout: 60_000 });
    await web.shot(page, '4-drained-back');
    const back = await until('wm1 running on its first host again', async () => {
      const v = await show('wm1');
      return v.host === from && v.status === 'running' && v.lastMigration?.phase === 'completed' && v.lastMigration.destination === from ? v : undefined;
    }, 60_000, 250);
    expect(back.lastMigration!.source).toBe(to);
    expect(await page.evaluate('window.__sameDocument')).toBe(true);

    await page.goto(`${tb.c.apiUrl}/#/hosts`);
    await click(page, `tr[data-host="${to}"] [data-act="undrain"]`);
    await page.waitForSelector(`tr[data-host="${to}"] [data-status="alive"]`, { timeout: 30_000 });
    await ctx.close();
    console.log(`web-migrate screenshots (${web.artifacts}):\n  ${web.shots.join('\n  ')}`);
    expect(web.problems).toEqual([]);
    expect(web.urls.filter((u) => u.includes(tb.c.adminToken))).toEqual([]);
  }, 420_000);
});
