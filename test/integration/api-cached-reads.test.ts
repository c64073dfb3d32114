import { Agent, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CachedReads } from '../../src/api/cached-reads.js';
import type { Api } from '../../src/api/context.js';
import { buildApi } from '../../src/api/server.js';
import { silentLogger } from '../../src/common/logger.js';
import { MetricsRegistry } from '../../src/common/metrics.js';
import { QuotaManager } from '../../src/managers/quotas.js';
import { TokenCache } from '../../src/managers/token-cache.js';
import { hashToken, UserManager } from '../../src/managers/users.js';
import { TestCluster, until } from '../helpers/cluster.js';

// `vm show` and `vm list` are answered below Fastify (src/api/cached-reads.ts)
// when the token cache knows the caller and the caches hold the answer; every
// other request goes on to Fastify. What a client relies on: whichever path
// answers, the answer is the one Fastify gives (status, body, headers), the
// rate limit counts each request once, and the request metrics count it.
// `api.inject` goes straight into Fastify, so it is the reference here; the
// same requests over real HTTP take the cached path where they can.

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

describe('cached reads answered below Fastify (real etcd, real HTTP)', () => {
  let c: TestCluster;
  let api: Api;
  let users: UserManager;
  let port = 0;
  const registry = new MetricsRegistry();
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const tokens: Record<string, string> = {};
  const ids: Record<string, string> = {};
  const serve = vi.spyOn(CachedReads.prototype, 'serve');

  /** Over HTTP, and whether the cached path answered it. */
  const http = (path: string, token: string | undefined, method = 'GET', body?: string) =>
    new Promise<Answer & { cached: boolean }>((resolve, reject) => {
      const before = serve.mock.results.length;
      const headers: Record<string, string> = { ...(token === undefined ? {} : { authorization: `Bearer ${token}` }), ...(body ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) } : {}) };
      const req = request({ host: '::1', port, path, method, agent, headers }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => {
          const calls = serve.mock.results.slice(before);
          expect(calls).toHaveLength(1);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, cached: calls[0]!.value === true });
        });
      });
      req.on('error', reject);
      req.end(body);
    });
  /** Through Fastify alone. */
  const fastify = async (path: string, token: string | undefined): Promise<Answer> => {
    const r = await api.inject({ method: 'GET', url: path, headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
    return { status: r.statusCode, headers: r.headers as Answer['headers'], body: r.body };
  };
  /** A list's `next` names its list and position and when it was issued: the issue second may differ between two answers. */
  const comparable = (a: Answer) => {
    let body: unknown = a.body;
    try {
      const parsed = JSON.parse(a.body) as { next?: string };
      if (parsed.next) parsed.next = JSON.stringify({ ...(JSON.parse(Buffer.from(parsed.next, 'base64url').toString()) as object), t: 0 });
      body = parsed;
    } catch {
      // not JSON: compared as it is
    }
    return { status: a.status, type: a.headers['content-type'], limit: a.headers['x-ratelimit-limit'], body };
  };
  const metric = async (route: string, status: number) => {
    const line = (await registry.metrics()).split('\n').find((l) => l.startsWith(`ucloud_api_requests_total{method="GET",route="${route}",status="${status}"}`));
    return Number(line?.split(' ').pop() ?? 0);
  };

  beforeAll(async () => {
    c = await TestCluster.start();
    await c.bootstrap({ guestImage: c.tinyImage() });
    const cache = new TokenCache(c.store, silentLogger);
    users = new UserManager(c.store, cache);
    for (const name of ['alice', 'bob', 'dave', 'erin']) tokens[name] = (await users.create(name, 'user')).token;
    // dave's and erin's own rates, there before the API starts (its overrides cache lists them): 4 a minute, and none.
    const quotas = new QuotaManager(c.store, { vms: 10, vcpus: 10, ram: 2 ** 40, disk: 2 ** 40, networks: 10, images: 10, files: 0, rate: 0 });
    await quotas.set('dave', { rate: 4 });
    await quotas.set('erin', { rate: 0 });
    api = buildApi({ ...c.managers(), users }, silentLogger, { tokens: cache, web: false, rateLimit: { perWindow: 10_000 }, metrics: registry });
    await api.listen({ host: '::1', port: 0 });
    port = (api.server.address() as AddressInfo).port;
    tokens.admin = c.adminToken;
    for (const t of Object.values(tokens)) await until('the token cache knows the token', () => users.authenticateCached(hashToken(t)) !== undefined, 10_000);
    for (const name of ['web1', 'web2', 'web3']) {
      const made = await http('/v1/vms', tokens.alice, 'POST', JSON.stringify({ name, image: 'ucloud-test', cpu: 1, ram: '128MiB', disk: '1GiB' }));
      expect(made.status).toBe(201);
      ids[name] = (JSON.parse(made.body) as { id: string }).id;
    }
  }, 60_000);
  afterAll(async () => {
    serve.mockRestore();
    agent.destroy();
    await api?.close();
    await c?.stop();
  });

  it('a write is read back at once through the cached path (read-your-writes)', async () => {
    const made = await http('/v1/vms', tokens.bob, 'POST', JSON.stringify({ name: 'ryw', image: 'ucloud-test', cpu: 1, ram: '128MiB', disk: '1GiB' }));
    expect(made.status).toBe(201);
    const shown = await http('/v1/vms/ryw', tokens.bob);
    expect([shown.status, shown.cached]).toEqual([200, true]);
    expect(JSON.parse(shown.body)).toEqual(JSON.parse(made.body));
    const listed = await http('/v1/vms', tokens.bob);
    expect(listed.cached).toBe(true);
    expect((JSON.parse(listed.body) as { items: { name: string }[] }).items.map((v) => v.name)).toEqual(['ryw']);
  });

  it('answers what Fastify answers, on the cached path where it can and through Fastify for everything else', async () => {
    const page1 = JSON.parse((await fastify('/v1/vms?limit=2', tokens.alice)).body) as { next: string };
    const cases: [string, string | undefined, 'cached' | 'fastify'][] = [
      ['/v1/vms/web1', tokens.alice, 'cached'],
      [`/v1/vms/${ids.web2}`, tokens.alice, 'cached'],
      [`/v1/vms/${ids.web3}`, tokens.admin, 'cached'],
      ['/v1/vms', tokens.alice, 'cached'],
      ['/v1/vms?', tokens.alice, 'cached'],
      ['/v1/vms?limit=2', tokens.alice, 'cached'],
      [`/v1/vms?limit=2&cursor=${page1.next}`, tokens.alice, 'cached'],
      ['/v1/vms?all=true&limit=3', tokens.admin, 'cached'],
      ['/v1/vms?owner=alice', tokens.admin, 'cached'],
      // decoded, refused, not found or not ours: Fastify's answers, errors and all
      ['/v1/vms/%77eb1', tokens.alice, 'fastify'],
      ['/v1/vms/nope', tokens.alice, 'fastify'],
      ['/v1/vms/web1', tokens.bob, 'fastify'],
      [`/v1/vms/${ids.web1}`, tokens.bob, 'fastify'],
      ['/v1/vms/web1/', tokens.alice, 'fastify'],
      ['/v1/vms/Web1', tokens.alice, 'fastify'],
      [`/v1/vms/${'a'.repeat(300)}`, tokens.alice, 'fastify'],
      ['/v1/vms/web1', undefined, 'fastify'],
      ['/v1/vms/web1', 'uc_not-a-token', 'fastify'],
      ['/v1/vms?all=true', tokens.alice, 'fastify'],
      ['/v1/vms?owner=bob', tokens.alice, 'fastify'],
      ['/v1/vms?limit=0', tokens.alice, 'fastify'],
      ['/v1/vms?limit=x', tokens.alice, 'fastify'],
      ['/v1/vms?limit=1&limit=2', tokens.alice, 'fastify'],
      ['/v1/vms?limit=+1', tokens.alice, 'fastify'],
      ['/v1/vms?cursor=bogus', tokens.alice, 'fastify'],
      [`/v1/vms?cursor=${page1.next}`, tokens.bob, 'fastify'],
      ['/v1/vms?bogus=1', tokens.alice, 'fastify'],
      ['/v1/vms?all', tokens.admin, 'fastify'],
    ];
    for (const [path, token, how] of cases) {
      const ours = await http(path, token);
      const theirs = await fastify(path, token);
      expect({ path, ...comparable(ours) }).toEqual({ path, ...comparable(theirs) });
      expect({ path, how: ours.cached ? 'cached' : 'fastify' }).toEqual({ path, how });
      expect(ours.headers['content-length']).toBe(String(Buffer.byteLength(ours.body)));
    }
    // Dot segments are plain characters that nothing on a real connection normalises (inject's URL parsing
    // would, so they are not compared with it): the name's schema refuses them, through Fastify, with a code.
    for (const [path, token] of [['/v1/vms/..', tokens.alice], ['/v1/vms/.', tokens.alice], ['/v1/vms/..?owner=alice', tokens.bob]] as const) {
      const r = await http(path, token);
      expect({ path, status: r.status, cached: r.cached, code: (JSON.parse(r.body) as { code: string }).code }).toEqual({ path, status: 400, cached: false, code: 'INVALID_NAME' });
    }
    // a request with a body, and a HEAD, are Fastify's too
    expect((await http('/v1/vms/web1', tokens.alice, 'GET', '{}')).cached).toBe(false);
    const head = await http('/v1/vms/web1', tokens.alice, 'HEAD');
    expect([head.status, head.cached]).toEqual([200, false]);
  });

  it('counts each request once against the rate limit, whichever path answers, and refuses the one over it', async () => {
    const remaining: [string, boolean][] = [];
    for (const via of ['http', 'fastify', 'http', 'fastify'] as const) {
      const r = via === 'http' ? await http('/v1/vms', tokens.dave) : { ...(await fastify('/v1/vms', tokens.dave)), cached: false };
      expect(r.status).toBe(200);
      remaining.push([String(r.headers['x-ratelimit-remaining']), r.cached]);
    }
    expect(remaining).toEqual([
      ['3', true],
      ['2', false],
      ['1', true],
      ['0', false],
    ]);
    const over = await http('/v1/vms', tokens.dave);
    expect([over.status, over.cached, (JSON.parse(over.body) as { code: string }).code]).toEqual([429, false, 'RATE_LIMITED']);
    expect(over.headers['retry-after']).toBeDefined();
    // A rate of 0 lets nothing through, not even the first request of a window.
    const none = await http('/v1/vms', tokens.erin);
    expect([none.status, none.cached, none.headers['x-ratelimit-limit']]).toEqual([429, false, '0']);
  });

  it('a revoked token reads nothing more on the cached path once the token cache hears of it', async () => {
    const { token, info } = await users.issueToken('alice', { name: 'second' });
    await until('the token cache knows the token', () => users.authenticateCached(hashToken(token)) !== undefined, 10_000);
    expect((await http('/v1/vms/web1', token)).cached).toBe(true);
    await users.revokeToken('alice', info.id);
    await until('the token cache forgets the token', () => users.authenticateCached(hashToken(token)) === undefined, 10_000);
    // Same connection (one socket, kept alive), which still remembers the header's hash.
    const after = await http('/v1/vms/web1', token);
    expect([after.status, after.cached, (JSON.parse(after.body) as { code: string }).code]).toEqual([401, false, 'UNAUTHENTICATED']);
  });

  it('counts what it answers in the request metrics, as Fastify does', async () => {
    const before = await metric('/v1/vms/:ref', 200);
    for (let i = 0; i < 7; i++) expect((await http('/v1/vms/web1', tokens.alice)).cached).toBe(true);
    expect((await fastify('/v1/vms/web1', tokens.alice)).status).toBe(200);
    expect(await metric('/v1/vms/:ref', 200)).toBe(before + 8);
  });
});

describe('cached reads: what a route may declare', () => {
  const answer = () => Buffer.from('{}');
  const deps = { users: {} as UserManager, log: silentLogger, ready: () => true, authorize: true };

  it("takes the route's own action and refuses a route it would skip hooks of, or one that does not exist", () => {
    const plain = new CachedReads(deps);
    plain.noteRoute({ method: 'GET', url: '/v1/things/:name', config: { action: 'vm:read' }, handler: answer } as never);
    plain.add('/v1/things/:name', answer);
    expect(() => plain.prepare()).not.toThrow();

    const hooked = new CachedReads(deps);
    hooked.noteRoute({ method: 'GET', url: '/v1/things/:name', config: { action: 'vm:read' }, handler: answer, onRequest: [() => undefined] } as never);
    hooked.add('/v1/things/:name', answer);
    expect(() => hooked.prepare()).toThrow(/hooks of its own \(onRequest\)/);

    const missing = new CachedReads(deps);
    missing.noteRoute({ method: 'POST', url: '/v1/things/:name', config: { action: 'vm:read' }, handler: answer } as never);
    missing.add('/v1/things/:name', answer);
    expect(() => missing.prepare()).toThrow(/no GET route/);
  });
});
