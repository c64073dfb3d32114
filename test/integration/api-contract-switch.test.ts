import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Api } from '../../src/api/context.js';
import { buildApi } from '../../src/api/server.js';
import { silentLogger } from '../../src/common/logger.js';
import { TestCluster } from '../helpers/cluster.js';

// bench/api compares the API with and without the role check; "off" must still authenticate,
// or the bench would measure a server without the token check it claims to keep.
describe('buildApi contract.authorize: false (bench only)', () => {
  let c: TestCluster;
  let on: Api;
  let off: Api;
  let userToken = '';

  beforeAll(async () => {
    c = await TestCluster.start();
    await c.bootstrap();
    const m = c.managers();
    userToken = (await m.users.create('alice', 'user')).token;
    on = buildApi(m, silentLogger);
    off = buildApi(m, silentLogger, { contract: { authorize: false } });
    await Promise.all([on.ready(), off.ready()]);
  });
  afterAll(async () => {
    await Promise.all([on?.close(), off?.close()]);
    await c?.stop();
  });

  it('still refuses a request without a token or with a wrong one', async () => {
    for (const headers of [{}, { authorization: 'Bearer not-a-token' }]) {
      const res = await off.inject({ method: 'GET', url: '/v1/vms', headers });
      expect(res.statusCode).toBe(401);
      expect(res.json()).toMatchObject({ code: 'UNAUTHENTICATED' });
    }
  });

  it("skips only the role check: a user's admin-only request passes it off, is refused on", async () => {
    const ask = (api: Api) => api.inject({ method: 'GET', url: '/v1/users', headers: { authorization: `Bearer ${userToken}` } });
    expect((await ask(on)).statusCode).toBe(403);
    expect((await ask(off)).statusCode).toBe(200);
  });

  it('leaves public routes public', async () => {
    expect((await off.inject({ method: 'GET', url: '/v1/health' })).statusCode).toBe(200);
  });
});
