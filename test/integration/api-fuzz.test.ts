import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Api } from '../../src/api/context.js';
import { buildApi } from '../../src/api/server.js';
import { isErrorCode } from '../../src/common/errors.js';
import { silentLogger } from '../../src/common/logger.js';
import { Kinds } from '../../src/store/keys.js';
import { TestCluster } from '../helpers/cluster.js';
import { collectServedRoutes } from '../helpers/served-routes.js';

interface Route {
  method: string;
  /** With `:param` placeholders. */
  path: string;
}

/**
 * Every route of the API, read from Fastify's own route tree (so a route added
 * later is fuzzed without anyone listing it here). A node like `/:ref|:owner`
 * holds two parameters at one position; either name will do for fuzzing.
 */

/** encodeURIComponent throws on a lone surrogate: such strings cannot travel in a URL at all. */
const wellFormed = (s: string) => !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s);

function sshPublicKey(dir: string): string {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'alice@laptop', '-f', join(dir, 'fuzz-key')]);
  return readFileSync(join(dir, 'fuzz-key.pub'), 'utf8').trim();
}
/** A valid body for routes that need one, so it is the path parameter that gets judged. */
const BODIES: Record<string, object> = { '/v1/vms/:ref/resize': { cpu: 1 }, '/v1/vms/:ref': { ha: false }, '/v1/vms/:ref/recover': {}, '/v1/hosts/:name': { cpu: 1 } };

/**
 * Hostile path segments, as they travel in the URL (some deliberately not
 * encoded, or badly encoded): slashes, dot segments, NUL and other controls,
 * ESC sequences, C1, DEL, unicode look-alikes, prototype names, 10 kB.
 */
const HOSTILE = [
  '%2F', 'a%2Fb', 'admin%2Fucloud-test%2Fx', 'a%2F', '%2Fa', '%2F..%2F..%2Fetc%2Fpasswd', '...', '..%2F', '.%00', '..%00',
  '%00', 'a%00b', 'web1%00', '%1B%5B31m', '%1B%5D0%3Bpwned%07', '%C2%9B31m', '%7F', '%0D%0AX-Injected%3A%201', '%09', '%20', 'web1%20',
  '__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', '__defineGetter__',
  encodeURIComponent('ñame'), encodeURIComponent('wéb1'), encodeURIComponent('😀'), encodeURIComponent('Ｗeb1'), encodeURIComponent('web\u202e1'), encodeURIComponent('日本'),
  'x'.repeat(10_240), encodeURIComponent('é'.repeat(5_000)), 'a'.repeat(64), 'a'.repeat(200),
  '%', '%zz', '%E0%A4%A', '%FF', '%C0%AF', 'A', 'Web1', '-a', '1abc', '0', '_', 'a_b', 'a.b', 'a~b', 'a;b', 'a,b', "a'b", 'a%22b', '%3Cscript%3E',
  '00000000-0000-0000-0000-00000000000G', '0E7C1F2A-8A51-4A39-9B3E-5C1E0C2D9F10',
];

describe('API path parameters under fuzzing (real etcd)', () => {
  let c: TestCluster;
  let api: Api;
  let aliceToken = '';
  let routes: Route[] = [];
  /** Names that exist: a fuzzed value equal to one is not an attack but a real request. */
  const existing = new Set(['web1', 'lab', 'laptop', 'ucloud-test', 'admin', 'alice']);

  const revision = async () => (await c.store.list(Kinds.meta, 'no-such-prefix/')).revision;

  /** The route with parameter number `which` set to `segment` (as it travels in the URL) and the others valid. */
  const urlFor = (route: Route, which: number, segment: string) => {
    let i = 0;
    const valid = ['admin', 'ucloud-test'];
    return route.path.replace(/:[^/]+/g, () => (i++ === which ? segment : valid[Math.min(i - 1, 1)]!));
  };
  const paramCount = (route: Route) => (route.path.match(/:[^/]+/g) ?? []).length;

  const send = (route: Route, url: string, token = aliceToken) =>
    api.inject({ method: route.method as 'GET', url, headers: { authorization: `Bearer ${token}` }, ...(BODIES[route.path] ? { payload: BODIES[route.path] } : {}) });

  /** A 4xx that names a catalogue code: never a 5xx, never a bare Fastify error. */
  const expectRefused = (res: Awaited<ReturnType<typeof send>>, what: string) => {
    let body: { code?: unknown; message?: unknown } = {};
    try {
      body = res.json();
    } catch {
      // asserted below
    }
    const ok = res.statusCode >= 400 && res.statusCode < 500 && isErrorCode(body.code) && typeof body.message === 'string';
    if (!ok) expect.fail(`${what} answered ${res.statusCode} ${res.body.slice(0, 300)}`);
  };

  beforeAll(async () => {
    c = await TestCluster.start();
    await c.bootstrap({ guestImage: c.tinyImage() });
    const m = c.managers();
    aliceToken = (await m.users.create('alice', 'user')).token;
    api = buildApi(m, silentLogger);
    const served = collectServedRoutes(api, new Set(), { apiOnly: true });
    await api.ready();
    // Something to lose under every route: a VM, a network, a key, an image.
    const created = await Promise.all([
      api.inject({ method: 'POST', url: '/v1/networks', headers: { authorization: `Bearer ${aliceToken}` }, payload: { name: 'lab' } }),
      api.inject({ method: 'POST', url: '/v1/vms', headers: { authorization: `Bearer ${aliceToken}` }, payload: { name: 'web1', image: 'ucloud-test', cpu: 1, ram: '128MiB', disk: '1GiB' } }),
      api.inject({
        method: 'POST',
        url: '/v1/keys',
        headers: { authorization: `Bearer ${aliceToken}` },
        payload: { name: 'laptop', publicKey: sshPublicKey(c.dir) },
      }),
    ]);
    for (const r of created) expect(r.statusCode, r.body).toBeLessThan(300);
    routes = [...served].map((r) => {
      const [method, path] = r.split(' ');
      return { method: method!, path: path!.replace(/\{(\w+)\}/g, ':$1') };
    }).filter((r) => r.path.includes(':'));
  });
  afterAll(async () => {
    await api?.close();
    await c?.stop();
  });

  it('finds every route with a path parameter', () => {
    const names = routes.map((r) => `${r.method} ${r.path}`);
    expect(names).toEqual(
      expect.arrayContaining([
        'GET /v1/vms/:ref',
        'DELETE /v1/vms/:ref',
        'POST /v1/vms/:ref/start',
        'POST /v1/vms/:ref/stop',
        'POST /v1/vms/:ref/resize',
        'GET /v1/images/:ref',
        'DELETE /v1/images/:ref',
        'GET /v1/images/:owner/:name',
        'DELETE /v1/images/:owner/:name',
        'GET /v1/keys/:name',
        'DELETE /v1/keys/:name',
        'GET /v1/networks/:name',
        'DELETE /v1/networks/:name',
        'PATCH /v1/hosts/:name',
      ]),
    );
  });

  // As an admin, whom every route admits: a user is refused admin-only routes (403) before their parameters are read.
  it('a slash in a VM name is a 400 INVALID_NAME on every VM route, not a 500', async () => {
    const before = await revision();
    for (const route of routes.filter((r) => r.path.startsWith('/v1/vms/:ref'))) {
      const res = await send(route, urlFor(route, 0, 'a%2Fb'), c.adminToken);
      expect(res.statusCode, `${route.method} ${route.path}`).toBe(400);
      expect(res.json().code, `${route.method} ${route.path}: ${res.body}`).toBe('INVALID_NAME');
    }
    expect(await revision()).toBe(before);
  });

  it('hostile values in every path parameter of every route: 4xx with a code, and no write', async () => {
    const before = await revision();
    let sent = 0;
    for (const route of routes) {
      for (let p = 0; p < paramCount(route); p++) {
        for (const seg of HOSTILE) {
          expectRefused(await send(route, urlFor(route, p, seg)), `${route.method} ${urlFor(route, p, seg.slice(0, 40))}`);
          sent++;
        }
        // Dot segments (also %2E-encoded) are resolved by URL rules before routing (`/v1/images/./x` is `/v1/images/x`):
        // whatever route that lands on, never a 5xx, and (checked below) never a write.
        for (const seg of ['.', '..', '%2e', '%2E%2E', '.%2E', '%2e.']) {
          const res = await send(route, urlFor(route, p, seg));
          expect(res.statusCode, `${route.method} ${urlFor(route, p, seg)}`).toBeLessThan(500);
        }
      }
    }
    expect(sent).toBeGreaterThan(13 * HOSTILE.length);
    expect(await revision()).toBe(before);
  });

  it('random strings (fast-check) in every path parameter: 4xx with a code, and no write', async () => {
    const before = await revision();
    const evil = fc.constantFrom('/', '.', '..', '\0', '\x1b', '\x1b[2J', '\u009b', '\x7f', '%', '\\', '\u202e', '\ud83d\ude00', 'a', 'z', '0', '-', '_', ' ', '\n', '__proto__');
    const value = fc.oneof(
      { weight: 4, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
      { weight: 4, arbitrary: fc.array(evil, { maxLength: 12 }).map((xs) => xs.join('')) },
      { weight: 1, arbitrary: fc.tuple(fc.constantFrom('a', '%', '/', '\0'), fc.integer({ min: 64, max: 10_240 })).map(([ch, n]) => ch.repeat(n)) },
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...routes), fc.nat(1), value, async (route, which, v) => {
        fc.pre(wellFormed(v) && !existing.has(v));
        const p = which % paramCount(route);
        const res = await send(route, urlFor(route, p, encodeURIComponent(v)));
        expectRefused(res, `${route.method} ${route.path} with ${JSON.stringify(v.slice(0, 60))}`);
      }),
      { seed: 20261130, numRuns: 600 },
    );
    expect(await revision()).toBe(before);
  });

  it('also unauthenticated: hostile parameters never reach a 5xx before authentication answers', async () => {
    for (const route of routes) {
      const res = await api.inject({ method: route.method as 'GET', url: urlFor(route, 0, 'a%2Fb') });
      expect(res.statusCode).toBe(401);
    }
  });

  it('refuses control characters in new free text at the API (a file name to import from)', async () => {
    const before = await revision();
    const res = await api.inject({
      method: 'POST',
      url: '/v1/images',
      headers: { authorization: `Bearer ${aliceToken}` },
      payload: { name: 'evil', file: 'x\x1b]0;pwned\x07.qcow2', store: 'local' },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('VALIDATION_FAILED');
    expect(await revision()).toBe(before);
  });
});
