import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApi } from '../../src/api/server.js';
import { defaultWebDir } from '../../src/api/web.js';
import { silentLogger } from '../../src/common/logger.js';
import { TestCluster } from '../helpers/cluster.js';

// The dashboard's files as the API serves them (src/api/web.ts); the browser's view is test/e2e/web.test.ts.
describe('the web dashboard files (real etcd, the API in process)', () => {
  let c: TestCluster;
  beforeAll(async () => {
    c = await TestCluster.start();
    await c.bootstrap();
  });
  afterAll(async () => {
    await c?.stop();
  });

  const serve = async (web: string | false | undefined, url: string, headers: Record<string, string> = {}) => {
    const api = buildApi(c.managers(), silentLogger, web === undefined ? {} : { web });
    try {
      await api.ready();
      return await api.inject({ method: 'GET', url, headers });
    } finally {
      await api.close();
    }
  };

  it('serves the page without a token, under the strict CSP, and each built file at /web/<name>', async () => {
    const page = await serve(undefined, '/');
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('<script type="module" src="/web/app.js"></script>');
    expect(page.headers['content-security-policy']).toMatch(/^default-src 'self'; script-src 'self'; style-src 'self';.*connect-src 'self'.*frame-ancestors 'none'$/);
    expect(String(page.headers['content-security-policy'])).not.toMatch(/unsafe/);
    expect(page.headers).toMatchObject({ 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer', 'x-frame-options': 'DENY', 'cache-control': 'no-cache' });
    const css = await serve(undefined, '/web/app.css');
    expect([css.statusCode, css.headers['content-type']]).toEqual([200, 'text/css; charset=utf-8']);
    expect((await serve(undefined, '/web/app.css', { 'if-none-match': String(css.headers.etag) })).statusCode).toBe(304);
    // Only the files of the folder, by their plain name.
    for (const url of ['/web/nothing.js', '/web/..%2F..%2Fpackage.json', '/web/app.js.LEGAL.txt']) {
      const res = await serve(undefined, url);
      expect([url, res.statusCode, res.json().code]).toEqual([url, 404, 'NOT_FOUND']);
    }
    expect(defaultWebDir()).toBe(join(process.cwd(), 'dist', 'web'));
  });

  it('web = off: no dashboard, / is any unknown path (401 without a token); not built: 503 WEB_NOT_BUILT with its hint', async () => {
    const off = await serve(false, '/');
    expect([off.statusCode, off.json().code]).toEqual([401, 'UNAUTHENTICATED']);
    const unbuilt = await serve(mkdtempSync(join(tmpdir(), 'ucloud-web-')), '/');
    expect([unbuilt.statusCode, unbuilt.json().code]).toEqual([503, 'WEB_NOT_BUILT']);
    expect(unbuilt.json().hint).toContain('npm run build');
  });
});
