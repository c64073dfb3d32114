import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApi } from '../../src/api/server.js';
import type { Api } from '../../src/api/context.js';
import { silentLogger } from '../../src/common/logger.js';
import { NetworkManager } from '../../src/managers/networks.js';
import type { Network, Vm } from '../../src/model/index.js';
import { Keys, Kinds } from '../../src/store/keys.js';
import { TestCluster } from '../helpers/cluster.js';

// VNIs, /64 prefixes and MACs come from pools; pools this small make concurrent
// creates draw the same values all the time, so only the compare-and-swap keeps
// them unique.
describe('allocation under concurrency (real etcd)', () => {
  let c: TestCluster;
  let api: Api;
  const tokens: string[] = [];

  beforeAll(async () => {
    c = await TestCluster.start();
    await c.bootstrap({ guestImage: c.tinyImage() });
    const m = c.managers();
    for (let i = 0; i < 5; i++) tokens.push((await m.users.create(`user${i}`, 'user')).token);
    m.networks = new NetworkManager(c.store, { vniRange: { first: 100, last: 159 }, ipv6Pool: 'fd00:aa:bb:c0::/58' });
    api = buildApi(m, silentLogger);
    await api.ready();
  });
  afterAll(async () => {
    await api.close();
    await c.stop();
  });

  const post = (token: string, url: string, payload: object) => api.inject({ method: 'POST', url, headers: { authorization: `Bearer ${token}` }, payload });

  it('50 concurrent network creates (60 VNIs, 64 prefixes in the pools) hand nothing out twice', async () => {
    const res = await Promise.all(Array.from({ length: 50 }, (_, i) => post(tokens[i % 5]!, '/v1/networks', { name: `net${i}` })));
    expect(res.map((r) => r.statusCode)).toEqual(Array(50).fill(201));
    const nets = res.map((r) => r.json() as Network);
    expect(new Set(nets.map((n) => n.vni)).size).toBe(50);
    expect(new Set(nets.map((n) => n.prefix)).size).toBe(50);
    for (const n of nets) {
      expect(n.vni).toBeGreaterThanOrEqual(100);
      expect(n.vni).toBeLessThanOrEqual(159);
      expect(n.prefix).toMatch(/^fd00:aa:bb:[c-f][0-9a-f]::\/64$/); // a /58: c0 to ff
    }
    expect((await c.store.list(Kinds.alloc, Keys.allocVnis())).items).toHaveLength(50);
    expect((await c.store.list(Kinds.alloc, Keys.allocPrefixes())).items).toHaveLength(50);
  });

  it('100 NICs created at once (50 VMs with 2 NICs each) get 100 different MACs', async () => {
    const res = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        post(tokens[i % 5]!, '/v1/vms', { name: `vm${i}`, image: 'ucloud-test', cpu: 1, ram: '128MiB', disk: '1GiB', networks: [`net${i % 5}`, `net${(i % 5) + 5}`] }),
      ),
    );
    expect(res.map((r) => r.statusCode)).toEqual(Array(50).fill(201));
    const macs = res.flatMap((r) => (r.json() as Vm).nics!.map((n) => n.mac));
    expect(macs).toHaveLength(100);
    expect(new Set(macs).size).toBe(100);
    for (const mac of macs) expect(parseInt(mac.slice(0, 2), 16) & 2).toBe(2); // locally administered
    expect((await c.store.list(Kinds.alloc, Keys.allocMacs())).items).toHaveLength(100);
  });

  it('an exhausted pool says so, and deleting a network frees its VNI and prefix', async () => {
    const more = await Promise.all(Array.from({ length: 12 }, (_, i) => post(tokens[0]!, '/v1/networks', { name: `more${i}` })));
    const codes = more.map((r) => r.statusCode);
    expect(codes.filter((s) => s === 201)).toHaveLength(10); // 60 VNIs, 50 taken
    expect(more.filter((r) => r.statusCode === 409).map((r) => r.json().code)).toEqual(['POOL_EXHAUSTED', 'POOL_EXHAUSTED']);
    const made = (more.find((r) => r.statusCode === 201)!.json() as Network).name;
    const del = await api.inject({ method: 'DELETE', url: `/v1/networks/${made}`, headers: { authorization: `Bearer ${tokens[0]}` } });
    expect(del.statusCode).toBe(204);
    expect((await c.store.list(Kinds.alloc, Keys.allocVnis())).items).toHaveLength(59);
    const again = await post(tokens[0]!, '/v1/networks', { name: 'again' });
    expect(again.statusCode).toBe(201);
  });

  it('deleting VMs frees their MACs', async () => {
    for (let i = 0; i < 5; i++) {
      const r = await api.inject({ method: 'DELETE', url: `/v1/vms/vm${i}`, headers: { authorization: `Bearer ${tokens[i % 5]}` } });
      expect(r.statusCode).toBe(204); // never placed: gone at once
    }
    expect((await c.store.list(Kinds.alloc, Keys.allocMacs())).items).toHaveLength(90);
    expect(await c.store.get(Kinds.vm, Keys.vm('00000000-0000-0000-0000-000000000000'))).toBeUndefined();
  });
});
