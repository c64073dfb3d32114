import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Api } from '../../src/api/context.js';
import { buildApi } from '../../src/api/server.js';
import { Client } from '../../src/client/client.js';
import { silentLogger } from '../../src/common/logger.js';
import { CURSOR_TTL_S, encodeCursor } from '../../src/common/page.js';
import type { Vm } from '../../src/model/index.js';
import { Keys, Kinds } from '../../src/store/keys.js';
import { vmRecord, writeVms } from '../helpers/vm-record.js';
import { TestCluster, until } from '../helpers/cluster.js';

// Every list route answers { items, next? } with ?limit=&cursor=; these tests
// page over more than 1,000 VM records (written straight into etcd, as the
// scheduler and agents would) through the API's cache.

const COUNTS = { alice: 1100, bob: 300, carol: 40 };

/** Names that sort in a known order; a shuffled write order, so the cache's order is not the write order. */
const nameOf = (i: number) => `vm-${String(i).padStart(5, '0')}`;

describe('paginated lists (real etcd)', () => {
  let c: TestCluster;
  let api: Api;
  const tokens: Record<string, string> = {};

  const get = async (url: string, token: string) => {
    const res = await api.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });
    return { status: res.statusCode, body: res.json() as { items: Vm[]; next?: string; code?: string } };
  };
  /** Every page of `url` (limit `limit`), as the pages came. */
  const pages = async (url: string, token: string, limit: number) => {
    const out: { items: Vm[]; next?: string }[] = [];
    let cursor: string | undefined;
    do {
      const sep = url.includes('?') ? '&' : '?';
      const r = await get(`${url}${sep}limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`, token);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      out.push(r.body);
      cursor = r.body.next;
    } while (cursor);
    return out;
  };
  const ownerName = (v: Vm) => `${v.owner}/${v.name}`;

  beforeAll(async () => {
    c = await TestCluster.start();
    await c.bootstrap({ guestImage: c.tinyImage() });
    const m = c.managers();
    for (const u of Object.keys(COUNTS)) tokens[u] = (await m.users.create(u, 'user')).token;
    const records = Object.entries(COUNTS).flatMap(([owner, n]) => Array.from({ length: n }, (_, i) => vmRecord(owner, nameOf(i))));
    records.sort(() => Math.random() - 0.5);
    await writeVms(c.store, records);
    api = buildApi(m, silentLogger);
    await api.listen({ host: '::1', port: Number(new URL(c.apiUrl).port) });
  }, 120_000);
  afterAll(async () => {
    await api?.close();
    await c?.stop();
  });

  it('pages cover every one of a user\'s 1,100 VMs exactly once, by name; the default page is 100; no next on the last', async () => {
    const first = await get('/v1/vms', tokens.alice!);
    expect(first.body.items).toHaveLength(100);
    expect(first.body.next).toBeTruthy();
    for (const limit of [100, 1000, 7]) {
      const ps = await pages('/v1/vms', tokens.alice!, limit);
      expect(ps).toHaveLength(Math.ceil(COUNTS.alice / limit));
      for (const p of ps.slice(0, -1)) expect(p.items).toHaveLength(limit);
      expect(ps.at(-1)!.next).toBeUndefined();
      const names = ps.flatMap((p) => p.items.map((v) => v.name));
      expect(names).toEqual(Array.from({ length: COUNTS.alice }, (_, i) => nameOf(i)));
      expect(new Set(ps.flatMap((p) => p.items.map((v) => v.owner)))).toEqual(new Set(['alice']));
    }
  });

  it('a user never sees another user\'s VMs in any page', async () => {
    for (const [user, n] of Object.entries(COUNTS)) {
      const items = (await pages('/v1/vms', tokens[user]!, 64)).flatMap((p) => p.items);
      expect(items).toHaveLength(n);
      expect(items.every((v) => v.owner === user)).toBe(true);
    }
    // ?all=true from a user is refused: it is an admin's scope (never a list narrowed behind their back)
    const all = await get('/v1/vms?all=true', tokens.carol!);
    expect(all.status).toBe(403);
    expect(all.body.code).toBe('FORBIDDEN');
  });

  it('an admin\'s --all pages cover every VM once, by owner then name', async () => {
    const ps = await pages('/v1/vms?all=true', c.adminToken, 1000);
    const total = COUNTS.alice + COUNTS.bob + COUNTS.carol;
    expect(ps).toHaveLength(Math.ceil(total / 1000));
    const got = ps.flatMap((p) => p.items.map(ownerName));
    const want = Object.entries(COUNTS).flatMap(([owner, n]) => Array.from({ length: n }, (_, i) => `${owner}/${nameOf(i)}`));
    expect(got).toEqual(want);
  });

  it('limit out of 1-1000 or not a number is 400 VALIDATION_FAILED', async () => {
    for (const limit of ['0', '1001', '-1', 'ten', '']) {
      const r = await get(`/v1/vms?limit=${limit}`, tokens.alice!);
      expect([r.status, r.body.code], limit).toEqual([400, 'VALIDATION_FAILED']);
    }
    expect((await get('/v1/vms?limit=1000', tokens.alice!)).body.items).toHaveLength(1000);
    expect((await get('/v1/vms?limit=1', tokens.alice!)).body.items).toHaveLength(1);
  });

  it('a cursor that is garbage, forged, from another list or from another user is 400 INVALID_CURSOR', async () => {
    const b64 = (s: string) => Buffer.from(s).toString('base64url');
    const bobs = (await get('/v1/vms?limit=5', tokens.bob!)).body.next!;
    const all = (await get('/v1/vms?all=true&limit=5', c.adminToken)).body.next!;
    await c.managers().hosts.add('hv2', '::1', { cpu: 1, ramBytes: 2 ** 30, diskBytes: 2 ** 30 });
    const hosts = await until('the new host in the cache', async () => (await get('/v1/hosts?limit=1', c.adminToken)).body.next, 10_000);
    for (const [what, cursor, token] of [
      ['not base64url', 'no*such*cursor', tokens.alice!],
      ['not JSON', b64('{{{'), tokens.alice!],
      ['JSON of another shape', b64(JSON.stringify({ x: 1 })), tokens.alice!],
      ['a number', b64('42'), tokens.alice!],
      ['from the future', encodeCursor('vms/alice', 'x', Math.floor(Date.now() / 1000) + 86_400), tokens.alice!],
      ["bob's, given by alice", bobs, tokens.alice!],
      ["an admin's --all cursor, on the admin's own list", all, c.adminToken],
      ['the hosts list\'s', hosts, tokens.alice!],
    ] as const) {
      const r = await get(`/v1/vms?cursor=${encodeURIComponent(cursor)}`, token);
      expect([r.status, r.body.code], what).toEqual([400, 'INVALID_CURSOR']);
    }
  });

  it('a cursor older than 24 hours is 400 CURSOR_EXPIRED', async () => {
    // The real cursor after alice's 11th VM, re-issued in the past.
    const real = JSON.parse(Buffer.from((await get('/v1/vms?limit=11', tokens.alice!)).body.next!, 'base64url').toString()) as { l: string; a: string };
    const old = encodeCursor(real.l, real.a, Math.floor(Date.now() / 1000) - CURSOR_TTL_S - 60);
    const r = await get(`/v1/vms?cursor=${old}`, tokens.alice!);
    expect([r.status, r.body.code]).toEqual([400, 'CURSOR_EXPIRED']);
    // one just inside the day still works
    const fresh = encodeCursor(real.l, real.a, Math.floor(Date.now() / 1000) - CURSOR_TTL_S + 60);
    expect((await get(`/v1/vms?cursor=${fresh}&limit=1`, tokens.alice!)).body.items.map((v) => v.name)).toEqual([nameOf(11)]);
  });

  it('inserts and deletes between pages neither repeat nor skip any surviving VM', async () => {
    const client = new Client({ url: c.apiUrl, token: tokens.bob! });
    const original = (await client.vms.list()).map((v) => v.name);
    expect(original).toHaveLength(COUNTS.bob);
    const seen: string[] = [];
    const deleted = new Set<string>();
    let cursor: string | undefined;
    for (let page = 0; ; page++) {
      const p = await client.vms.page({ limit: 40, ...(cursor ? { cursor } : {}) });
      seen.push(...p.items.map((v) => v.name));
      if (!p.next) break;
      cursor = p.next;
      // Between pages: delete one already seen, one not seen yet, and add one before and one after the cursor.
      const last = p.items.at(-1)!.name;
      const gone = [seen[page * 3]!, original[original.indexOf(last) + 7]].filter((n): n is string => n !== undefined && !deleted.has(n));
      for (const n of gone) {
        await client.vms.delete(n);
        deleted.add(n);
      }
      await client.vms.create({ name: `vm-00000-a${page}`, image: 'ucloud-test', cpu: 1, ram: '128MiB', disk: '1GiB' }); // sorts first: before the cursor
      await client.vms.create({ name: `${last}-b`, image: 'ucloud-test', cpu: 1, ram: '128MiB', disk: '1GiB' }); // right after the cursor
    }
    expect(new Set(seen).size).toBe(seen.length);
    const survivors = original.filter((n) => !deleted.has(n));
    for (const n of survivors) expect(seen, n).toContain(n);
    expect(seen.filter((n) => n.endsWith('-b')).length).toBeGreaterThan(0);
    expect([...seen]).toEqual([...seen].sort());
  });

  it('every list route pages the same way, and the client follows next', async () => {
    const admin = new Client({ url: c.apiUrl, token: c.adminToken });
    const carol = new Client({ url: c.apiUrl, token: tokens.carol! });
    for (let i = 0; i < 5; i++) await carol.networks.create(`net${i}`);
    for (let i = 0; i < 4; i++) await admin.users.create(`extra${i}`);
    const routes: [string, string, number][] = [
      ['/v1/networks', tokens.carol!, 5],
      ['/v1/users', c.adminToken, 4 + 4],
      ['/v1/hosts', c.adminToken, (await admin.hosts.list()).length],
      ['/v1/images', tokens.carol!, 1],
      ['/v1/image-stores', tokens.carol!, 1],
      ['/v1/keys', tokens.carol!, 0],
      ['/v1/files', tokens.carol!, 0],
    ];
    for (const [url, token, n] of routes) {
      const ps = await pages(url, token, 2);
      expect(ps.flatMap((p) => p.items), url).toHaveLength(n);
      expect(ps, url).toHaveLength(Math.max(1, Math.ceil(n / 2)));
      expect(ps.at(-1)!.next, url).toBeUndefined();
      const bad = await get(`${url}?cursor=nope!`, token);
      expect([bad.status, bad.body.code], url).toEqual([400, 'INVALID_CURSOR']);
      expect((await get(`${url}?limit=1001`, token)).status, url).toBe(400);
    }
    expect((await carol.networks.list()).map((n) => n.name)).toEqual(['net0', 'net1', 'net2', 'net3', 'net4']);
    const everyVm = (await pages('/v1/vms?all=true', c.adminToken, 1000)).flatMap((p) => p.items.map((v) => v.id));
    expect((await admin.vms.list(true)).map((v) => v.id)).toEqual(everyVm);
  });

  it('the CLI shows every page by default; --limit shows one and names the next cursor on stderr', async () => {
    const env = { UCLOUD_TOKEN: tokens.alice! };
    const every = await c.cli(['vm', 'list', '-o', 'json'], env);
    expect(every.code, every.stderr).toBe(0);
    expect((JSON.parse(every.stdout) as Vm[]).map((v) => v.name)).toEqual(Array.from({ length: COUNTS.alice }, (_, i) => nameOf(i)));
    const one = await c.cli(['vm', 'list', '--limit', '3', '-o', 'json'], env);
    expect(one.code, one.stderr).toBe(0);
    expect((JSON.parse(one.stdout) as Vm[]).map((v) => v.name)).toEqual([nameOf(0), nameOf(1), nameOf(2)]);
    const cursor = /--cursor (\S+)/.exec(one.stderr)?.[1];
    expect(cursor, one.stderr).toBeTruthy();
    const two = await c.cli(['vm', 'list', '--limit', '2', '--cursor', cursor!, '-o', 'json'], env);
    expect((JSON.parse(two.stdout) as Vm[]).map((v) => v.name)).toEqual([nameOf(3), nameOf(4)]);
    const table = await c.cli(['vm', 'list', '--limit', '2'], env);
    expect(table.stdout.trim().split('\n')).toHaveLength(3);
    const bad = await c.cli(['vm', 'list', '--cursor', 'garbage'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('INVALID_CURSOR');
    const last = await c.cli(['vm', 'list', '--all', '--limit', '1000', '-o', 'json'], { UCLOUD_TOKEN: c.adminToken });
    expect(last.code, last.stderr).toBe(0);
    expect(JSON.parse(last.stdout)).toHaveLength(1000);
    expect(last.stderr).toContain('--cursor');
  });
  it('filters by status and host page through only the matching VMs; another owner is an admin\'s filter', async () => {
    const m = c.managers();
    const fil = (await m.users.create('fil', 'user')).token;
    const t = c.store.txn();
    const want: string[] = [];
    for (let i = 0; i < 30; i++) {
      const vm = { ...vmRecord('fil', `f${String(i).padStart(2, '0')}`), ...(i % 3 === 2 ? { status: 'stopped' as const, desired: 'stopped' as const } : { status: 'running' as const, host: i % 3 === 0 ? 'hv1' : 'hv2' }) };
      if (i % 3 === 0) want.push(vm.name);
      t.absent(Keys.vm(vm.id)).put(Kinds.vm, Keys.vm(vm.id), vm).put(Kinds.vmName, Keys.vmName(vm.owner, vm.name), { id: vm.id });
    }
    // Another tenant's VM on the same host: a user's list by host must never show it.
    const stranger = { ...vmRecord('alice', 'zz-on-hv1'), status: 'running' as const, host: 'hv1' };
    t.absent(Keys.vm(stranger.id)).put(Kinds.vm, Keys.vm(stranger.id), stranger).put(Kinds.vmName, Keys.vmName(stranger.owner, stranger.name), { id: stranger.id });
    expect(await t.commit()).toBe(true);
    expect((await pages('/v1/vms?host=hv1', fil, 4)).flatMap((p) => p.items).map((v) => v.name)).toEqual(want);
    const got = (await pages('/v1/vms?status=running&host=hv1', fil, 4)).flatMap((p) => p.items);
    expect(got.map((v) => v.name)).toEqual(want);
    expect(got.every((v) => v.status === 'running' && v.host === 'hv1' && v.owner === 'fil')).toBe(true);
    expect((await pages('/v1/vms?status=stopped', fil, 7)).flatMap((p) => p.items)).toHaveLength(10);
    // A cursor of one filtered list is not good for another.
    const first = await get('/v1/vms?status=running&limit=2', fil);
    expect((await get(`/v1/vms?status=stopped&limit=2&cursor=${first.body.next}`, fil)).body.code).toBe('INVALID_CURSOR');
    // Another user's VMs: a user is refused (not silently given their own), an admin gets them.
    for (const q of ['owner=alice', 'all=true']) {
      const r = await get(`/v1/vms?${q}`, fil);
      expect(r.status).toBe(403);
      expect(r.body.code).toBe('FORBIDDEN');
    }
    const admin = (await pages('/v1/vms?owner=fil&status=running', c.adminToken, 5)).flatMap((p) => p.items);
    expect(admin).toHaveLength(20);
    // By host across owners (from the index by host, not a scan of the fleet): in list order, paged, the cursor kept to its list.
    const onHv1 = (await pages('/v1/vms?all=true&host=hv1', c.adminToken, 3)).flatMap((p) => p.items);
    expect(onHv1.filter((v) => v.owner === 'fil').map((v) => v.name)).toEqual(want);
    expect(onHv1.filter((v) => v.owner !== 'fil').map((v) => v.name)).toEqual(['zz-on-hv1']);
    expect((await pages('/v1/vms?all=true&host=hv2&status=running', c.adminToken, 4)).flatMap((p) => p.items)).toHaveLength(10);
    const hv2 = await get('/v1/vms?all=true&host=hv2&limit=4', c.adminToken);
    expect((await get(`/v1/vms?all=true&host=hv1&limit=4&cursor=${hv2.body.next}`, c.adminToken)).body.code).toBe('INVALID_CURSOR');
    expect((await get('/v1/vms?all=true&host=nowhere', c.adminToken)).body).toEqual({ items: [] });
    expect((await get('/v1/vms?status=sleeping', fil)).status).toBe(400);
  });
});
