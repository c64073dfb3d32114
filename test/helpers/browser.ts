import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import puppeteer, { type Browser, type BrowserContext, type Page } from 'puppeteer-core';
import { expect } from 'vitest';
import { ROOT } from './cluster.js';
import { pngStats } from './png.js';

// The dashboard's tests drive Debian's headless Chromium (never a downloaded
// one) and keep what a user would have seen: each step's screenshot, checked
// for non-blank content, and every console error, uncaught exception, CSP
// violation and URL the pages asked for.

const CHROMIUM = process.env.UCLOUD_CHROMIUM ?? '/usr/bin/chromium';

export class BrowserSession {
  /** Console errors, uncaught exceptions and CSP violations of every page, each with the page's user. */
  readonly problems: string[] = [];
  /** Every URL any page asked for: no token may ever be in one. */
  readonly urls: string[] = [];
  readonly shots: string[] = [];

  private constructor(
    private readonly browser: Browser,
    /** Where screenshots go (gitignored test-artifacts/<name>). */
    readonly artifacts: string,
  ) {}

  static async launch(name: string): Promise<BrowserSession> {
    const artifacts = join(ROOT, 'test-artifacts', name);
    await mkdir(artifacts, { recursive: true });
    const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'] });
    return new BrowserSession(browser, artifacts);
  }

  close(): Promise<void> {
    return this.browser.close();
  }

  /** A fresh browser profile (nothing shared: sessionStorage, cache) with a page that reports its problems; dialogs are accepted. */
  async newPage(who: string, width = 1280): Promise<{ ctx: BrowserContext; page: Page }> {
    const ctx = await this.browser.createBrowserContext();
    const page = await ctx.newPage();
    await page.setViewport({ width, height: 860 });
    await page.evaluateOnNewDocument(`document.addEventListener('securitypolicyviolation', (e) => console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI))`);
    page.on('console', (msg) => {
      if (msg.type() === 'error') this.problems.push(`${who}: console error: ${msg.text()} (${msg.location().url ?? ''})`);
    });
    page.on('pageerror', (err) => this.problems.push(`${who}: page error: ${(err as Error).message}`));
    page.on('requestfailed', (r) => {
      // The event stream is cut when a page closes or logs out; anything else failing is a problem.
      if (!r.url().includes('/v1/events/stream')) this.problems.push(`${who}: request failed: ${r.url()} ${r.failure()?.errorText}`);
    });
    page.on('request', (r) => this.urls.push(r.url()));
    page.on('dialog', (d) => void d.accept());
    return { ctx, page };
  }

  /** Saves the page as `<name>.png` and checks it is not blank: text, buttons and badges in several colours. */
  async shot(page: Page, name: string): Promise<void> {
    const png = Buffer.from(await page.screenshot({ type: 'png' }));
    await writeFile(join(this.artifacts, `${name}.png`), png);
    const s = pngStats(png);
    expect(s.colours, `${name}.png colours`).toBeGreaterThan(20);
    expect(s.nonBackground, `${name}.png share of pixels not the background`).toBeGreaterThan(0.03);
    this.shots.push(`${name}: ${s.width}x${s.height}, ${s.colours} colours, ${(s.nonBackground * 100).toFixed(1)}% not background`);
  }
}

/**
 * Runs `cause` (something that makes an event the page follows) and waits
 * until a live update has redrawn `row`: a mark set on it first is taken off
 * by the redraw (the list keeps only the attributes it draws).
 */
export async function redrawnBy(page: Page, row: string, cause: () => Promise<unknown>): Promise<void> {
  await page.$eval(row, (e) => e.setAttribute('data-marked', ''));
  await cause();
  await page.waitForFunction(`!document.querySelector(${JSON.stringify(row)}).hasAttribute('data-marked')`, { timeout: 30_000 });
}

/** Logs in with a token and waits for the live event stream. */
export async function logIn(page: Page, token: string): Promise<void> {
  await page.waitForSelector('#token', { timeout: 60_000 }).catch(async (err: unknown) => {
    // What the page showed instead: the failure's only witness in a CI log.
    throw new Error(`no login form at ${page.url()}: ${(await page.evaluate('document.documentElement.outerHTML.slice(0, 2000)').catch(() => '?')) as string}`, { cause: err });
  });
  await page.type('#token', token);
  await click(page, '#login');
  await page.waitForSelector('#live.ok', { timeout: 30_000 });
}

/**
 * Clicks what `selector` finds once it is shown and enabled, as a user would
 * (the mouse, at its place on screen), within `timeout` ms. Not Puppeteer's
 * Locator: it waits on the element it found first, and when a live update
 * redraws the list meanwhile, that element is detached and the click times
 * out though the new one is there (5 of 40 clicks in a reproduction). Here each
 * try finds the element again; a try fails before its click, never after (no
 * timer runs around it), or when the click reached no element (the page was
 * redrawn under the mouse), so nothing is clicked twice. A click that reached
 * another element fails the test.
 */
export async function click(page: Page, selector: string, timeout = 30_000): Promise<void> {
  const until = Date.now() + timeout;
  for (;;) {
    const found = await page.waitForFunction(
      `(() => { const e = document.querySelector(${JSON.stringify(selector)}); return e && !e.disabled && e.getClientRects().length > 0 ? e : null; })()`,
      { timeout: Math.max(1, until - Date.now()), polling: 50 },
    );
    const el = found.asElement()!;
    let hit: string;
    try {
      // Where the press and release went: a redraw between them loses the click (tried again); one that
      // reached another element may have done something else, and fails the test rather than hide in a retry.
      await el.evaluate(`document.addEventListener('click', (ev) => { window.__clickedOn = ev.target; }, { capture: true, once: true }); window.__clickedOn = null`);
      // Detached since it was found: this throws before it scrolls or clicks.
      await el.click();
    } catch (err) {
      await found.dispose();
      if (Date.now() >= until) throw err;
      continue;
    }
    try {
      hit = await el.evaluate((e) => {
        const on = (globalThis as unknown as { __clickedOn: Parameters<typeof e.contains>[0] }).__clickedOn;
        return on === null ? 'none' : e.contains(on) ? 'this' : ((on as { outerHTML?: string }).outerHTML?.slice(0, 200) ?? String(on));
      });
    } catch {
      // The page went (a navigation): the click did land; never clicked again.
      hit = 'this';
    } finally {
      await found.dispose();
    }
    if (hit === 'this') return;
    if (hit !== 'none') throw new Error(`the click on ${selector} reached another element: ${hit}`);
    if (Date.now() >= until) throw new Error(`the click on ${selector} reached no element within ${timeout} ms`);
  }
}
