import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrowserSession, click, logIn, redrawnBy } from '../helpers/browser.js';
import { ROOT, TestCluster, until, type Daemon } from '../helpers/cluster.js';
import { guestVariant } from '../helpers/guest-variant.js';

// Issue 15: the web dashboard, in headless Chromium (Debian's, never a downloaded
// one), against real daemons and a real QEMU guest.

/** Screenshots of each step (gitignored); with UPDATE_DOC_IMAGES=1 the README's two are copied to docs/img. */
const ARTIFACTS = join(ROOT, 'test-artifacts', 'web');
const docImage = (shot: string, name: string) => (process.env.UPDATE_DOC_IMAGES === '1' ? copyFile(join(ARTIFACTS, shot), join(ROOT, 'docs', 'img', name)) : Promise.resolve());
// A root shell on the serial console (guest/build-image.sh), for the console step.
const GUEST_APPEND = 'console=ttyS0 quiet no_timer_check 8250.nr_uarts=1 i8042.noaux i8042.nopnp cryptomgr.notests ucloud.shell';

describe('the web dashboard: log in, create a VM, see it run, its console, stop, delete; tenants apart', () => {
  let c: TestCluster;
  let web: BrowserSession;
  const tokens: Record<string, string> = {};
  let agent: Daemon;

  beforeAll(async () => {
    c = await TestCluster.start();
    await c.bootstrap({ guestImage: guestVariant('webshell', '#!/bin/sh\n', c.dir, { append: GUEST_APPEND }) });
    agent = c.spawn('host');
    await Promise.all([c.spawn('api').ready, c.spawn('scheduler').ready, agent.ready]);
    const m = c.managers();
    tokens.alice = (await m.users.create('alice', 'user')).token;
    tokens.bob = (await m.users.create('bob', 'user')).token;
    tokens.admin = c.adminToken;
    web = await BrowserSession.launch('web');
  }, 300_000);
  afterAll(async () => {
    await web?.close();
    await c?.stop();
  });

  const newPage = (who: string, width?: number) => web.newPage(who, width);
  const shot = (page: Page, name: string) => web.shot(page, name);

  const text = (page: Page, selector: string) => page.$eval(selector, (e) => e.textContent ?? '');
  const statusOf = (page: Page, vm: string) => page.$eval(`tr[data-vm="${vm}"] [data-status]`, (e) => e.getAttribute('data-status')).catch(() => undefined);

  it('is served at / with a strict CSP and security headers; /web/ files only', async () => {
    const res = await fetch(`${c.apiUrl}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toMatch(/unsafe-(inline|eval)/);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    const js = await fetch(`${c.apiUrl}/web/app.js`);
    expect(js.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect((await js.arrayBuffer()).byteLength).toBeGreaterThan(10_000);
    // Again: the file has not changed, so nothing is sent.
    expect((await fetch(`${c.apiUrl}/web/app.js`, { headers: { 'if-none-match': js.headers.get('etag')! } })).status).toBe(304);
    const none = await fetch(`${c.apiUrl}/web/nothing.js`);
    expect([none.status, ((await none.json()) as { code: string }).code]).toEqual([404, 'NOT_FOUND']);
    expect((await fetch(`${c.apiUrl}/web/..%2Fpackage.json`)).status).toBe(404);
    // `ucloud web`: the profile's API, at /.
    const cli = await c.cli(['web']);
    expect([cli.code, cli.stdout]).toEqual([0, `${c.apiUrl}/\n`]);
    expect(cli.stderr).toContain('ucloud token create');
  });

  it('alice logs in, creates a VM from the form, sees it become running without a reload, opens its console, stops and deletes it', async () => {
    const { ctx, page } = await newPage('alice');
    await page.goto(`${c.apiUrl}/`);
    await shot(page, '1-login');
    await logIn(page, tokens.alice!);
    // No reload from here on: this mark would be gone.
    await page.evaluate('window.__sameDocument = true');
    // The form is drawn once the first lists arrive, a moment after the stream is live: page.type and
    // page.select do not wait for their element.
    await page.waitForSelector('#vm-image option[value="admin/ucloud-test"]', { timeout: 30_000 });
    await page.type('#vm-name', 'webvm');
    await page.select('#vm-size', 'tiny');
    expect(await page.$eval('#vm-ram', (e) => (e as unknown as { value: string }).value)).toBe('128MiB');
    await page.select('#vm-image', 'admin/ucloud-test');
    await shot(page, '2-create-form');
    await click(page, '#vm-create');
    await page.waitForSelector('tr[data-vm="webvm"]');
    const firstSeen = await statusOf(page, 'webvm');
    await page.waitForSelector('tr[data-vm="webvm"] [data-status="running"]', { timeout: 180_000 });
    expect(firstSeen).not.toBe('running');
    expect(await page.evaluate('window.__sameDocument')).toBe(true);
    await shot(page, '3-running');
    await docImage('3-running.png', 'dashboard.png');
    const vm = (await c.client(tokens.alice).vms.get('webvm'));
    expect(vm.status).toBe('running');

    // Its stats, sampled from its host: CPU as a share once there are two samples, memory at once.
    await click(page, 'tr[data-vm="webvm"] [data-act="stats"]');
    await page.waitForFunction('/%$/.test(document.querySelector(\'[data-stat="0"]\')?.textContent ?? "")', { timeout: 30_000 });
    expect(await text(page, '[data-stat="1"]')).toMatch(/^[\d.]+ (KiB|MiB|GiB)$/);
    await shot(page, '3b-stats');
    await click(page, 'a[href="#/vms"]');

    // The console: a one-time ticket, the WebSocket, the guest's shell on ttyS0 (ucloud.shell).
    await click(page, 'tr[data-vm="webvm"] [data-act="console"]');
    await page.waitForSelector('#console-state[data-state="open"]', { timeout: 30_000 });
    // One line per row (the rows' textContent runs together; spaces are U+00A0, which \s matches).
    const rows = () => page.$$eval('.xterm-rows > div', (r) => r.map((d) => d.textContent ?? '').join('\n'));
    // The replayed tail, then a fresh prompt for an Enter (again every 5 s: under load the guest may still be booting).
    let lastEnter = 0;
    await until('the guest prompt', async () => {
      if (Date.now() - lastEnter > 5_000) {
        lastEnter = Date.now();
        await page.keyboard.press('Enter');
      }
      return /[#$]\s*$/m.test(await rows());
    }, 120_000, 250);
    await page.keyboard.type('echo UCLOUD-WEB-$((6*7))\n');
    await until('the command ran in the guest', async () => (await rows()).includes('UCLOUD-WEB-42'), 30_000);
    await shot(page, '4-console');
    await docImage('4-console.png', 'console.png');
    await click(page, 'a[href="#/vms"]');

    await page.waitForSelector('tr[data-vm="webvm"] [data-act="stop"]');
    await click(page, 'tr[data-vm="webvm"] [data-act="stop"]');
    await page.waitForSelector('tr[data-vm="webvm"] [data-status="stopped"]', { timeout: 120_000 });
    await shot(page, '5-stopped');
    await click(page, 'tr[data-vm="webvm"] [data-act="delete"]');
    await page.waitForSelector('[data-empty="vms"]', { timeout: 120_000 });
    expect(await page.$('tr[data-vm="webvm"]')).toBeNull();
    await shot(page, '6-deleted');
    await until('the VM is gone from the API too', async () => !(await c.client(tokens.alice).vms.list()).some((v) => v.name === 'webvm'), 60_000);
    expect(await page.evaluate('window.__sameDocument')).toBe(true);
    // The token is in this tab's sessionStorage, nowhere else.
    expect(await page.evaluate('sessionStorage.getItem("ucloud.token")')).toBe(tokens.alice);
    expect(await page.evaluate('localStorage.length')).toBe(0);
    await ctx.close();
  }, 600_000);

  it("bob, logged in, never sees alice's VMs, networks or keys, not even live as she makes them", async () => {
    const alice = c.client(tokens.alice);
    await alice.vms.create({ name: 'alice-secret', image: 'ucloud-test', cpu: 1, ram: '128MiB', disk: '1GiB' });
    await alice.networks.create('alice-net');
    const { ctx, page } = await newPage('bob');
    await page.goto(`${c.apiUrl}/`);
    await logIn(page, tokens.bob!);
    // While bob watches: alice makes another VM, then bob a network; once his shows, the list has been reloaded after hers.
    await alice.vms.create({ name: 'alice-live', image: 'ucloud-test', cpu: 1, ram: '128MiB', disk: '1GiB' });
    await c.client(tokens.bob).networks.create('bob-net');
    await page.goto(`${c.apiUrl}/#/networks`);
    await page.waitForSelector('tr[data-network="bob-net"]', { timeout: 30_000 });
    for (const view of ['vms', 'networks', 'keys', 'images']) {
      await page.goto(`${c.apiUrl}/#/${view}`);
      await page.waitForSelector('#list .card');
      const body = await text(page, 'main');
      expect(body, view).not.toMatch(/alice-secret|alice-live|alice-net/);
      await shot(page, `7-bob-${view}`);
    }
    expect(await page.$('nav a[data-view="hosts"]')).toBeNull();
    await ctx.close();
  }, 240_000);

  it('an admin sees the hosts, drains one and sees it die and come back live; the page fits a 375 px wide screen', async () => {
    const { ctx, page } = await newPage('admin', 375);
    await page.goto(`${c.apiUrl}/`);
    await logIn(page, tokens.admin!);
    // An admin sees every user's VMs.
    await page.waitForSelector('tr[data-vm="alice-secret"]');
    expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(375);
    await shot(page, '8-admin-vms-375px');
    await page.goto(`${c.apiUrl}/#/hosts`);
    await page.waitForSelector('tr[data-host="hv1"] [data-status="alive"]');
    // A live update redraws the list between the press on Drain and its release: the click still lands (the
    // button is kept, not drawn anew; on a replaced one no click fires).
    const drain = (await page.waitForSelector('tr[data-host="hv1"] [data-act="drain"]'))!;
    await drain.scrollIntoView();
    const at = await drain.clickablePoint();
    await page.mouse.move(at.x, at.y);
    await page.mouse.down();
    await redrawnBy(page, 'tr[data-host="hv1"]', () => c.client(tokens.alice).networks.create('redraw-net'));
    await page.mouse.up();
    await page.waitForSelector('tr[data-host="hv1"] [data-status="drained"]', { timeout: 30_000 });
    expect((await c.client().hosts.list()).find((h) => h.name === 'hv1')?.drained).toBe(true);
    await click(page, 'tr[data-host="hv1"] [data-act="undrain"]');
    await page.waitForSelector('tr[data-host="hv1"] [data-status="alive"]', { timeout: 30_000 }).catch(async (err: unknown) => {
      // What the page shows (its row, its notice) and what the API says, to tell a stale page from a host that died.
      const row = await page.$eval('tr[data-host="hv1"]', (e) => e.outerHTML).catch(() => '(no row)');
      const shown = await page.$eval('#notice', (e) => e.textContent ?? '').catch(() => '');
      const api = (await c.client().hosts.list()).find((h) => h.name === 'hv1');
      throw new Error(`hv1 not shown alive after undrain: row ${row}; notice "${shown}"; API says ${JSON.stringify(api)}`, { cause: err });
    });
    expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(375);
    await shot(page, '9-admin-hosts-375px');
    // The view follows presence, which no request changes: the agent stops, the row turns dead; it starts, alive.
    // No VM is left on hv1 first, so no VM's event (a failover) reloads the page instead.
    const alice = c.client(tokens.alice);
    await Promise.all(['alice-secret', 'alice-live'].map((n) => alice.vms.delete(n)));
    await until('alice\'s VMs gone', async () => (await alice.vms.list()).length === 0, 60_000);
    await agent.stop();
    await page.waitForSelector('tr[data-host="hv1"] [data-status="dead"]', { timeout: 30_000 });
    agent = c.spawn('host');
    await agent.ready;
    await page.waitForSelector('tr[data-host="hv1"] [data-status="alive"]', { timeout: 30_000 });
    await click(page, '#logout');
    await page.waitForSelector('#token');
    expect(await page.evaluate('sessionStorage.getItem("ucloud.token")')).toBeNull();
    await ctx.close();
  }, 240_000);

  it('no page had a console error, an uncaught exception or a CSP violation, and no URL held a token', () => {
    console.log(`web.test screenshots (${ARTIFACTS}):\n  ${web.shots.join('\n  ')}`);
    expect(web.problems).toEqual([]);
    expect(web.urls.length).toBeGreaterThan(10);
    expect(web.urls.filter((u) => Object.values(tokens).some((t) => u.includes(t)))).toEqual([]);
  });
});
