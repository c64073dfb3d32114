import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Api } from '../../src/api/context.js';
import { buildApi } from '../../src/api/server.js';
import { silentLogger } from '../../src/common/logger.js';
import { fromBase32, hotp, totpStep } from '../../src/common/totp.js';
import { TokenCache } from '../../src/managers/token-cache.js';
import { hashToken, UserManager } from '../../src/managers/users.js';
import { Keys, Kinds } from '../../src/store/keys.js';
import { TestCluster, until } from '../helpers/cluster.js';

describe('users and tokens through the API, authenticated from the token cache (real etcd)', () => {
  let c: TestCluster;
  let api: Api;
  let tokens: TokenCache;
  let users: UserManager;
  let admin = '';

  const call = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, token: string, payload?: object) =>
    api.inject({ method, url, headers: { authorization: `Bearer ${token}` }, ...(payload === undefined ? {} : { payload }) });
  const whoami = async (token: string) => {
    const res = await call('GET', '/v1/whoami', token);
    return res.statusCode === 200 ? (res.json() as { name: string }).name : (res.json() as { code: string }).code;
  };

  beforeAll(async () => {
    c = await TestCluster.start();
    await c.bootstrap({ guestImage: c.tinyImage() });
    admin = c.adminToken;
    tokens = new TokenCache(c.store, silentLogger);
    users = new UserManager(c.store, tokens);
    api = buildApi({ ...c.managers(), users }, silentLogger, { tokens });
    await api.ready();
    await until('token cache synced', () => tokens.admins()?.includes('admin'));
  });
  afterAll(async () => {
    await api.close();
    await c.stop();
  });

  it('an admin creates, lists, disables, enables and deletes a user; a disabled user is refused with USER_DISABLED', async () => {
    const created = await call('POST', '/v1/users', admin, { name: 'dave' });
    expect(created.statusCode).toBe(201);
    const dave = (created.json() as { token: string }).token;
    expect(await whoami(dave)).toBe('dave');
    await until('cached', () => tokens.lookup(hashToken(dave))?.name === 'dave');

    const off = await call('PATCH', '/v1/users/dave', admin, { disabled: true });
    expect(off.statusCode).toBe(200);
    expect(off.json()).toMatchObject({ name: 'dave', disabled: true });
    expect(off.json().disabledAt).toBeTruthy();
    const refused = await until('the cache refuses a disabled user', async () => ((await whoami(dave)) === 'USER_DISABLED' ? call('GET', '/v1/whoami', dave) : undefined));
    expect(refused.statusCode).toBe(401);
    expect(refused.json().hint).toContain('ucloud user enable');
    const listed = (await call('GET', '/v1/users', admin)).json() as { items: { name: string; disabled?: boolean }[] };
    expect(listed.items.find((u) => u.name === 'dave')?.disabled).toBe(true);

    expect((await call('PATCH', '/v1/users/dave', admin, { disabled: false })).json()).toMatchObject({ disabled: false });
    await until('enabled again', async () => (await whoami(dave)) === 'dave');
    expect((await call('PATCH', '/v1/users/nobody', admin, { disabled: true })).json()).toMatchObject({ code: 'USER_NOT_FOUND' });
    expect((await call('PATCH', '/v1/users/dave', admin, { disabled: 'yes' })).statusCode).toBe(400);

    const del = await call('DELETE', '/v1/users/dave', admin);
    expect(del.statusCode).toBe(204);
    expect(await c.store.get(Kinds.user, Keys.user('dave'))).toBeUndefined();
    expect(await whoami(dave)).toBe('UNAUTHENTICATED');
    expect((await call('DELETE', '/v1/users/dave', admin)).json()).toMatchObject({ code: 'USER_NOT_FOUND' });
  });

  it('an admin cannot disable or delete themselves, nor the last enabled admin go', async () => {
    for (const [method, payload] of [['PATCH', { disabled: true }], ['DELETE', undefined]] as const) {
      const res = await call(method, '/v1/users/admin', admin, payload);
      expect(res.statusCode).toBe(409);
      expect(res.json()).toMatchObject({ code: 'USER_IS_CALLER' });
    }
    // Through the manager (another caller): the last enabled admin stays.
    await expect(users.setDisabled('admin', true, 'someone-else')).rejects.toMatchObject({ code: 'LAST_ADMIN' });
    await expect(users.delete('admin', 'someone-else')).rejects.toMatchObject({ code: 'LAST_ADMIN' });
    expect(await whoami(admin)).toBe('admin');
  });

  it('two admins disabling (or deleting) each other at once: one wins, one enabled admin always remains', async () => {
    for (let round = 0; round < 10; round++) {
      const [a, b] = [`adm-a${round}`, `adm-b${round}`];
      await users.create(a, 'admin');
      await users.create(b, 'admin');
      // The bootstrap admin steps aside for the round, so these two are the only enabled admins.
      await users.setDisabled('admin', true, a);
      const del = round % 2 === 1;
      const results = await Promise.allSettled(del ? [users.delete(b, a), users.delete(a, b)] : [users.setDisabled(b, true, a), users.setDisabled(a, true, b)]);
      const enabled = (await users.list()).filter((u) => u.role === 'admin' && !u.disabled).map((u) => u.name);
      expect(enabled, `round ${round}`).toHaveLength(1);
      expect(results.filter((r) => r.status === 'fulfilled'), `round ${round}`).toHaveLength(1);
      const refused = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      expect(['LAST_ADMIN', 'CONFLICT']).toContain(refused.reason.code);
      await users.setDisabled('admin', false, enabled[0]!);
      for (const n of [a, b]) if (!del || enabled.includes(n)) await users.setDisabled(n, true, 'admin');
    }
  });

  it('deleting a user who owns a VM or a network is refused with counts; after cleanup it goes with their tokens and keys', async () => {
    const carol = (await call('POST', '/v1/users', admin, { name: 'carol' })).json().token as string;
    const extra = (await call('POST', '/v1/tokens', carol, { name: 'laptop' })).json().token as string;
    expect((await call('POST', '/v1/keys', carol, { name: 'k1', publicKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl carol@x' })).statusCode).toBe(201);
    expect((await call('POST', '/v1/networks', carol, { name: 'net1' })).statusCode).toBe(201);
    const vm = await call('POST', '/v1/vms', carol, { name: 'web1', image: 'ucloud-test', cpu: 1, ram: '256MiB', disk: '1GiB' });
    expect(vm.statusCode).toBe(201);

    const refused = await call('DELETE', '/v1/users/carol', admin);
    expect(refused.statusCode).toBe(409);
    // Her net1, and the default network her VM got on first use.
    expect(refused.json()).toMatchObject({ code: 'USER_HAS_RESOURCES', details: { vms: 1, networks: 2, images: 0, files: 0 } });
    expect(refused.json().message).toContain('1 vms, 2 networks');
    expect(await whoami(carol)).toBe('carol');

    expect((await call('DELETE', '/v1/vms/web1', carol)).statusCode).toBeLessThan(300);
    await until('the VM is gone', async () => (await c.store.list(Kinds.vmName, Keys.vmNamesOf('carol'))).items.length === 0);
    expect((await call('DELETE', '/v1/users/carol', admin)).json()).toMatchObject({ code: 'USER_HAS_RESOURCES', details: { vms: 0, networks: 2 } });
    for (const net of ['net1', 'default']) expect((await call('DELETE', `/v1/networks/${net}`, carol)).statusCode).toBe(204);

    expect((await call('DELETE', '/v1/users/carol', admin)).statusCode).toBe(204);
    expect(await whoami(carol)).toBe('UNAUTHENTICATED');
    expect(await whoami(extra)).toBe('UNAUTHENTICATED');
    const left = [
      ...(await c.store.list(Kinds.token, Keys.tokens())).items.filter((t) => t.value.user === 'carol'),
      ...(await c.store.list(Kinds.tokenName, Keys.tokenNamesOf('carol'))).items,
      ...(await c.store.list(Kinds.sshKey, Keys.keysOf('carol'))).items,
    ];
    expect(left).toEqual([]);
    // A namesake made later starts with nothing of hers.
    const again = (await call('POST', '/v1/users', admin, { name: 'carol' })).json().token as string;
    expect((await call('GET', '/v1/tokens', again)).json().items.map((t: { name: string }) => t.name)).toEqual(['first']);
    expect((await call('GET', '/v1/keys', again)).json().items).toEqual([]);
  });

  it('a user creates named tokens, lists them without secrets, and revokes one; names are unique; another user\'s id is 404', async () => {
    const erin = (await call('POST', '/v1/users', admin, { name: 'erin' })).json().token as string;
    const frank = (await call('POST', '/v1/users', admin, { name: 'frank' })).json().token as string;
    const made = await call('POST', '/v1/tokens', erin, { name: 'ci', expiresIn: '30d' });
    expect(made.statusCode).toBe(201);
    const { token: ci, info } = made.json() as { token: string; info: { id: string; name: string; expiresAt: string } };
    expect(info).toMatchObject({ name: 'ci', user: 'erin', id: hashToken(ci).slice(0, 12) });
    const days = (Date.parse(info.expiresAt) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(29.9);
    expect(days).toBeLessThanOrEqual(30);
    expect(await whoami(ci)).toBe('erin');

    const dup = await call('POST', '/v1/tokens', erin, { name: 'ci' });
    expect(dup.statusCode).toBe(409);
    expect(dup.json()).toMatchObject({ code: 'TOKEN_NAME_TAKEN' });
    for (const body of [{ name: 'x', expiresIn: 'soon' }, { name: 'x', expiresIn: '0s' }, { name: 'x', expiresAt: '2001-01-01T00:00:00Z' }, { name: 'x', expiresIn: '1d', expiresAt: '2099-01-01T00:00:00Z' }, { name: 'x', secret: 'mine' }]) {
      const res = await call('POST', '/v1/tokens', erin, body);
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
    }

    const list = await call('GET', '/v1/tokens', erin);
    expect(list.statusCode).toBe(200);
    const items = list.json().items as { id: string; name: string }[];
    expect(items.map((t) => t.name)).toEqual(['first', 'ci']);
    expect(list.body).not.toContain(ci);
    expect(list.body).not.toContain(erin);
    expect(list.body).not.toContain(hashToken(ci));

    // Frank can neither see nor revoke Erin's token: 404, and it still works.
    expect((await call('GET', '/v1/tokens', frank)).json().items.map((t: { name: string }) => t.name)).toEqual(['first']);
    const foreign = await call('DELETE', `/v1/tokens/${info.id}`, frank);
    expect(foreign.statusCode).toBe(404);
    expect(foreign.json()).toMatchObject({ code: 'TOKEN_NOT_FOUND' });
    expect((await call('GET', '/v1/tokens?user=erin', frank)).statusCode).toBe(403);
    expect(await whoami(ci)).toBe('erin');
    expect((await call('DELETE', '/v1/tokens/not-an-id', erin)).statusCode).toBe(400);

    // An admin lists another user's with ?user=.
    expect((await call('GET', '/v1/tokens?user=erin', admin)).json().items.map((t: { name: string }) => t.name)).toEqual(['first', 'ci']);

    await until('cached', () => tokens.lookup(hashToken(ci))?.name === 'erin');
    expect((await call('DELETE', `/v1/tokens/${info.id}`, erin)).statusCode).toBe(204);
    expect(await whoami(ci)).toBe('UNAUTHENTICATED');
    expect(await whoami(erin)).toBe('erin');
    expect((await call('DELETE', `/v1/tokens/${info.id}`, erin)).statusCode).toBe(404);
    // The name is free again.
    expect((await call('POST', '/v1/tokens', erin, { name: 'ci' })).statusCode).toBe(201);
  });

  it('an expired token is refused with TOKEN_EXPIRED, by the cache too (checked at each lookup)', async () => {
    const gina = (await call('POST', '/v1/users', admin, { name: 'gina' })).json().token as string;
    const { token: short, info } = (await call('POST', '/v1/tokens', gina, { name: 'short', expiresIn: '2s' })).json() as { token: string; info: { expiresAt: string } };
    expect(await whoami(short)).toBe('gina');
    // Known to the cache before it expires: no watch event comes at expiry, so the lookup itself must say no.
    await until('cached', () => tokens.lookup(hashToken(short))?.name === 'gina');
    await until('expired', () => Date.now() > Date.parse(info.expiresAt));
    expect(tokens.lookup(hashToken(short))).toBeUndefined();
    const res = await call('GET', '/v1/whoami', short);
    expect(res.statusCode).toBe(401);
    expect(res.json()).toMatchObject({ code: 'TOKEN_EXPIRED' });
    expect(await whoami(gina)).toBe('gina');
    // Still listed (so its owner sees why), and revocable.
    const listed = (await call('GET', '/v1/tokens', gina)).json().items as { name: string }[];
    expect(listed.map((t) => t.name)).toEqual(['first', 'short']);
  });

  it('a token stored before names and ids existed lists with a derived id and revokes', async () => {
    const { token } = await c.managers().users.create('hana', 'user');
    const legacy = 'uc_legacy-token-for-hana';
    await c.store.put(Kinds.token, Keys.token(hashToken(legacy)), { user: 'hana', createdAt: new Date().toISOString(), description: 'old style' });
    expect(await whoami(legacy)).toBe('hana');
    const items = (await call('GET', '/v1/tokens', token)).json().items as { id: string; name?: string; description?: string }[];
    const old = items.find((t) => t.description === 'old style');
    expect(old).toMatchObject({ id: hashToken(legacy).slice(0, 12) });
    expect(old?.name).toBeUndefined();
    expect((await call('DELETE', `/v1/tokens/${old!.id}`, token)).statusCode).toBe(204);
    expect(await whoami(legacy)).toBe('UNAUTHENTICATED');
  });

  it('a user may enable TOTP; then making a token needs a fresh code (each code once); an admin can turn it off', async () => {
    const ivan = (await call('POST', '/v1/users', admin, { name: 'ivan' })).json().token as string;
    expect((await call('GET', '/v1/totp', ivan)).json()).toEqual({ enabled: false, pending: false });
    expect((await call('POST', '/v1/tokens', ivan, { name: 'plain' })).statusCode).toBe(201);

    const started = await call('POST', '/v1/totp', ivan);
    expect(started.statusCode).toBe(201);
    const { otpauthUri, secret } = started.json() as { otpauthUri: string; secret: string };
    expect(otpauthUri).toBe(`otpauth://totp/ucloud:ivan?secret=${secret}&issuer=ucloud&algorithm=SHA1&digits=6&period=30`);
    // Pending until confirmed: nothing asks for a code yet, and the secret shows nowhere else.
    expect((await call('POST', '/v1/tokens', ivan, { name: 'pending' })).statusCode).toBe(201);
    expect((await call('GET', '/v1/whoami', ivan)).body).not.toContain(secret);
    expect((await call('GET', '/v1/users', admin)).body).not.toContain(secret);

    // Codes at steps s-1, s, s+1 all fall in the ±1 window only if no step boundary passes meanwhile.
    await until('not near a step boundary', () => Date.now() % 30_000 < 20_000);
    const s = totpStep();
    const code = (step: number) => hotp(fromBase32(secret), step);
    const wrong = ['000000', '111111', '222222'].find((c) => ![s - 1, s, s + 1].map(code).includes(c))!;
    const bad = await call('POST', '/v1/totp/confirm', ivan, { totp: wrong });
    expect(bad.statusCode).toBe(403);
    expect(bad.json()).toMatchObject({ code: 'TOTP_INVALID' });
    expect((await call('POST', '/v1/totp/confirm', ivan, { totp: code(s - 1) })).json()).toEqual({ enabled: true, pending: false });
    expect((await call('POST', '/v1/totp', ivan)).json()).toMatchObject({ code: 'TOTP_ENABLED' });

    const without = await call('POST', '/v1/tokens', ivan, { name: 'a' });
    expect(without.statusCode).toBe(403);
    expect(without.json()).toMatchObject({ code: 'TOTP_REQUIRED' });
    expect((await call('POST', '/v1/tokens', ivan, { name: 'a', totp: code(s) })).statusCode).toBe(201);
    const replay = await call('POST', '/v1/tokens', ivan, { name: 'b', totp: code(s) });
    expect(replay.statusCode).toBe(403);
    expect(replay.json()).toMatchObject({ code: 'TOTP_INVALID' });
    expect((await call('POST', '/v1/tokens', ivan, { name: 'b', totp: code(s + 1) })).statusCode).toBe(201);

    // Off: the owner needs a code; another user may not; an admin may, without one.
    expect((await call('DELETE', '/v1/totp', ivan, {})).json()).toMatchObject({ code: 'TOTP_REQUIRED' });
    const judy = (await call('POST', '/v1/users', admin, { name: 'judy' })).json().token as string;
    expect((await call('DELETE', '/v1/totp?user=ivan', judy, {})).statusCode).toBe(403);
    expect((await call('DELETE', '/v1/totp?user=ivan', admin, {})).statusCode).toBe(204);
    expect((await call('GET', '/v1/totp', ivan)).json()).toEqual({ enabled: false, pending: false });
    expect((await call('POST', '/v1/tokens', ivan, { name: 'c' })).statusCode).toBe(201);
  });
});
