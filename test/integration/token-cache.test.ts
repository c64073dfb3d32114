import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../../src/common/logger.js';
import { TokenCache } from '../../src/managers/token-cache.js';
import { hashToken, UserManager } from '../../src/managers/users.js';
import { Keys } from '../../src/store/keys.js';
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
});
