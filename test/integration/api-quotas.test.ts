import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApi } from '../../src/api/server.js';
import type { Api, Managers } from '../../src/api/context.js';
import { silentLogger } from '../../src/common/logger.js';
import { QuotaManager } from '../../src/managers/quotas.js';
import { TokenCache } from '../../src/managers/token-cache.js';
import { countUsage } from '../../src/managers/usage.js';
import { hashToken, UserManager } from '../../src/managers/users.js';
import { Keys, Kinds } from '../../src/store/keys.js';
import { TestCluster, until } from '../helpers/cluster.js';

const GiB = 2 ** 30;
const MiB = 2 ** 20;

describe('quotas and rate limits (real etcd)', () => {
  let c: TestCluster;
  let m: Managers;
  let api: Api;
  let admin = '';
  const tokens: Record<string, string> = {};

  const call = (a: Api, method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, token: string | undefined, payload?: unknown) =>
    a.inject({ method, url, ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}), ...(payload === undefined ? {} : { payload: payload as object }) });

  /** A new user with the given overrides set by the admin through the API. */
  const userWith = async (name: string, quota: Record<string, unknown>) => {
    tokens[name] = (await m.users.create(name, 'user')).token;
    const res = await call(api, 'PATCH', `/v1/users/${name}/quota`, admin, quota);
    expect(res.statusCode, res.body).toBe(200);
    return tokens[name]!;
  };
  const vm = (name: string, extra: Record<string, unknown> = {}) => ({ name, image: 'ucloud-test', cpu: 1, ram: '64MiB', disk: '1GiB', ...extra });
  /** The usage record as stored, and what the user's records add up to. */
  const usageAndTruth = async (user: string) => [(await c.store.get(Kinds.usage, Keys.usage(user)))?.value, await countUsage(c.store, user)];

  beforeAll(async () => {
    c = await TestCluster.start();
    await c.bootstrap({ guestImage: c.tinyImage() });
    m = { ...c.managers(), quotas: new QuotaManager(c.store, { vms: 100, vcpus: 400, ram: 1024 * GiB, disk: 10240 * GiB, networks: 20, images: 50, files: 0, rate: 0 }) };
    admin = c.adminToken;
    api = buildApi(m, silentLogger);
    await api.ready();
  });
  afterAll(async () => {
    await api.close();
    await c.stop();
  });

  it('refuses the VM past the bound with QUOTA_VMS_EXCEEDED, and a delete frees its place', async () => {
    const t = await userWith('alice', { vms: 3 });
    for (const n of ['a1', 'a2', 'a3']) expect((await call(api, 'POST', '/v1/vms', t, vm(n))).statusCode).toBe(201);
    const over = await call(api, 'POST', '/v1/vms', t, vm('a4'));
    expect(over.statusCode).toBe(409);
    expect(over.json()).toMatchObject({ code: 'QUOTA_VMS_EXCEEDED', details: { quota: 'vms', limit: 3, used: 3, wanted: 1 } });
    expect(over.json().hint).toMatch(/ucloud user quota/);
    expect(await c.store.get(Kinds.vmName, Keys.vmName('alice', 'a4'))).toBeUndefined();

    const shown = (await call(api, 'GET', '/v1/users/alice/quota', t)).json();
    expect(shown.vms).toEqual({ limit: 3, used: 3, source: 'user' });
    expect(shown.vcpus).toEqual({ limit: 400, used: 3, source: 'default' });

    expect((await call(api, 'DELETE', '/v1/vms/a1', t)).statusCode).toBe(204);
    expect((await call(api, 'POST', '/v1/vms', t, vm('a4'))).statusCode).toBe(201);
    const [stored, truth] = await usageAndTruth('alice');
    expect(stored).toEqual(truth);
    expect(stored).toMatchObject({ vms: 3, vcpus: 3, ram: 3 * 64 * MiB, disk: 3 * GiB });
  });

  it('lets exactly the bound through of 20 concurrent creates, and the usage record equals the VMs stored', async () => {
    const t = await userWith('carol', { vms: 5 });
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => call(api, 'POST', '/v1/vms', t, vm(`c${i}`, { cpu: 2 }))));
    const codes = answers.map((r) => r.statusCode);
    expect(codes.filter((s) => s === 201)).toHaveLength(5);
    expect(answers.filter((r) => r.statusCode !== 201).map((r) => r.json().code)).toEqual(Array(15).fill('QUOTA_VMS_EXCEEDED'));
    const [stored, truth] = await usageAndTruth('carol');
    expect(truth).toMatchObject({ vms: 5, vcpus: 10 });
    expect(stored).toEqual(truth);

    // Deleting them all at once gives everything back, exactly.
    const names = answers.filter((r) => r.statusCode === 201).map((r) => r.json().name as string);
    const deleted = await Promise.all(names.map((n) => call(api, 'DELETE', `/v1/vms/${n}`, t)));
    expect(deleted.map((r) => r.statusCode)).toEqual(Array(5).fill(204));
    expect((await usageAndTruth('carol'))[0]).toMatchObject({ vms: 0, vcpus: 0, ram: 0, disk: 0 });
  });

  it('bounds the sums of vCPUs, RAM and disk (OS disk and hdds), at creation and at resize', async () => {
    const tc = await userWith('vcpu-user', { vcpus: 4 });
    expect((await call(api, 'POST', '/v1/vms', tc, vm('v1', { cpu: 3 }))).statusCode).toBe(201);
    const cpuOver = await call(api, 'POST', '/v1/vms', tc, vm('v2', { cpu: 2 }));
    expect(cpuOver.json()).toMatchObject({ code: 'QUOTA_VCPUS_EXCEEDED', details: { quota: 'vcpus', limit: 4, used: 3, wanted: 2 } });
    expect((await call(api, 'POST', '/v1/vms', tc, vm('v2', { cpu: 1 }))).statusCode).toBe(201); // exactly 4

    const tr = await userWith('ram-user', { ram: '1GiB' });
    expect((await call(api, 'POST', '/v1/vms', tr, vm('r1', { ram: '768MiB' }))).statusCode).toBe(201);
    expect((await call(api, 'POST', '/v1/vms', tr, vm('r2', { ram: '512MiB' }))).json()).toMatchObject({ code: 'QUOTA_RAM_EXCEEDED', details: { quota: 'ram', limit: GiB } });
    expect((await call(api, 'POST', '/v1/vms', tr, vm('r2', { ram: '256MiB' }))).statusCode).toBe(201); // exactly 1 GiB

    const td = await userWith('disk-user', { disk: '3GiB' });
    expect((await call(api, 'POST', '/v1/vms', td, vm('d1', { hdd: ['1GiB'] }))).statusCode).toBe(201);
    expect((await call(api, 'POST', '/v1/vms', td, vm('d2', { hdd: ['512MiB'] }))).json()).toMatchObject({ code: 'QUOTA_DISK_EXCEEDED', details: { quota: 'disk', used: 2 * GiB } });
    // Growing a disk past the quota is refused too, and changes nothing.
    const grow = await call(api, 'POST', '/v1/vms/d1/resize', td, { disk: '3GiB' });
    expect(grow.json()).toMatchObject({ code: 'QUOTA_DISK_EXCEEDED' });
    expect((await m.vms.findByName('disk-user', 'd1'))?.diskBytes).toBe(GiB);
    expect((await call(api, 'POST', '/v1/vms', td, vm('d2'))).statusCode).toBe(201); // exactly 3 GiB
    for (const u of ['vcpu-user', 'ram-user', 'disk-user']) {
      const [stored, truth] = await usageAndTruth(u);
      expect(stored).toEqual(truth);
    }
  });

  it('bounds networks, also under 20 concurrent creates; a delete frees one', async () => {
    const t = await userWith('netty', { networks: 4 });
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => call(api, 'POST', '/v1/networks', t, { name: `n${i}` })));
    expect(answers.filter((r) => r.statusCode === 201)).toHaveLength(4);
    expect(answers.filter((r) => r.statusCode !== 201).map((r) => r.json().code)).toEqual(Array(16).fill('QUOTA_NETWORKS_EXCEEDED'));
    expect((await c.store.list(Kinds.network, Keys.networksOf('netty'))).items).toHaveLength(4);
    const [stored, truth] = await usageAndTruth('netty');
    expect(stored).toEqual(truth);
    const first = answers.find((r) => r.statusCode === 201)!.json().name as string;
    expect((await call(api, 'DELETE', `/v1/networks/${first}`, t)).statusCode).toBe(204);
    expect((await call(api, 'POST', '/v1/networks', t, { name: 'again' })).statusCode).toBe(201);
    expect((await call(api, 'POST', '/v1/networks', t, { name: 'more' })).json()).toMatchObject({ code: 'QUOTA_NETWORKS_EXCEEDED', details: { limit: 4, used: 4 } });
  });

  it('bounds images; removing one (what the imagescanner does) frees its place', async () => {
    const t = await userWith('imgy', { images: 1 });
    await m.files.put({ id: randomUUID(), owner: 'imgy', name: 'disk.qcow2', sizeBytes: 1, sha512: 'a'.repeat(128), mtimeMs: 0, seenAt: new Date().toISOString() });
    expect((await call(api, 'POST', '/v1/images', t, { name: 'one', file: 'disk.qcow2' })).statusCode).toBe(202);
    expect((await call(api, 'POST', '/v1/images', t, { name: 'two', file: 'disk.qcow2' })).json()).toMatchObject({ code: 'QUOTA_IMAGES_EXCEEDED', details: { quota: 'images', limit: 1 } });
    await m.images.removeRecord('imgy', 'one');
    expect((await call(api, 'POST', '/v1/images', t, { name: 'two', file: 'disk.qcow2' })).statusCode).toBe(202);
  });

  it('lets an admin lift a quota (unlimited) and put the default back (null); users see only their own', async () => {
    const t = await userWith('lifted', { vms: 1 });
    expect((await call(api, 'POST', '/v1/vms', t, vm('l1'))).statusCode).toBe(201);
    expect((await call(api, 'POST', '/v1/vms', t, vm('l2'))).json().code).toBe('QUOTA_VMS_EXCEEDED');
    const lifted = await call(api, 'PATCH', '/v1/users/lifted/quota', admin, { vms: 'unlimited', ram: '64GiB' });
    expect(lifted.json()).toMatchObject({ vms: { limit: 'unlimited', used: 1, source: 'user' }, ram: { limit: 64 * GiB, source: 'user' } });
    expect((await call(api, 'POST', '/v1/vms', t, vm('l2'))).statusCode).toBe(201);
    const back = await call(api, 'PATCH', '/v1/users/lifted/quota', admin, { vms: null });
    expect(back.json().vms).toEqual({ limit: 100, used: 2, source: 'default' });

    expect((await call(api, 'GET', '/v1/users/lifted/quota', t)).statusCode).toBe(200);
    // Another user's quota answers as if there were no such user.
    const other = await call(api, 'GET', '/v1/users/alice/quota', t);
    expect(other.statusCode).toBe(404);
    expect(other.json().code).toBe('USER_NOT_FOUND');
    expect((await call(api, 'PATCH', '/v1/users/lifted/quota', admin, { vms: 'lots' })).json().code).toBe('VALIDATION_FAILED');
    expect((await call(api, 'PATCH', '/v1/users/lifted/quota', admin, { ram: '12 parsecs' })).json().code).toBe('INVALID_SIZE');
    expect((await call(api, 'PATCH', '/v1/users/nobody/quota', admin, { vms: 1 })).statusCode).toBe(404);
  });

  it('counts a user from before quotas from their records, exactly', async () => {
    const t = await userWith('old-timer', { vms: 3 });
    for (const n of ['o1', 'o2']) expect((await call(api, 'POST', '/v1/vms', t, vm(n))).statusCode).toBe(201);
    await c.store.delete(Keys.usage('old-timer'));
    expect((await call(api, 'GET', '/v1/users/old-timer/quota', t)).json().vms.used).toBe(2);
    const answers = await Promise.all(Array.from({ length: 6 }, (_, i) => call(api, 'POST', '/v1/vms', t, vm(`o${i + 3}`))));
    expect(answers.filter((r) => r.statusCode === 201)).toHaveLength(1);
    const [stored, truth] = await usageAndTruth('old-timer');
    expect(stored).toEqual(truth);
  });

  it('counts a user from before quotas whose VM record fails its schema: that one left out, their creates go on', async () => {
    const t = await userWith('patchy', { vms: 5 });
    const made = [];
    for (const n of ['p1', 'p2']) {
      const res = await call(api, 'POST', '/v1/vms', t, vm(n));
      expect(res.statusCode).toBe(201);
      made.push(res.json().id as string);
    }
    const { ns, close } = c.store.connection();
    try {
      await ns.put(Keys.vm(made[1]!)).value(JSON.stringify({ id: made[1], owner: 'patchy' }));
      await c.store.delete(Keys.usage('patchy'));
      const res = await call(api, 'POST', '/v1/vms', t, vm('p3'));
      expect(res.statusCode, res.body).toBe(201);
      const [stored, truth] = await usageAndTruth('patchy');
      expect(stored).toEqual(truth);
      expect(truth?.vms).toBe(2);
    } finally {
      await ns.delete().key(Keys.vm(made[1]!));
      close();
    }
  });

  describe('rate limit', () => {
    let limited: Api;
    let users: UserManager;
    const L = 5;
    /** As the daemon has it: tokens are counted per user once its token cache knows them (else per address). */
    const known = (token: string) => until('the token cache knows the token', async () => users.authenticateCached(hashToken(token)) !== undefined, 10_000);
    beforeAll(async () => {
      const tokenCache = new TokenCache(c.store, silentLogger);
      users = new UserManager(c.store, tokenCache);
      limited = buildApi({ ...m, users }, silentLogger, { rateLimit: { perWindow: L }, tokens: tokenCache });
      await limited.ready();
    });
    afterAll(async () => {
      await limited.close();
    });

    it('lets exactly L requests of a token through, then 429 RATE_LIMITED with Retry-After; other tokens and /v1/health go on', async () => {
      const t = await userWith('chatty', {});
      const quiet = await userWith('quiet', {});
      await known(t);
      await known(quiet);
      for (let i = 0; i < L; i++) {
        const ok = await call(limited, 'GET', '/v1/whoami', t);
        expect(ok.statusCode).toBe(200);
        expect([ok.headers['x-ratelimit-limit'], ok.headers['x-ratelimit-remaining']]).toEqual([String(L), String(L - i - 1)]);
      }
      const refused = await call(limited, 'GET', '/v1/whoami', t);
      expect(refused.statusCode).toBe(429);
      expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
      expect(refused.json()).toMatchObject({ code: 'RATE_LIMITED', details: { limit: L } });
      expect(refused.json().hint).toMatch(/Retry-After/);
      expect(refused.json().message).toBeTruthy();
      expect((await call(limited, 'GET', '/v1/whoami', quiet)).statusCode).toBe(200);
      // Per user, not per token: a second token of the same user buys no more requests.
      const second = (await m.users.issueToken('chatty', { name: 'second' })).token;
      await known(second);
      expect((await call(limited, 'GET', '/v1/whoami', second)).statusCode).toBe(429);
      for (let i = 0; i < 3 * L; i++) expect((await call(limited, 'GET', '/v1/health', undefined)).statusCode).toBe(200);
    });

    it('counts requests without a valid token by IP', async () => {
      const answers = [];
      for (let i = 0; i <= L; i++) answers.push((await call(limited, 'GET', '/v1/whoami', i % 2 ? undefined : `uc_made-up-${i}`)).statusCode);
      expect(answers).toEqual([...Array(L).fill(401), 429]);
    });

    it('follows an admin override of one user: a higher rate, or none', async () => {
      const t = await userWith('busy', {});
      await known(t);
      for (let i = 0; i < L; i++) expect((await call(limited, 'GET', '/v1/whoami', t)).statusCode).toBe(200);
      expect((await call(limited, 'GET', '/v1/whoami', t)).statusCode).toBe(429);
      // Through the limited API: its answer waits until that API's cache of overrides has the change.
      expect((await call(limited, 'PATCH', '/v1/users/busy/quota', admin, { rate: L + 2 })).statusCode).toBe(200);
      expect((await call(limited, 'GET', '/v1/whoami', t)).statusCode).toBe(200);
      expect((await call(limited, 'GET', '/v1/whoami', t)).statusCode).toBe(429); // L + 2 counted in this window (the 429 counted too)
      expect((await call(limited, 'PATCH', '/v1/users/busy/quota', admin, { rate: 'unlimited' })).statusCode).toBe(200);
      for (let i = 0; i < 3 * L; i++) expect((await call(limited, 'GET', '/v1/whoami', t)).statusCode).toBe(200);
    });
  });

  describe('the `ucloud api` daemon and `ucloud user quota`', () => {
    beforeAll(async () => {
      // The admin's own override, read when the daemon's cache lists: the CLI calls below are never limited.
      await m.quotas!.set('admin', { rate: 'unlimited' });
      await c.spawn('api', { UCLOUD_RATE_LIMIT_PER_MINUTE: '4', UCLOUD_QUOTA_VMS: '7' }).ready;
    }, 60_000);

    it('shows and sets a quota; "default" goes back to the configured quota_vms', async () => {
      tokens.clio = (await m.users.create('clio', 'user')).token;
      const set = await c.cli(['user', 'quota', 'clio', '--vms', '2', '--ram', '64GiB', '--rate', 'unlimited']);
      expect(set.code, set.stderr).toBe(0);
      expect(set.stdout).toMatch(/^QUOTA\s+LIMIT\s+USED\s+SOURCE/);
      expect(set.stdout).toMatch(/^vms\s+2\s+0\s+user$/m);
      expect(set.stdout).toMatch(/^ram\s+64 ?GiB\s+0 ?B?\s+user$/m);
      const json = JSON.parse((await c.cli(['user', 'quota', 'clio', '--vms', 'default', '-o', 'json'])).stdout);
      expect(json).toMatchObject({ user: 'clio', vms: { limit: 7, used: 0, source: 'default' }, ram: { limit: 64 * GiB }, rate: { limit: 'unlimited', source: 'user' } });
      const bad = await c.cli(['user', 'quota', 'clio', '--vms', 'lots']);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/VALIDATION_FAILED/);
    });

    it('limits a token to rate_limit_per_minute and the CLI reports RATE_LIMITED', async () => {
      const t = (await m.users.create('hasty', 'user')).token;
      const answers = [];
      for (let i = 0; i < 5; i++) answers.push((await c.cli(['user', 'whoami'], { UCLOUD_TOKEN: t })));
      expect(answers.slice(0, 4).map((a) => a.code)).toEqual([0, 0, 0, 0]);
      expect(answers[4]!.code).toBe(6);
      expect(answers[4]!.stderr).toMatch(/RATE_LIMITED/);
    });
  });
});
