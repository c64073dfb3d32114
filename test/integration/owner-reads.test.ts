import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Api } from '../../src/api/context.js';
import { buildApi } from '../../src/api/server.js';
import { silentLogger } from '../../src/common/logger.js';
import { NetworkManager } from '../../src/managers/networks.js';
import { Keys } from '../../src/store/keys.js';
import { TestCluster } from '../helpers/cluster.js';

// Issue 10: what one user asks about their own VMs (a network's delete, its
// routes, their usage) is read through their name index, not through every VM
// of the fleet. Real etcd; the store's range reads are watched.
describe("a user's own VMs are read through their index, never all of vm/ (real etcd)", () => {
  let c: TestCluster;
  let api: Api;
  const tokens: Record<string, string> = {};
  const as = (who: string, method: 'GET' | 'POST' | 'DELETE', url: string, payload?: object) =>
    api.inject({ method, url, headers: { authorization: `Bearer ${tokens[who]}` }, ...(payload ? { payload } : {}) });

  beforeAll(async () => {
    c = await TestCluster.start();
    await c.bootstrap({ guestImage: c.tinyImage() });
    const m = c.managers();
    for (const who of ['alice', 'bob']) tokens[who] = (await m.users.create(who, 'user')).token;
    m.networks = new NetworkManager(c.store, { vniRange: { first: 2000, last: 2999 }, ipv6Pool: 'fd00:12:34::/48', routeMode: 'static' });
    api = buildApi(m, silentLogger);
    await api.ready();
    // Each user has a network "lab"; bob has a VM on his, alice two on hers and one without.
    for (const who of ['alice', 'bob']) expect((await as(who, 'POST', '/v1/networks', { name: 'lab', routed: true })).statusCode).toBe(201);
    const vm = (who: string, name: string, networks?: string[]) => as(who, 'POST', '/v1/vms', { name, image: 'admin/ucloud-test', cpu: 1, ram: '128MiB', disk: '1GiB', ...(networks ? { networks } : {}) });
    for (const [who, name, nets] of [['alice', 'a1', ['lab']], ['alice', 'a2', ['lab']], ['alice', 'a3', undefined], ['bob', 'b1', ['lab']]] as const) {
      const res = await vm(who, name, nets ? [...nets] : undefined);
      expect(res.statusCode, res.body).toBe(201);
    }
  });
  afterAll(async () => {
    await api?.close();
    await c.stop();
  });

  it("a network in use is refused naming only its owner's VMs; its routes answer; a free one is deleted; none read every VM", async () => {
    const list = vi.spyOn(c.store, 'list');
    try {
      const inUse = await as('alice', 'DELETE', '/v1/networks/lab');
      expect(inUse.statusCode).toBe(409);
      expect(inUse.json()).toMatchObject({ code: 'NETWORK_IN_USE', message: 'network "lab" is used by a1, a2' });
      // No VM is placed (no scheduler here): routed, but nothing to route yet.
      const routes = await as('alice', 'GET', '/v1/networks/lab/routes');
      expect([routes.statusCode, routes.json()]).toEqual([200, { items: [] }]);
      for (const id of ['a1', 'a2']) expect((await as('alice', 'DELETE', `/v1/vms/${id}`)).statusCode).toBe(204);
      // A VM on no host is deleted at once: the network is then free, and bob's is still his.
      const freed = await as('alice', 'DELETE', '/v1/networks/lab');
      expect(freed.statusCode, freed.body).toBe(204);
      expect((await as('bob', 'DELETE', '/v1/networks/lab')).json()).toMatchObject({ code: 'NETWORK_IN_USE', message: 'network "lab" is used by b1' });
      const prefixes = list.mock.calls.map(([, prefix]) => prefix);
      expect(prefixes).toContain(Keys.vmNamesOf('alice'));
      expect(prefixes).not.toContain(Keys.vms());
    } finally {
      list.mockRestore();
    }
  });
});
