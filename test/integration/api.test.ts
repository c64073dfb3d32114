import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApi } from '../../src/api/server.js';
import type { Api } from '../../src/api/context.js';
import { silentLogger } from '../../src/common/logger.js';
import { Kinds } from '../../src/store/keys.js';
import { TestCluster } from '../helpers/cluster.js';

describe('API input validation and authorization (real etcd)', () => {
  let c: TestCluster;
  let api: Api;
  let aliceToken = '';
  let bobToken = '';

  /** The etcd revision: any write anywhere moves it. */
  const revision = async () => (await c.store.list(Kinds.meta, 'no-such-prefix/')).revision;

  const call = (method: 'GET' | 'POST' | 'DELETE', url: string, token: string | undefined, payload?: unknown) =>
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
    const alices = (await call('GET', '/v1/vms', aliceToken)).json() as { owner: string; id: string }[];
    const bobs = (await call('GET', '/v1/vms', bobToken)).json() as { owner: string; id: string }[];
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
    const all = (await call('GET', '/v1/vms?all=true', c.adminToken)).json() as unknown[];
    expect(all).toHaveLength(2);
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
});
