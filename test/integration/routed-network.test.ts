import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Api } from '../../src/api/context.js';
import { buildApi } from '../../src/api/server.js';
import { silentLogger } from '../../src/common/logger.js';
import { isRoutedVni, NetworkManager } from '../../src/managers/networks.js';
import type { Network } from '../../src/model/index.js';
import { Keys, Kinds } from '../../src/store/keys.js';
import { TestCluster } from '../helpers/cluster.js';
import { vmRecord } from '../helpers/vm-record.js';

// The per-network choice (issue 12): routed or isolated at create, the
// cluster default, and ROUTING_OFF while route_mode is off. Nothing stored
// changes on a refusal.
describe('routed networks: create, default, refusal (real etcd)', () => {
  let c: TestCluster;
  let token = '';
  const apis: Api[] = [];
  const pools = { vniRange: { first: 2000, last: 2999 }, ipv6Pool: 'fd00:12:34::/48' };

  beforeAll(async () => {
    c = await TestCluster.start();
    await c.bootstrap({ guestImage: c.tinyImage() });
    token = (await c.managers().users.create('alice', 'user')).token;
  });
  afterAll(async () => {
    for (const a of apis) await a.close();
    await c.stop();
  });

  const apiWith = async (routing: { routeMode?: 'off' | 'static' | 'bgp'; routedDefault?: boolean }) => {
    const m = c.managers();
    m.networks = new NetworkManager(c.store, { ...pools, ...routing });
    const api = buildApi(m, silentLogger);
    await api.ready();
    apis.push(api);
    return (payload: object) => api.inject({ method: 'POST', url: '/v1/networks', headers: { authorization: `Bearer ${token}` }, payload });
  };

  it('route_mode off: --routed is refused with ROUTING_OFF and nothing is stored; isolated as before', async () => {
    const post = await apiWith({ routeMode: 'off' });
    const refused = await post({ name: 'pub', routed: true });
    expect(refused.statusCode).toBe(400);
    expect(refused.json()).toMatchObject({ code: 'ROUTING_OFF' });
    expect(await c.managers().networks.get('alice', 'pub')).toBeUndefined();
    const iso = await post({ name: 'iso' });
    expect(iso.statusCode).toBe(201);
    expect((iso.json() as Network).routed).toBeUndefined();
    const wrong = await post({ name: 'x', routed: 'yes' });
    expect(wrong.statusCode).toBe(400);
  });

  it('route_mode static with network_routed_default routed: routed unless asked isolated; hosts find out by VNI', async () => {
    const post = await apiWith({ routeMode: 'static', routedDefault: true });
    const byDefault = (await post({ name: 'web' })).json() as Network;
    const isolated = (await post({ name: 'lab', routed: false })).json() as Network;
    expect(byDefault.routed).toBe(true);
    expect(isolated.routed).toBeUndefined();
    expect(await isRoutedVni(c.store, byDefault.vni)).toBe(true);
    expect(await isRoutedVni(c.store, isolated.vni)).toBe(false);
    expect(await isRoutedVni(c.store, 2999)).toBe(false);
  });

  it("lists where each running VM's /128 is routed: the host for the owner, its address too for an admin", async () => {
    const post = await apiWith({ routeMode: 'static' });
    const net = (await post({ name: 'edge', routed: true })).json() as Network;
    const nic = (mac: string) => ({ network: 'edge', vni: net.vni, prefix: net.prefix, mac, address: net.prefix.replace('::/64', `::${mac.slice(-5).replace(':', '')}`) });
    const running = { ...vmRecord('alice', 'r1'), host: 'hv1', status: 'running' as const, nics: [nic('52:54:00:00:00:01')] };
    const stopped = { ...vmRecord('alice', 'r2'), host: 'hv1', status: 'stopped' as const, desired: 'stopped' as const, nics: [nic('52:54:00:00:00:02')] };
    // As a create writes them: the record and its name.
    for (const vm of [running, stopped]) await c.store.txn().absent(Keys.vm(vm.id)).put(Kinds.vm, Keys.vm(vm.id), vm).put(Kinds.vmName, Keys.vmName(vm.owner, vm.name), { id: vm.id }).commit();
    const get = (url: string, tok: string) => apis.at(-1)!.inject({ method: 'GET', url, headers: { authorization: `Bearer ${tok}` } });
    const hv1 = (await c.managers().hosts.get('hv1'))!.address;
    const dest = `${running.nics[0]!.address}/128`;
    expect((await get('/v1/networks/edge/routes', token)).json()).toEqual({ items: [{ destination: dest, vm: 'r1', host: 'hv1' }] });
    expect((await get('/v1/networks/edge/routes?owner=alice', c.adminToken)).json()).toEqual({ items: [{ destination: dest, vm: 'r1', host: 'hv1', via: hv1 }] });
    expect((await get('/v1/networks/edge?owner=alice', c.adminToken)).json()).toMatchObject({ name: 'edge', owner: 'alice' });
    // Another user's network is the operator's business only.
    expect((await get('/v1/networks/edge/routes?owner=admin', token)).statusCode).toBe(403);
    expect((await get('/v1/networks/edge?owner=admin', token)).statusCode).toBe(403);
    // An isolated network routes nothing.
    await post({ name: 'quiet', routed: false });
    expect((await get('/v1/networks/quiet/routes', token)).json()).toEqual({ items: [] });
  });
});
