import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../../src/common/logger.js';
import { TokenCache } from '../../src/managers/token-cache.js';
import { hashToken, MAX_TOKENS_PER_USER, UserManager } from '../../src/managers/users.js';
import { Keys, Kinds } from '../../src/store/keys.js';
import { Store } from '../../src/store/store.js';
import { until } from '../helpers/cluster.js';
import { startTestEtcd, type TestEtcd } from '../helpers/etcd.js';

describe('authentication from the token cache (real etcd)', () => {
  let etcd: TestEtcd;
  let store: Store;
  let cache: TokenCache;
  let users: UserManager;

  beforeAll(async () => {
    etcd = await startTestEtcd();
    store = new Store(etcd.storeOptions('/tc/'));
    cache = new TokenCache(store, silentLogger);
    await cache.start();
    users = new UserManager(store, cache);
  });
  afterAll(async () => {
    await cache.stop();
    store.close();
    await etcd.stop();
    rmSync(etcd.dir, { recursive: true, force: true });
  });

  it('answers from memory, accepts a token issued a moment ago, and forgets a revoked token or a deleted user', async () => {
    const { token } = await users.create('alice', 'user');
    // Issued a moment ago: the cache may not have it yet, etcd does.
    expect((await users.authenticate(token)).name).toBe('alice');
    await until('cached', () => cache.lookup(hashToken(token))?.name === 'alice');

    const second = (await users.issueToken('alice', { name: 'ci' })).token;
    expect((await users.authenticate(second)).name).toBe('alice');
    await store.delete(Keys.token(hashToken(second)));
    await until('a revoked token is refused', () => users.authenticate(second).then(() => false, (e: { code?: string }) => e.code === 'UNAUTHENTICATED'));
    expect((await users.authenticate(token)).name).toBe('alice');

    // The admins, for resolving another user's public image by its bare name, without reading every user.
    expect(cache.admins()).toEqual([]);
    await users.create('root', 'admin');
    await until('an admin is known', () => cache.admins()?.join() === 'root');

    // A user's token list is theirs from memory, not a read of every user's tokens; it follows issues and revokes.
    await users.create('bob', 'user');
    const list = vi.spyOn(store, 'list');
    try {
      const made = await users.issueToken('alice', { name: 'deploy' });
      await until('the new token is cached', () => cache.tokensOf('alice')?.some((t) => t.key === Keys.token(hashToken(made.token))) ?? false);
      expect((await users.listTokens('alice')).map((t) => t.name).sort()).toEqual(['deploy', 'first']);
      expect((await users.listTokens('bob')).map((t) => t.name)).toEqual(['first']);
      await users.revokeToken('alice', made.info.id);
      await until('a revoked token leaves the list', async () => (await users.listTokens('alice')).length === 1);
      // And an admin's user list, from the same cache.
      await until('bob is cached', async () => (await users.list()).map((u) => u.name).join() === 'alice,bob,root');
      expect(list.mock.calls.filter(([, prefix]) => prefix === Keys.tokens() || prefix === Keys.users())).toEqual([]);
    } finally {
      list.mockRestore();
    }

    await store.delete(Keys.user('alice'));
    await until('a deleted user is refused', () => users.authenticate(token).then(() => false, (e: { code?: string }) => e.code === 'UNAUTHENTICATED'));
    await expect(users.authenticate('uc_not-a-token')).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
  });

  it('a user holds at most MAX_TOKENS_PER_USER tokens, even when many are asked for at once', async () => {
    await users.create('carol', 'user');
    for (let i = 2; i < MAX_TOKENS_PER_USER - 1; i++) await users.issueToken('carol', { name: `t${i}` });
    // Two below the cap, ten at once: each counts two free, but only two may land.
    const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => users.issueToken('carol', { name: `burst${i}` })));
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => (r.reason as { code?: string }).code);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(2);
    expect(refused).toEqual(Array(8).fill('TOO_MANY_TOKENS'));
    const names = await store.list(Kinds.tokenName, Keys.tokenNamesOf('carol'));
    expect(names.items).toHaveLength(MAX_TOKENS_PER_USER);
    const tokens = await store.list(Kinds.token, Keys.tokens());
    expect(tokens.items.filter((t) => t.value.user === 'carol')).toHaveLength(MAX_TOKENS_PER_USER);
    // Rotating one in place is no further token, but a "replace" of a name not held is; a revoke makes room for exactly one.
    await users.issueToken('carol', { name: 't2', replace: true });
    await expect(users.issueToken('carol', { name: 'one-more' })).rejects.toMatchObject({ code: 'TOO_MANY_TOKENS' });
    await expect(users.issueToken('carol', { name: 'one-more', replace: true })).rejects.toMatchObject({ code: 'TOO_MANY_TOKENS' });
    const id = (await users.listTokens('carol')).find((t) => t.name === 't3')!.id;
    await users.revokeToken('carol', id);
    await users.issueToken('carol', { name: 'one-more' });
    await expect(users.issueToken('carol', { name: 'and-another' })).rejects.toMatchObject({ code: 'TOO_MANY_TOKENS' });
    // A name taken and a user gone are still told apart from a lost race.
    await users.revokeToken('carol', (await users.listTokens('carol')).find((t) => t.name === 't4')!.id);
    await expect(users.issueToken('carol', { name: 'one-more' })).rejects.toMatchObject({ code: 'TOKEN_NAME_TAKEN' });
    await expect(users.issueToken('dave-is-absent', { name: 'x' })).rejects.toMatchObject({ code: 'USER_NOT_FOUND' });
  });

  it('tokens asked for at once far below the cap all land, and tokens made before names existed count', async () => {
    // They serialize on the user's record: each that loses counts again and tries again, none gives up.
    await users.create('erin', 'user');
    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => users.issueToken('erin', { name: `at-once${i}` })));
    expect(results.filter((r) => r.status === 'rejected').map((r) => ((r as PromiseRejectedResult).reason as { code?: string }).code)).toEqual([]);
    expect((await store.list(Kinds.tokenName, Keys.tokenNamesOf('erin'))).items).toHaveLength(21);

    // Ten tokens of the days before names: a record each, no name record.
    await users.create('frank', 'user');
    for (let i = 0; i < 10; i++) await store.put(Kinds.token, Keys.token(hashToken(`uc_legacy-${i}`)), { user: 'frank', createdAt: new Date().toISOString(), description: `old ${i}` });
    await until('the old tokens are cached', async () => (await users.listTokens('frank')).length === 11);
    let issued = 0;
    for (;;) {
      const r = await users.issueToken('frank', { name: `n${issued}` }).then(() => true, (e: { code?: string }) => e.code);
      if (r !== true) {
        expect(r).toBe('TOO_MANY_TOKENS');
        break;
      }
      issued++;
    }
    expect(issued).toBe(MAX_TOKENS_PER_USER - 11);
  });
  it('at the cap, expired tokens make room (the first to expire goes first), and an expired token\'s name is free again', async () => {
    await users.create('gina', 'user');
    const ago = (ms: number) => new Date(Date.now() - ms).toISOString();
    // The manager takes any time (the route refuses one that has passed): two named tokens long expired, one legacy.
    const stale = await users.issueToken('gina', { name: 'ci', expiresAt: ago(60_000) });
    await users.issueToken('gina', { name: 'nightly', expiresAt: ago(120_000) });
    await store.put(Kinds.token, Keys.token(hashToken('uc_legacy-gina')), { user: 'gina', createdAt: ago(600_000), description: 'old', expiresAt: ago(30_000) });
    for (let i = 4; i < MAX_TOKENS_PER_USER; i++) await users.issueToken('gina', { name: `live${i}`, expiresAt: new Date(Date.now() + 3_600_000).toISOString() });
    await until('all 50 are cached', async () => (await users.listTokens('gina')).length === MAX_TOKENS_PER_USER);
    // An expired token still lists, so its owner sees why it stopped working.
    expect((await users.listTokens('gina')).map((t) => t.name ?? t.description)).toEqual(expect.arrayContaining(['ci', 'nightly', 'old']));

    // Ten at once at the cap with three expired: exactly three land, each taking the place of one expired token.
    const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => users.issueToken('gina', { name: `burst${i}` })));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
    expect(results.filter((r) => r.status === 'rejected').map((r) => ((r as PromiseRejectedResult).reason as { code?: string }).code)).toEqual(Array(7).fill('TOO_MANY_TOKENS'));
    const names = (await store.list(Kinds.tokenName, Keys.tokenNamesOf('gina'))).items.map((n) => n.key.split('/').pop());
    expect(names).not.toContain('ci');
    expect(names).not.toContain('nightly');
    const records = (await store.list(Kinds.token, Keys.tokens())).items.filter((t) => t.value.user === 'gina');
    expect(records).toHaveLength(MAX_TOKENS_PER_USER);
    expect(records.filter((t) => t.value.expiresAt && Date.parse(t.value.expiresAt) <= Date.now())).toEqual([]);
    await expect(users.authenticate(stale.token)).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    await expect(users.issueToken('gina', { name: 'one-more' })).rejects.toMatchObject({ code: 'TOO_MANY_TOKENS' });

    // The first to expire goes first; a name held by an expired token is taken over without "replace", a live one is not.
    await users.create('hal', 'user');
    const first = await users.issueToken('hal', { name: 'a', expiresAt: ago(50_000) });
    const second = await users.issueToken('hal', { name: 'b', expiresAt: ago(10_000) });
    for (let i = 3; i < MAX_TOKENS_PER_USER; i++) await users.issueToken('hal', { name: `t${i}` });
    await until('all 50 are cached', async () => (await users.listTokens('hal')).length === MAX_TOKENS_PER_USER);
    await users.issueToken('hal', { name: 'c' });
    await expect(users.authenticate(first.token)).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    await expect(users.authenticate(second.token)).rejects.toMatchObject({ code: 'TOKEN_EXPIRED' });
    const again = await users.issueToken('hal', { name: 'b' });
    expect((await users.authenticate(again.token)).name).toBe('hal');
    await expect(users.authenticate(second.token)).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    await expect(users.issueToken('hal', { name: 't3' })).rejects.toMatchObject({ code: 'TOKEN_NAME_TAKEN' });
    expect((await store.list(Kinds.tokenName, Keys.tokenNamesOf('hal'))).items).toHaveLength(MAX_TOKENS_PER_USER);
  });
});
