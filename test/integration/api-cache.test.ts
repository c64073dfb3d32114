import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { CachedReads } from '../../src/api/cached-reads.js';
import type { Api, Managers } from '../../src/api/context.js';
import { buildApi } from '../../src/api/server.js';
import { Client } from '../../src/client/client.js';
import { UcloudError } from '../../src/common/errors.js';
import { silentLogger } from '../../src/common/logger.js';
import { TokenCache } from '../../src/managers/token-cache.js';
import { hashToken, UserManager } from '../../src/managers/users.js';
import { Keys, Kinds } from '../../src/store/keys.js';
import { Store } from '../../src/store/store.js';
import { freePort } from '../helpers/ports.js';
import { removeVm, vmRecord, writeVms } from '../helpers/vm-record.js';
import { TestCluster, until } from '../helpers/cluster.js';
import { laggingProxy } from '../helpers/etcd-proxy.js';

// The API answers VM and host reads from watch-fed caches. A client that wrote
// through the API reads its write at once (the write's answer waits for the
// caches); what other processes write straight into etcd shows up within a
// bounded wait; a cache that cannot list answers 503, never stale nothing.

describe('API read caches (real etcd)', () => {
  let c: TestCluster;
  let api: Api;
  let alice: Client;
  let admin: Client;
  let aliceToken = '';

  // With a token cache, as `ucloud api` runs: shows and lists are then answered below Fastify
  // (cached-reads.ts) wherever they can be, so what follows holds on that path too.
  const served = vi.spyOn(CachedReads.prototype, 'serve');
  const withTokenCache = (store: Store, m: Managers) => {
    const tokens = new TokenCache(store, silentLogger);
    return { m: { ...m, store, users: new UserManager(store, tokens) }, tokens };
  };
  const cached = (users: UserManager, ...tokens: string[]) =>
    Promise.all(tokens.map((t) => until('the token cache knows the token', () => users.authenticateCached(hashToken(t)) !== undefined, 10_000)));

  beforeAll(async () => {
    c = await TestCluster.start();
    await c.bootstrap({ guestImage: c.tinyImage() });
    const { m, tokens } = withTokenCache(c.store, c.managers());
    aliceToken = (await m.users.create('alice', 'user')).token;
    api = buildApi(m, silentLogger, { tokens });
    await api.listen({ host: '::1', port: Number(new URL(c.apiUrl).port) });
    await cached(m.users, aliceToken, c.adminToken);
    alice = new Client({ url: c.apiUrl, token: aliceToken });
    admin = new Client({ url: c.apiUrl, token: c.adminToken });
  }, 60_000);
  afterAll(async () => {
    served.mockRestore();
    await api?.close();
    await c?.stop();
  });
  afterEach(() => served.mockClear());
  /** This test's reads took the cached path (some of them: a known token, bytes in the cache), so what it showed holds there. */
  const tookCachedPath = () => expect(served.mock.results.some((r) => r.value === true)).toBe(true);

  const spec = { image: 'ucloud-test', cpu: 1, ram: '128MiB', disk: '1GiB' };
  const listed = async (name: string) => (await alice.vms.list()).find((v) => v.name === name);

  it('read-your-writes: create, stop, start, resize and delete are seen by the very next show and list', async () => {
    // This API's caches hear from etcd 150 ms late (a slow link, or a busy
    // watch): without waiting for its caches, a write's answer would come
    // before they show it, and the next read would miss it.
    const proxy = await laggingProxy(new URL(c.store.opts.endpoints[0]!), 150);
    const lagging = c.newStore();
    const slow = new Store({ ...lagging.opts, endpoints: [proxy.url] });
    const { m, tokens } = withTokenCache(slow, c.managers());
    const slowApi = buildApi(m, silentLogger, { tokens });
    try {
      await slowApi.listen({ host: '::1', port: 0 });
      await cached(m.users, aliceToken);
      const { port } = slowApi.server.address() as AddressInfo;
      await readYourWrites(new Client({ url: `http://[::1]:${port}`, token: aliceToken }));
    } finally {
      await slowApi.close();
      slow.close();
      lagging.close();
      await proxy.close();
    }
    tookCachedPath();
  });

  async function readYourWrites(alice: Client) {
    const listed = async (name: string) => (await alice.vms.list()).find((v) => v.name === name);
    for (let i = 0; i < 12; i++) {
      const name = `ryw${i}`;
      const made = await alice.vms.create({ name, ...spec });
      expect((await alice.vms.get(name)).id).toBe(made.id);
      expect((await listed(name))?.id).toBe(made.id);
      expect((await alice.vms.get(made.id)).name).toBe(name);

      const stopped = await alice.vms.stop(name);
      expect((await alice.vms.get(name)).generation).toBe(stopped.generation);
      expect((await listed(name))?.desired).toBe('stopped');

      const started = await alice.vms.start(made.id);
      expect((await alice.vms.get(name)).generation).toBe(started.generation);
      expect((await listed(name))?.desired).toBe('running');

      const grown = await alice.vms.resize(name, { disk: `${2 + i}GiB` });
      expect((await alice.vms.get(name)).diskBytes).toBe(grown.diskBytes);
      expect((await listed(name))?.diskBytes).toBe((2 + i) * 2 ** 30);

      // Never placed: gone at once.
      expect(await alice.vms.delete(name)).toBeUndefined();
      expect(await alice.vms.get(name).catch((e: UcloudError) => e.code)).toBe('VM_NOT_FOUND');
      expect(await listed(name)).toBeUndefined();
    }
  }

  it('a VM another process writes straight into etcd shows up, changes and goes within a bounded wait', async () => {
    const vm = vmRecord('alice', 'outside');
    expect((await admin.vms.list(true)).some((v) => v.id === vm.id)).toBe(false);
    const other = c.newStore();
    try {
      expect(await other.txn().absent(Keys.vm(vm.id)).put(Kinds.vm, Keys.vm(vm.id), vm).put(Kinds.vmName, Keys.vmName('alice', 'outside'), { id: vm.id }).commit()).toBe(true);
      await until('the VM in show', () => alice.vms.get('outside').catch(() => undefined), 5000, 20);
      await until('the VM in the list', () => listed('outside'), 5000, 20);
      // Asked twice more unchanged: both lists are kept pages now (PageCache keeps a page from its second ask).
      for (let i = 0; i < 2; i++) {
        expect((await listed('outside'))?.host).toBeUndefined();
        expect((await admin.vms.list(true)).find((v) => v.id === vm.id)?.host).toBeUndefined();
      }
      // as a scheduler would book it
      await other.put(Kinds.vm, Keys.vm(vm.id), { ...vm, host: 'hv1', status: 'scheduled' });
      await until('the booking in show', async () => (await alice.vms.get('outside')).host === 'hv1', 5000, 20);
      // The kept pages (kept up to a minute) must not be given again once the VM changed.
      await until('the booking in the list', async () => (await listed('outside'))?.host === 'hv1', 5000, 20);
      await until('the booking in the admin\'s list of all', async () => (await admin.vms.list(true)).find((v) => v.id === vm.id)?.host === 'hv1', 5000, 20);
      await other.delete(Keys.vm(vm.id));
      await until('the VM gone from show', async () => (await alice.vms.get(vm.id).catch((e: UcloudError) => e.code)) === 'VM_NOT_FOUND', 5000, 20);
      expect(await alice.vms.get('outside').catch((e: UcloudError) => e.code)).toBe('VM_NOT_FOUND');
      expect(await listed('outside')).toBeUndefined();
      expect((await admin.vms.list(true)).some((v) => v.id === vm.id)).toBe(false);
    } finally {
      other.close();
    }
    tookCachedPath();
  });

  it('a show by name follows records renamed or doubled by hand in etcd: the name is found while any record has it, and only then', async () => {
    const a = vmRecord('alice', 'twin');
    const b = { ...vmRecord('alice', 'twin'), createdAt: new Date(Date.now() + 1000).toISOString() };
    const other = c.newStore();
    const shown = (ref: string) => alice.vms.get(ref).then((v) => v.id, (e: UcloudError) => e.code);
    try {
      await other.put(Kinds.vm, Keys.vm(a.id), a);
      await until('the first twin in show', async () => (await shown('twin')) === a.id, 5000, 20);
      await other.put(Kinds.vm, Keys.vm(b.id), b);
      await until('both twins in the list', async () => (await alice.vms.list()).filter((v) => v.name === 'twin').length === 2, 5000, 20);
      const first = await shown('twin');
      expect([a.id, b.id]).toContain(first);
      const [gone, left] = first === a.id ? [a, b] : [b, a];
      await other.delete(Keys.vm(gone.id));
      await until('the other twin in show once the first is gone', async () => (await shown('twin')) === left.id, 5000, 20);
      await other.put(Kinds.vm, Keys.vm(left.id), { ...left, name: 'single' });
      await until('the renamed VM in show by its new name', async () => (await shown('single')) === left.id, 5000, 20);
      expect(await shown('twin')).toBe('VM_NOT_FOUND');
      await other.delete(Keys.vm(left.id));
      await until('the renamed VM gone from show', async () => (await shown('single')) === 'VM_NOT_FOUND', 5000, 20);
    } finally {
      other.close();
    }
    tookCachedPath();
  });

  it("a kept page is its list's alone: another tenant gets neither alice's kept page nor a page through her cursor, nor she an admin's", async () => {
    const aaronToken = (await c.managers().users.create('aaron', 'user')).token;
    const aaron = new Client({ url: c.apiUrl, token: aaronToken });
    await aaron.vms.create({ name: 'first', ...spec });
    // Alice's change is the cache's last: her list's version is then the same number as everyone's list's.
    for (const name of ['kept1', 'kept2']) await alice.vms.create({ name, ...spec });
    const malloryToken = (await c.managers().users.create('mallory', 'user')).token;
    const get = async (token: string, path: string) => {
      const r = await fetch(`${c.apiUrl}${path}`, { headers: { authorization: `Bearer ${token}` } });
      return { status: r.status, body: (await r.json()) as { items?: { owner: string }[]; next?: string; code?: string } };
    };
    // Asked twice: alice's first page of one is kept, with a cursor in it.
    await get(aliceToken, '/v1/vms?limit=1');
    const hers = await get(aliceToken, '/v1/vms?limit=1');
    expect(hers.body.items?.[0]?.owner).toBe('alice');
    expect(hers.body.next).toBeDefined();
    // The same query by mallory is mallory's list (empty), however often asked.
    for (let i = 0; i < 3; i++) expect(await get(malloryToken, '/v1/vms?limit=1')).toEqual({ status: 200, body: { items: [] } });
    expect((await get(malloryToken, '/v1/vms?limit=1&owner=alice')).status).toBe(403);
    // Her cursor names her list: refused for his, though the page it continues was kept for hers.
    await get(aliceToken, `/v1/vms?limit=1&cursor=${hers.body.next}`);
    expect((await get(aliceToken, `/v1/vms?limit=1&cursor=${hers.body.next}`)).body.items?.[0]?.owner).toBe('alice');
    const his = await get(malloryToken, `/v1/vms?limit=1&cursor=${hers.body.next}`);
    expect([his.status, his.body.code]).toEqual([400, 'INVALID_CURSOR']);
    // An admin's first page of everyone's (aaron's VM sorts first), kept; alice's own first page stays hers.
    await get(c.adminToken, '/v1/vms?all=true&limit=1');
    expect((await get(c.adminToken, '/v1/vms?all=true&limit=1')).body.items?.[0]?.owner).toBe('aaron');
    expect((await get(aliceToken, '/v1/vms?limit=1')).body.items?.[0]?.owner).toBe('alice');
    await Promise.all(['kept1', 'kept2'].map((name) => alice.vms.delete(name)));
    await aaron.vms.delete('first');
    tookCachedPath();
  });

  /** Reads of all of vm/ from etcd through the managers' store, from now until restore(). */
  const countVmLists = () => {
    const list = c.store.list.bind(c.store);
    const counter = { count: 0, restore: () => void (c.store.list = list) };
    c.store.list = ((kind, prefix, ...rest) => {
      if (prefix === Keys.vms()) counter.count++;
      return list(kind, prefix, ...rest);
    }) as typeof c.store.list;
    return counter;
  };

  it("an image's delete takes its first look at the image's VMs in the cache's index: refused again and again, it reads nothing of vm/ from etcd", async () => {
    const vm = vmRecord('alice', 'made-from-image'); // of the admins' public ucloud-test
    const other = c.newStore();
    const vmLists = countVmLists();
    try {
      await writeVms(other, [vm]);
      await until('the VM in the cache', () => alice.vms.get(vm.name).catch(() => undefined), 5000, 20);
      const imageKey = Keys.image('admin', 'ucloud-test');
      const before = (await c.store.get(Kinds.image, imageKey))!.modRevision;
      for (let i = 0; i < 5; i++) {
        const err = await admin.images.delete('ucloud-test').then(() => undefined, (e: UcloudError) => e);
        expect(err?.code).toBe('IMAGE_IN_USE');
        expect(err?.message).toContain('made-from-image');
      }
      expect(vmLists.count).toBe(0);
      // Nor was the image touched: no mark and put back, during which every other user's create from it would fail.
      expect((await c.store.get(Kinds.image, imageKey))!.modRevision).toBe(before);
      expect((await admin.images.get('ucloud-test')).status).toBe('ready');
    } finally {
      vmLists.restore();
      await removeVm(other, vm);
      other.close();
    }
  });

  it("a VM the cache has not seen yet still refuses an image's delete: the cache only ever refuses, going ahead takes etcd's look, and the image stays ready", async () => {
    // This API's caches stop hearing from etcd once listed; its managers read etcd directly.
    const proxy = await laggingProxy(new URL(c.store.opts.endpoints[0]!), 0);
    const lagging = c.newStore();
    const slow = new Store({ ...lagging.opts, endpoints: [proxy.url] });
    const m = c.managers();
    const slowApi = buildApi({ ...m, store: slow }, silentLogger);
    const other = c.newStore();
    const vmLists = countVmLists();
    const vm = vmRecord('alice', 'just-made');
    try {
      await slowApi.listen({ host: '::1', port: 0 });
      const { port } = slowApi.server.address() as AddressInfo;
      const slowAdmin = new Client({ url: `http://[::1]:${port}`, token: c.adminToken });
      await slowAdmin.vms.list(true); // its cache has listed
      proxy.hold();
      await writeVms(other, [vm]);
      const err = await slowAdmin.images.delete('ucloud-test').then(() => undefined, (e: UcloudError) => e);
      expect(err?.code).toBe('IMAGE_IN_USE');
      expect(err?.message).toContain('just-made');
      // The cache had not seen it: its look found nobody, etcd's found it.
      expect(vmLists.count).toBe(1);
      expect((await admin.images.get('ucloud-test')).status).toBe('ready');
    } finally {
      vmLists.restore();
      await removeVm(other, vm);
      await slowApi.close();
      other.close();
      slow.close();
      lagging.close();
      await proxy.close();
    }
  });

  it('hosts come from the cache: registration, presence and bookings show up', async () => {
    await c.managers().hosts.add('hv7', '::1', { cpu: 4, ramBytes: 8 * 2 ** 30, diskBytes: 100 * 2 ** 30 });
    const hv7 = () => admin.hosts.list().then((hs) => hs.find((h) => h.name === 'hv7'));
    await until('hv7 listed', hv7, 5000, 20);
    expect((await hv7())!.alive).toBe(false);
    await c.announceHost('hv7');
    await until('hv7 alive', async () => (await hv7())?.alive, 5000, 20);
    await c.store.put(Kinds.hostAlloc, Keys.hostAlloc('hv7'), { vms: { [randomUUID()]: { cpu: 2, ramBytes: 2 ** 30, diskBytes: 2 ** 30 } } });
    await until('hv7 booking', async () => (await hv7())?.used.cpu === 2, 5000, 20);
    expect((await hv7())!.vms).toBe(1);
    expect((await admin.hosts.list()).map((h) => h.name)).toEqual(['hv1', 'hv7']);
  });

  it('while its cache cannot list from etcd, a read waits a bounded time and answers 503 ETCD_UNAVAILABLE', async () => {
    // Everything but the cache's own connection works (the token check reads etcd).
    const dead = new Store({ endpoints: [`http://127.0.0.1:${await freePort()}`], prefix: '/ucloud/' });
    const blind = buildApi({ ...c.managers(), store: dead }, silentLogger);
    try {
      await blind.ready();
      const t0 = Date.now();
      for (const url of ['/v1/vms/web1', '/v1/hosts']) {
        const res = await blind.inject({ method: 'GET', url, headers: { authorization: `Bearer ${c.adminToken}` } });
        expect([res.statusCode, res.json().code], url).toEqual([503, 'ETCD_UNAVAILABLE']);
      }
      expect(Date.now() - t0).toBeLessThan(2 * 7000);
      // What is refused whatever the cache holds is refused at once, not after that wait: a user asking for
      // everyone's VMs, and a cursor that is not one (the admin's read above shows the wait is still on).
      const t1 = Date.now();
      const mine = await blind.inject({ method: 'GET', url: '/v1/vms?all=true', headers: { authorization: `Bearer ${aliceToken}` } });
      expect([mine.statusCode, mine.json().code]).toEqual([403, 'FORBIDDEN']);
      const cursor = await blind.inject({ method: 'GET', url: '/v1/vms?cursor=nonsense', headers: { authorization: `Bearer ${aliceToken}` } });
      expect([cursor.statusCode, cursor.json().code]).toEqual([400, 'INVALID_CURSOR']);
      expect(Date.now() - t1).toBeLessThan(2000);
      // Routes that do not read the cache still answer.
      expect((await blind.inject({ method: 'GET', url: '/v1/whoami', headers: { authorization: `Bearer ${c.adminToken}` } })).statusCode).toBe(200);
    } finally {
      await blind.close();
      dead.close();
    }
  }, 60_000);
});
