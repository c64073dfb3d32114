import { Agent, request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Api } from '../../src/api/context.js';
import { buildApi } from '../../src/api/server.js';
import { silentLogger } from '../../src/common/logger.js';
import { TokenCache } from '../../src/managers/token-cache.js';
import { hashToken, tokenId, UserManager } from '../../src/managers/users.js';
import { TestCluster, until } from '../helpers/cluster.js';

// The API keeps a connection's last Authorization header and its hash (auth.ts tokenHashOf), so a
// keep-alive client's token is hashed once. What a client relies on: every request on the connection
// is still its own token's, and a revoked token is refused at once on a connection that used it.
describe('a token remembered per connection (real etcd, real HTTP keep-alive)', () => {
  let c: TestCluster;
  let api: Api;
  let users: UserManager;
  let port = 0;
  // One socket, kept alive: every request below rides the same connection.
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });

  const get = (path: string, authorization: string | undefined) =>
    new Promise<{ status: number; body: { name?: string; code?: string }; reused: boolean }>((resolve, reject) => {
      const req = request({ host: '::1', port, path, agent, headers: authorization === undefined ? {} : { authorization } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as { name?: string; code?: string }, reused: req.reusedSocket }));
      });
      req.on('error', reject);
      req.end();
    });

  beforeAll(async () => {
    c = await TestCluster.start();
    await c.bootstrap();
    const tokens = new TokenCache(c.store, silentLogger);
    users = new UserManager(c.store, tokens);
    api = buildApi({ ...c.managers(), users }, silentLogger, { tokens, web: false });
    await api.listen({ host: '::1', port: 0 });
    port = (api.server.address() as { port: number }).port;
  });
  afterAll(async () => {
    agent.destroy();
    await api?.close();
    await c?.stop();
  });

  it('answers each request as its own token, whatever the connection sent before; a revoked token is refused on it', async () => {
    const alice = (await users.create('alice', 'user')).token;
    const bob = (await users.create('bob', 'user')).token;
    const cached = (t: string) => until('the token cache knows the token', () => users.authenticateCached(hashToken(t)) !== undefined, 10_000);
    await cached(alice);
    await cached(bob);

    const who = async (authorization: string | undefined) => {
      const r = await get('/v1/whoami', authorization);
      return r.status === 200 ? r.body.name : `${r.status} ${r.body.code}`;
    };
    expect(await who(`Bearer ${alice}`)).toBe('alice');
    expect(await who(`Bearer ${bob}`)).toBe('bob');
    expect(await who(`Bearer ${alice}`)).toBe('alice');
    // The same token under another spelling of the scheme is the same token; a broken header is no token.
    expect(await who(`bearer  ${bob}`)).toBe('bob');
    expect(await who(`Bearer ${alice}x`)).toBe('401 UNAUTHENTICATED');
    expect(await who(`Bearer ${alice} ${alice}`)).toBe('401 UNAUTHENTICATED');
    expect(await who(undefined)).toBe('401 UNAUTHENTICATED');
    expect(await who(`Bearer ${alice}`)).toBe('alice');

    // Revoked: refused on the very connection that just used it, as soon as the cache has the deletion.
    await users.revokeToken('alice', tokenId(hashToken(alice)));
    await until('the token cache forgets the revoked token', () => users.authenticateCached(hashToken(alice)) === undefined, 10_000);
    expect(await who(`Bearer ${alice}`)).toBe('401 UNAUTHENTICATED');
    expect(await who(`Bearer ${bob}`)).toBe('bob');

    // All of it on one connection (else the remembered header was never put to the test).
    const last = await get('/v1/whoami', `Bearer ${bob}`);
    expect(last.reused).toBe(true);
  });
});
