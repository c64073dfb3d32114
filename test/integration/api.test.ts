import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApi } from '../../src/api/server.js';
import type { Api } from '../../src/api/context.js';
import { silentLogger } from '../../src/common/logger.js';
import { VmManager } from '../../src/managers/vms.js';
import { API_ACTOR } from '../../src/model/vm-lifecycle.js';
import { Keys, Kinds } from '../../src/store/keys.js';
import { TestCluster } from '../helpers/cluster.js';

describe('API input validation and authorization (real etcd)', () => {
  let c: TestCluster;
  let api: Api;
  let aliceToken = '';
  let bobToken = '';

  /** The etcd revision: any write anywhere moves it. */
  const revision = async () => (await c.store.list(Kinds.meta, 'no-such-prefix/')).revision;

  const call = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, token: string | undefined, payload?: unknown) =>
    api.inject({ method, url, ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}), ...(payload === undefined ? {} : { payload: payload as object }) });

  beforeAll(async () => {
    c = await TestCluster.start();
    await c.bootstrap({ guestImage: c.tinyImage() });
    const m = c.managers();
    aliceToken = (await m.users.create('alice', 'user')).token;
    bobToken = (await m.users.create('bob', 'user')).token;
    api = buildApi(m, silentLogger);
    await api.ready();
  });
  afterAll(async () => {
    await api.close();
    await c.stop();
  });

  const good = { name: 'web1', image: 'ucloud-test', cpu: 1, ram: '256MiB', disk: '1GiB' };

  const bad: [string, unknown, number, string][] = [
    ['an unknown field', { ...good, colour: 'blue' }, 400, 'UNKNOWN_FIELD'],
    ['a missing field', { name: 'web1', cpu: 1, ram: '256MiB', disk: '1GiB' }, 400, 'VALIDATION_FAILED'],
    ['a size in parsecs', { ...good, ram: '12 parsecs' }, 400, 'INVALID_SIZE'],
    ['a negative size', { ...good, disk: '-1GiB' }, 400, 'INVALID_SIZE'],
    ['a negative byte count', { ...good, disk: -5 }, 400, 'VALIDATION_FAILED'],
    ['an absurd RAM size', { ...good, ram: '900TiB' }, 400, 'SIZE_OUT_OF_RANGE'],
    ['an absurd disk size', { ...good, disk: '99999999TiB' }, 400, 'SIZE_OUT_OF_RANGE'],
    ['a tiny RAM size', { ...good, ram: '1KiB' }, 400, 'SIZE_OUT_OF_RANGE'],
    ['RAM that is not whole MiB', { ...good, ram: '300000000' }, 400, 'INVALID_SIZE'],
    ['zero CPUs', { ...good, cpu: 0 }, 400, 'VALIDATION_FAILED'],
    ['a CPU count as text', { ...good, cpu: 'two' }, 400, 'VALIDATION_FAILED'],
    ['a name with capitals and spaces', { ...good, name: 'Web 1' }, 400, 'VALIDATION_FAILED'],
    ['an unknown image', { ...good, image: 'nonesuch' }, 404, 'IMAGE_NOT_FOUND'],
    ['a disk smaller than the image', { ...good, disk: '1MiB' }, 400, 'DISK_SMALLER_THAN_IMAGE'],
    ['not JSON', 'this is not json', 400, 'VALIDATION_FAILED'],
  ];
  it.each(bad)('refuses %s with a code and writes nothing', async (_what, payload, status, code) => {
    const before = await revision();
    const res = await call('POST', '/v1/vms', aliceToken, payload);
    expect(res.statusCode).toBe(status);
    expect(res.json()).toMatchObject({ code });
    expect(res.json().message).toBeTruthy();
    expect(await revision()).toBe(before);
  });

  it('refuses a missing or wrong token with 401 and writes nothing', async () => {
    const before = await revision();
    for (const token of [undefined, 'uc_not-a-real-token']) {
      const res = await call('POST', '/v1/vms', token, good);
      expect(res.statusCode).toBe(401);
      expect(res.json().code).toBe('UNAUTHENTICATED');
    }
    const malformed = await api.inject({ method: 'GET', url: '/v1/vms', headers: { authorization: 'Basic Zm9vOmJhcg==' } });
    expect(malformed.statusCode).toBe(401);
    expect(await revision()).toBe(before);
  });

  it('refuses a duplicate VM name for the same user, allows it for another', async () => {
    expect((await call('POST', '/v1/vms', aliceToken, good)).statusCode).toBe(201);
    const before = await revision();
    const dup = await call('POST', '/v1/vms', aliceToken, { ...good, cpu: 2 });
    expect(dup.statusCode).toBe(409);
    expect(dup.json().code).toBe('VM_NAME_TAKEN');
    expect(await revision()).toBe(before);
    expect((await call('POST', '/v1/vms', bobToken, good)).statusCode).toBe(201);
  });

  it('shows users only their own VMs', async () => {
    const alices = (await call('GET', '/v1/vms', aliceToken)).json().items as { owner: string; id: string }[];
    const bobs = (await call('GET', '/v1/vms', bobToken)).json().items as { owner: string; id: string }[];
    expect(alices.map((v) => v.owner)).toEqual(['alice']);
    expect(bobs.map((v) => v.owner)).toEqual(['bob']);
    const alicesId = alices[0]!.id;
    for (const ref of ['web1', alicesId]) {
      // bob's own web1 answers by name; alice's by id is invisible to him
      const res = await call('GET', `/v1/vms/${ref}`, bobToken);
      if (ref === 'web1') expect(res.json().owner).toBe('bob');
      else expect(res.statusCode).toBe(404);
    }
    const stop = await call('POST', `/v1/vms/${alicesId}/stop`, bobToken);
    expect(stop.statusCode).toBe(404);
    expect(stop.json().code).toBe('VM_NOT_FOUND');
    // HA is the owner's to set: bob cannot turn it on for alice's VM, by id or by her VM's name (his own answers).
    const before = await revision();
    const ha = await call('PATCH', `/v1/vms/${alicesId}`, bobToken, { ha: true });
    expect(ha.statusCode).toBe(404);
    expect(ha.json().code).toBe('VM_NOT_FOUND');
    expect(await revision()).toBe(before);
    // Bad bodies are refused with a code and write nothing: none, a non-boolean, a field the route does not take.
    for (const [body, code] of [[{}, 'VALIDATION_FAILED'], [{ ha: 'yes' }, 'VALIDATION_FAILED'], [{ ha: true, host: 'hv9' }, 'UNKNOWN_FIELD']] as const) {
      const bad = await call('PATCH', `/v1/vms/${alicesId}`, aliceToken, body);
      expect(bad.statusCode, JSON.stringify(body)).toBe(400);
      expect(bad.json().code, JSON.stringify(body)).toBe(code);
    }
    expect(await revision()).toBe(before);
    const mine = await call('PATCH', `/v1/vms/${alicesId}`, aliceToken, { ha: true });
    expect(mine.statusCode).toBe(200);
    expect(mine.json().ha).toBe(true);
    const all = (await call('GET', '/v1/vms?all=true', c.adminToken)).json().items as unknown[];
    expect(all).toHaveLength(2);
    // vm recover is an admin's: alice may not recover even her own VM; an admin may not recover one not left on a dead host.
    const beforeRecover = await revision();
    const own = await call('POST', `/v1/vms/${alicesId}/recover`, aliceToken, {});
    expect(own.statusCode).toBe(403);
    expect(own.json().code).toBe('FORBIDDEN');
    const notDead = await call('POST', `/v1/vms/${alicesId}/recover`, c.adminToken, { hostIsOff: true });
    expect(notDead.statusCode).toBe(409);
    expect(notDead.json().code).toBe('VM_NOT_RECOVERABLE');
    expect((await call('POST', `/v1/vms/${alicesId}/recover`, c.adminToken, { host: 'hv9' })).json().code).toBe('UNKNOWN_FIELD');
    // Nor can a tenant smuggle the request or a failover record in with a create or a change.
    const smuggled = { recover: { by: 'admin', at: new Date().toISOString(), hostIsOff: true }, lastFailover: { from: 'hv1', at: new Date().toISOString(), code: 'HOST_DEAD', restarted: true } };
    for (const [method, url, body] of [['POST', '/v1/vms', { ...good, name: 'sneaky', ...smuggled }], ['PATCH', `/v1/vms/${alicesId}`, { ha: true, ...smuggled }]] as const) {
      const res = await call(method, url, aliceToken, body);
      expect(res.statusCode, url).toBe(400);
      expect(res.json().code, url).toBe('UNKNOWN_FIELD');
    }
    expect(await revision()).toBe(beforeRecover);
  });

  it('keeps admin routes for admins', async () => {
    const before = await revision();
    const res = await call('POST', '/v1/hosts', aliceToken, { name: 'hv9', cpu: 4, ram: '8GiB', disk: '100GiB' });
    expect(res.statusCode).toBe(403);
    expect(res.json().code).toBe('FORBIDDEN');
    expect((await call('POST', '/v1/users', aliceToken, { name: 'mallory' })).statusCode).toBe(403);
    expect(await revision()).toBe(before);
  });

  it('creates users whose token works once shown, and stores only its hash', async () => {
    const res = await call('POST', '/v1/users', c.adminToken, { name: 'carol' });
    expect(res.statusCode).toBe(201);
    const { token } = res.json() as { token: string };
    expect((await call('GET', '/v1/whoami', token)).json().name).toBe('carol');
    const stored = await c.store.ns.getAll().prefix('').strings();
    expect(JSON.stringify(stored)).not.toContain(token);
    const dup = await call('POST', '/v1/users', c.adminToken, { name: 'carol' });
    expect(dup.json().code).toBe('USER_EXISTS');
  });

  it('answers unknown routes with NOT_FOUND and no stack', async () => {
    const res = await call('GET', '/v1/nothing', aliceToken);
    expect(res.statusCode).toBe(404);
    expect(res.json().code).toBe('NOT_FOUND');
    expect(res.body).not.toMatch(/at .*\.js:\d+/);
  });
  describe('image names are per owner', () => {
    /** A file of `owner`'s as the filescanner would record it. */
    const fileOf = async (owner: string, name: string) => {
      const f = { id: randomUUID(), owner, name, sizeBytes: 1024, sha512: 'a'.repeat(128), mtimeMs: Date.now(), seenAt: new Date().toISOString() };
      await c.store.put(Kinds.file, Keys.file(f.id), f);
      return f;
    };
    const image = (token: string, body: object) => call('POST', '/v1/images', token, { store: 'local', ...body });

    it("another user's public image named like the admin's does not change what a bare name resolves to", async () => {
      await fileOf('bob', 'squat.qcow2');
      const squat = await image(bobToken, { name: 'ucloud-test', file: 'squat.qcow2', public: true });
      expect(squat.statusCode).toBe(202);
      expect(squat.json()).toMatchObject({ owner: 'bob', name: 'ucloud-test', public: true });
      // make it usable, as if imported, so only the naming rules decide
      const admins = await c.managers().images.get('admin', 'ucloud-test');
      await c.managers().images.update('bob', 'ucloud-test', (cur) => ({ ...cur, status: 'ready', volume: admins!.volume! }));

      expect((await call('GET', '/v1/images/ucloud-test', aliceToken)).json().owner).toBe('admin');
      expect((await call('GET', '/v1/images/bob/ucloud-test', aliceToken)).json().owner).toBe('bob');
      expect((await call('GET', `/v1/images/${encodeURIComponent('bob/ucloud-test')}`, aliceToken)).json().owner).toBe('bob');
      const fromBare = await call('POST', '/v1/vms', aliceToken, { ...good, name: 'plain' });
      expect(fromBare.json().image).toMatchObject({ owner: 'admin', name: 'ucloud-test' });
      const fromBobs = await call('POST', '/v1/vms', aliceToken, { ...good, name: 'bobs', image: 'bob/ucloud-test' });
      expect(fromBobs.json().image).toMatchObject({ owner: 'bob', name: 'ucloud-test' });
      // bob's own name is his own image
      expect((await call('GET', '/v1/images/ucloud-test', bobToken)).json().owner).toBe('bob');
      // and the listing shows both, told apart by owner
      const listed = (await call('GET', '/v1/images', aliceToken)).json().items as { owner: string; name: string }[];
      expect(listed.filter((i) => i.name === 'ucloud-test').map((i) => i.owner).sort()).toEqual(['admin', 'bob']);
    });

    it("a name another user holds privately can be taken without revealing anything; only one's own names conflict", async () => {
      await fileOf('alice', 'plan.qcow2');
      await fileOf('bob', 'mine.qcow2');
      expect((await image(aliceToken, { name: 'secret-plan', file: 'plan.qcow2' })).statusCode).toBe(202);
      const bobs = await image(bobToken, { name: 'secret-plan', file: 'mine.qcow2' });
      expect(bobs.statusCode).toBe(202);
      expect(bobs.body).not.toContain('alice');
      expect(bobs.json()).toMatchObject({ owner: 'bob', name: 'secret-plan' });
      // asking for alice's private image looks exactly like asking for one that does not exist
      const hidden = await call('GET', '/v1/images/alice/secret-plan', bobToken);
      const absent = await call('GET', '/v1/images/alice/no-such-plan', bobToken);
      expect(hidden.statusCode).toBe(404);
      expect(hidden.json().code).toBe('IMAGE_NOT_FOUND');
      expect(hidden.body.replace('secret-plan', 'X')).toBe(absent.body.replace('no-such-plan', 'X'));
      expect((await call('DELETE', '/v1/images/alice/secret-plan', bobToken)).statusCode).toBe(404);
      const bobsList = (await call('GET', '/v1/images', bobToken)).json().items as { owner: string }[];
      expect(bobsList.some((i) => i.owner === 'alice')).toBe(false);
      // the one conflict left: your own name, told without naming anyone else
      const before = await revision();
      const again = await image(aliceToken, { name: 'secret-plan', file: 'plan.qcow2' });
      expect(again.statusCode).toBe(409);
      expect(again.json().code).toBe('IMAGE_EXISTS');
      expect(await revision()).toBe(before);
    });

    it('`ucloud up` moves image records of the old image/<store>/<name> layout to image/<owner>/<name>', async () => {
      const images = c.managers().images;
      const now = new Date().toISOString();
      const legacy = { name: 'legacy', store: 'local', owner: 'alice', public: false, status: 'ready' as const, volume: { ref: 'legacy.raw', format: 'raw' as const, virtualSize: 1 }, createdAt: now, updatedAt: now };
      await c.store.ns.put('image/local/legacy').value(JSON.stringify(legacy));
      expect(await images.migrateKeys(silentLogger)).toEqual([]);
      expect(await c.store.ns.get('image/local/legacy').string()).toBeNull();
      expect(await images.get('alice', 'legacy')).toEqual(legacy);
      // a VM made before names were per owner still finds its image by store and name
      expect(await images.forVm({ owner: 'alice', image: { store: 'local', name: 'legacy' } })).toEqual(legacy);
      expect(await images.migrateKeys(silentLogger)).toEqual([]);
    });

    it("a VM older than per-owner names never gets another owner's image of the same name in its disk", async () => {
      const images = c.managers().images;
      const now = new Date().toISOString();
      const rec = (owner: string) => ({ name: 'old-os', store: 'local', owner, public: true, status: 'ready' as const, volume: { ref: `${owner}.old-os.raw`, format: 'raw' as const, virtualSize: 1 }, createdAt: now, updatedAt: now });
      const legacyVm = { owner: 'bob', image: { store: 'local', name: 'old-os' } };
      await c.store.put(Kinds.image, Keys.image('admin', 'old-os'), rec('admin'));
      expect((await images.forVm(legacyVm))?.owner).toBe('admin'); // the only one: the one it was made from
      // aardvark's name sorts first; a guess would put his bytes into bob's new disk
      await c.store.put(Kinds.image, Keys.image('aardvark', 'old-os'), rec('aardvark'));
      await expect(images.forVm(legacyVm)).rejects.toMatchObject({ code: 'IMAGE_AMBIGUOUS' });
      // the VM owner's own image of that name is his, whoever else has one
      await c.store.put(Kinds.image, Keys.image('bob', 'old-os'), rec('bob'));
      expect((await images.forVm(legacyVm))?.owner).toBe('bob');
      for (const o of ['admin', 'aardvark', 'bob']) await images.removeRecord(o, 'old-os');
    });

    it("deleting a public image in use names only the caller's own VMs and counts the others", async () => {
      await fileOf('bob', 'pub.qcow2');
      expect((await image(bobToken, { name: 'pub-os', file: 'pub.qcow2', public: true })).statusCode).toBe(202);
      const admins = await c.managers().images.get('admin', 'ucloud-test');
      await c.managers().images.update('bob', 'pub-os', (cur) => ({ ...cur, status: 'ready', volume: admins!.volume! }));
      expect((await call('POST', '/v1/vms', aliceToken, { ...good, name: 'alices-secret-vm', image: 'bob/pub-os' })).statusCode).toBe(201);
      expect((await call('POST', '/v1/vms', bobToken, { ...good, name: 'bobs-vm', image: 'pub-os' })).statusCode).toBe(201);
      const res = await call('DELETE', '/v1/images/pub-os', bobToken);
      expect(res.statusCode).toBe(409);
      expect(res.json().code).toBe('IMAGE_IN_USE');
      expect(res.body).not.toContain('alices-secret-vm');
      expect(res.body).not.toContain('alice');
      expect(res.json().message).toContain('2 VM(s): bobs-vm, 1 of other users');
    });

    it('an image marked for deletion makes no more VMs: a create that resolved it before, or read it ready just before its commit, fails IMAGE_NOT_READY and writes no VM', async () => {
      const m = c.managers();
      const admins = await m.images.get('admin', 'ucloud-test');
      const bob = (await m.users.get('bob'))!;
      const now = new Date().toISOString();
      const ready = (name: string) => c.store.put(Kinds.image, Keys.image('bob', name), { name, store: 'local', owner: 'bob', public: false, status: 'ready' as const, volume: admins!.volume!, createdAt: now, updatedAt: now });
      const spec = (name: string, image: string) => ({ owner: 'bob', name, image: { store: 'local', owner: 'bob', name: image }, cpu: 1, ramBytes: 256 * 2 ** 20, diskBytes: 2 ** 30 });
      const vmsBefore = (await c.store.list(Kinds.vm, Keys.vms())).items.length;

      // The route resolves the image, then records the VM: a delete marked in between.
      await ready('gone-os');
      const resolved = await m.images.resolve(bob, 'gone-os');
      expect((await m.images.requestDelete(resolved, bob))?.status).toBe('deleting');
      await expect(m.vms.create(spec('late1', 'gone-os'))).rejects.toMatchObject({ code: 'IMAGE_NOT_READY' });

      // Inside the create: the image read ready, then marked, then the transaction: its compare on the image fails.
      await ready('race-os');
      const store = c.newStore();
      const txn = store.txn.bind(store);
      let marked = false;
      store.txn = () => {
        const t = txn();
        const commit = t.commit.bind(t);
        t.commit = async () => {
          if (!marked) {
            marked = true;
            // No VM uses it yet: the delete's own check lets it through.
            expect((await m.images.requestDelete((await m.images.get('bob', 'race-os'))!, bob))?.status).toBe('deleting');
          }
          return commit();
        };
        return t;
      };
      try {
        await expect(new VmManager(store, { actor: API_ACTOR }).create(spec('late2', 'race-os'))).rejects.toMatchObject({ code: 'IMAGE_NOT_READY' });
      } finally {
        store.close();
      }
      expect(marked).toBe(true);
      expect((await c.store.list(Kinds.vm, Keys.vms())).items.length).toBe(vmsBefore);
      expect(await m.vms.findByName('bob', 'late1')).toBeUndefined();
      expect(await m.vms.findByName('bob', 'late2')).toBeUndefined();
      // Deleted and made again under its name while the create ran: not the image the caller resolved and was allowed.
      await ready('swap-os');
      const first = await m.images.resolve(bob, 'swap-os');
      await c.store.put(Kinds.image, Keys.image('bob', 'swap-os'), { ...first, createdAt: new Date(Date.parse(first.createdAt) + 1000).toISOString() });
      await expect(m.vms.create({ ...spec('late3', 'swap-os'), imageCreatedAt: first.createdAt })).rejects.toMatchObject({ code: 'IMAGE_NOT_FOUND' });
      expect(await m.vms.findByName('bob', 'late3')).toBeUndefined();
      for (const name of ['gone-os', 'race-os', 'swap-os']) await m.images.removeRecord('bob', name);
    });

    it('an image reference that is not a name or owner/name is a 400 with a code, and writes nothing', async () => {
      const before = await revision();
      for (const ref of ['a/b/c', '../admin', 'Admin/ucloud-test', '/ucloud-test', 'x'.repeat(200)]) {
        const res = await call('POST', '/v1/vms', aliceToken, { ...good, name: 'refx', image: ref });
        expect(res.statusCode, ref).toBe(400);
        expect(res.json().code).toBe('VALIDATION_FAILED');
      }
      expect(await revision()).toBe(before);
    });
  });
});
