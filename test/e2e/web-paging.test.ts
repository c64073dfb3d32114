import type { Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Vm } from '../../src/model/index.js';
import { BrowserSession, click, logIn } from '../helpers/browser.js';
import { TestCluster } from '../helpers/cluster.js';
import { vmRecord, writeVms } from '../helpers/vm-record.js';

// The dashboard shows one page of VMs at a time, the API's (an admin's fleet can
// be 100,000 VMs: the page must not load them all). VM records are written
// straight into etcd, never placed (no scheduler runs), so no QEMU starts.

const COUNTS = { alice: 230, bob: 20 };
const nameOf = (i: number) => `vm-${String(i).padStart(3, '0')}`;

describe('the web dashboard pages the VM list (real API daemon, etcd, Chromium)', () => {
  let c: TestCluster;
  let web: BrowserSession;
  const tokens: Record<string, string> = {};

  beforeAll(async () => {
    c = await TestCluster.start();
    await c.bootstrap({ guestImage: c.tinyImage() });
    const m = c.managers();
    for (const u of Object.keys(COUNTS)) tokens[u] = (await m.users.create(u, 'user')).token;
    tokens.admin = c.adminToken;
    const records = Object.entries(COUNTS).flatMap(([owner, n]) => Array.from({ length: n }, (_, i) => vmRecord(owner, nameOf(i))));
    await writeVms(c.store, records);
    // alice holds more VMs than the default quota lets anyone create: one more is made from the API below.
    await c.spawn('api', { UCLOUD_QUOTA_VMS: '0' }).ready;
    web = await BrowserSession.launch('web-paging');
  }, 300_000);
  afterAll(async () => {
    await web?.close();
    await c?.stop();
  });

  /** The rows shown once the pager says page `n`: `owner/name` each. */
  const pageShown = async (page: Page, n: number) => {
    await page.waitForSelector(`#vm-pager [data-page="${n}"]`, { timeout: 30_000 });
    return page.$$eval('tr[data-vm]', (rows) => rows.map((r) => `${r.querySelector('td:nth-child(2)')?.textContent ?? ''}/${r.getAttribute('data-vm') ?? ''}`));
  };
  const namesShown = async (page: Page, n: number) => (await page.waitForSelector(`#vm-pager [data-page="${n}"]`, { timeout: 30_000 }), page.$$eval('tr[data-vm]', (rows) => rows.map((r) => r.getAttribute('data-vm'))));
  const disabled = (page: Page, act: string) => page.$eval(`[data-act="${act}"]`, (b) => (b as unknown as { disabled: boolean }).disabled);

  it("alice's 230 VMs: pages of 100, 100 and 30 in name order, forward and back; a VM created meanwhile shows on the page it falls on", async () => {
    const { ctx, page } = await web.newPage('alice');
    await page.goto(`${c.apiUrl}/`);
    await logIn(page, tokens.alice!);
    const expected = Array.from({ length: COUNTS.alice }, (_, i) => nameOf(i));
    expect(await namesShown(page, 1)).toEqual(expected.slice(0, 100));
    expect([await disabled(page, 'vms-previous'), await disabled(page, 'vms-next')]).toEqual([true, false]);
    await click(page, '[data-act="vms-next"]');
    expect(await namesShown(page, 2)).toEqual(expected.slice(100, 200));
    await click(page, '[data-act="vms-next"]');
    expect(await namesShown(page, 3)).toEqual(expected.slice(200));
    expect([await disabled(page, 'vms-previous'), await disabled(page, 'vms-next')]).toEqual([false, true]);
    await web.shot(page, 'alice-page-3');
    // Live: made through the API now, it sorts onto this page, which reloads with it (no reload of the document).
    await page.evaluate('window.__sameDocument = true');
    await c.client(tokens.alice).vms.create({ name: 'vm-zzz', image: 'ucloud-test', cpu: 1, ram: '128MiB', disk: '1GiB' });
    await page.waitForSelector('tr[data-vm="vm-zzz"]', { timeout: 30_000 });
    expect(await namesShown(page, 3)).toEqual([...expected.slice(200), 'vm-zzz']);
    expect(await page.evaluate('window.__sameDocument')).toBe(true);
    await click(page, '[data-act="vms-previous"]');
    expect(await namesShown(page, 2)).toEqual(expected.slice(100, 200));
    await click(page, '[data-act="vms-previous"]');
    expect(await namesShown(page, 1)).toEqual(expected.slice(0, 100));
    await ctx.close();
  }, 240_000);

  it('an admin pages every user\'s VMs, each once, with its owner; bob alone has one page and no pager', async () => {
    const { ctx, page } = await web.newPage('admin');
    await page.goto(`${c.apiUrl}/`);
    await logIn(page, tokens.admin!);
    const seen: string[] = [];
    for (let n = 1; ; n++) {
      const rows = await pageShown(page, n);
      expect(rows.length).toBeLessThanOrEqual(100);
      seen.push(...rows);
      if (await disabled(page, 'vms-next')) break;
      await click(page, '[data-act="vms-next"]');
    }
    const all = (await c.client().vms.list(true)).map((v: Vm) => `${v.owner}/${v.name}`);
    expect(all).toHaveLength(COUNTS.alice + 1 + COUNTS.bob);
    expect(seen).toEqual(all);
    await ctx.close();

    const bob = await web.newPage('bob');
    await bob.page.goto(`${c.apiUrl}/`);
    await logIn(bob.page, tokens.bob!);
    await bob.page.waitForFunction(`document.querySelectorAll('tr[data-vm]').length === ${COUNTS.bob}`, { timeout: 30_000 });
    expect(await bob.page.$('#vm-pager')).toBeNull();
    await bob.ctx.close();
  }, 240_000);

  it('no page had a console error, an uncaught exception or a CSP violation', () => {
    expect(web.problems).toEqual([]);
  });
});
