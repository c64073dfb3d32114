import type { Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HostManager } from '../../src/managers/hosts.js';
import type { Vm } from '../../src/model/index.js';
import { BrowserSession, click, logIn, redrawnBy } from '../helpers/browser.js';
import { TestCluster } from '../helpers/cluster.js';
import { vmRecord, writeVms } from '../helpers/vm-record.js';

// An admin's dashboard on a fleet of hosts: the hosts view shows a page at a
// time, and no other view reads the hosts — not on a live update, not for the
// migrate field of each VM row (5,000 hosts in 100 rows would be half a
// million options), which reads them when it is focused. Hosts are registered
// and made alive through their presence keys, a VM is written as running on
// one of them: no agent, no QEMU (real API daemon, etcd, Chromium).

const HOSTS = 230;
const hostOf = (i: number) => `hv-${String(i).padStart(3, '0')}`;

describe('the web dashboard on a fleet of hosts (real API daemon, etcd, Chromium)', () => {
  let c: TestCluster;
  let web: BrowserSession;

  beforeAll(async () => {
    c = await TestCluster.start();
    await c.bootstrap({ guestImage: c.tinyImage(), hosts: [] });
    const hosts = new HostManager(c.store);
    for (let i = 0; i < HOSTS; i++) await hosts.add(hostOf(i), `fd00::${i + 1}`, { cpu: 8, ramBytes: 16 * 2 ** 30, diskBytes: 2 ** 40 });
    for (const i of [0, 1, 2, 3]) await c.announceHost(hostOf(i), 60_000);
    await hosts.setDrained(hostOf(2), true);
    const running = (name: string, host: string): Vm => ({ ...vmRecord('admin', name), host, status: 'running', observedGeneration: 1 });
    await writeVms(c.store, [running('wv1', hostOf(0)), running('wv2', hostOf(1))]);
    await c.spawn('api').ready;
    web = await BrowserSession.launch('web-hosts');
  }, 300_000);
  afterAll(async () => {
    await web?.close();
    await c?.stop();
  });

  const hostsShown = async (page: Page, n: number) => (await page.waitForSelector(`#host-pager [data-page="${n}"]`, { timeout: 30_000 }), page.$$eval('tr[data-host]', (rows) => rows.map((r) => r.getAttribute('data-host'))));
  const disabled = (page: Page, act: string) => page.$eval(`[data-act="${act}"]`, (b) => (b as unknown as { disabled: boolean }).disabled);
  /** The URLs of host lists the page asked for since `from` (an index into the session's URLs). */
  const hostReads = (from: number) => web.urls.slice(from).filter((u) => new URL(u).pathname === '/v1/hosts');

  it('the hosts view pages 230 hosts by 100, in name order, forward and back, each with its state', async () => {
    const { ctx, page } = await web.newPage('admin');
    await page.goto(`${c.apiUrl}/#/hosts`);
    await logIn(page, c.adminToken);
    const names = Array.from({ length: HOSTS }, (_, i) => hostOf(i));
    expect(await hostsShown(page, 1)).toEqual(names.slice(0, 100));
    const state = (h: string) => page.$eval(`tr[data-host="${h}"] [data-status]`, (e) => e.getAttribute('data-status'));
    expect([await state(hostOf(0)), await state(hostOf(2)), await state(hostOf(4))]).toEqual(['alive', 'drained', 'dead']);
    expect([await disabled(page, 'hosts-previous'), await disabled(page, 'hosts-next')]).toEqual([true, false]);
    await click(page, '[data-act="hosts-next"]');
    expect(await hostsShown(page, 2)).toEqual(names.slice(100, 200));
    await click(page, '[data-act="hosts-next"]');
    expect(await hostsShown(page, 3)).toEqual(names.slice(200));
    expect([await disabled(page, 'hosts-previous'), await disabled(page, 'hosts-next')]).toEqual([false, true]);
    await web.shot(page, 'hosts-page-3');
    await click(page, '[data-act="hosts-previous"]');
    expect(await hostsShown(page, 2)).toEqual(names.slice(100, 200));
    // Every read asked for one page of the API's default size, never the whole list.
    for (const u of hostReads(0)) expect(new URL(u).searchParams.get('limit'), u).toBe('100');
    await ctx.close();
  }, 120_000);

  it('the VMs view reads no host on load or on a live update; the migrate field reads them when focused and offers only hosts the VM can go to; what is typed survives a redraw', async () => {
    const { ctx, page } = await web.newPage('admin');
    const from = web.urls.length;
    await page.goto(`${c.apiUrl}/`);
    await logIn(page, c.adminToken);
    const row = 'tr[data-vm="wv1"]';
    const field = `${row} .migrate input`;
    await page.waitForSelector(field, { timeout: 30_000 });
    await redrawnBy(page, row, () => c.client().networks.create('redraw1'));
    expect(hostReads(from), 'hosts read without being shown or asked for').toEqual([]);
    expect(await page.$$eval('#migrate-hosts option', (o) => o.length)).toBe(0);

    await click(page, field);
    await page.waitForSelector('#migrate-hosts option', { timeout: 30_000 });
    // Alive and not drained, and not where it runs: hv-001 and hv-003; not hv-000 (its own), hv-002 (drained), the dead ones.
    expect(await page.$$eval('#migrate-hosts option', (o) => o.map((x) => x.getAttribute('value')))).toEqual([hostOf(1), hostOf(3)]);
    expect(hostReads(from).length).toBeGreaterThan(0);

    await page.type(field, hostOf(3));
    await redrawnBy(page, row, () => c.client().networks.create('redraw2'));
    expect(await page.$eval(field, (e) => (e as unknown as { value: string }).value)).toBe(hostOf(3));

    // Another VM's field, on hv-001: its own suggestions (hv-000 now, not hv-001).
    const offered = () => page.$$eval('#migrate-hosts option', (o) => o.map((x) => x.getAttribute('value')).join(','));
    await click(page, 'tr[data-vm="wv2"] .migrate input');
    await page.waitForFunction(`[...document.querySelectorAll('#migrate-hosts option')].map((x) => x.value).join(',') === ${JSON.stringify(`${hostOf(0)},${hostOf(3)}`)}`, { timeout: 30_000 }).catch(async (err: unknown) => {
      throw new Error(`wv2's field offers ${await offered()}`, { cause: err });
    });
    await ctx.close();
  }, 120_000);

  it('no page had a console error, an uncaught exception or a CSP violation', () => {
    expect(web.problems).toEqual([]);
  });
});
