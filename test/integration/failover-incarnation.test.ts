import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VmManager } from '../../src/managers/vms.js';
import { Keys, Kinds } from '../../src/store/keys.js';
import { GiB, TestCluster, until } from '../helpers/cluster.js';

// The scheduler's failover pass skips a live host by counting its VMs of its
// present incarnation (an index by host and epoch) instead of reading each of
// its VMs: a host that came back as another incarnation while some of its VMs
// still name the old one must still have exactly those acted on. Real etcd,
// api and scheduler; the test plays the host's agent (presence and writes).

describe('failover: a host back as another incarnation', () => {
  let c: TestCluster;
  const get = async (id: string) => (await c.store.get(Kinds.vm, Keys.vm(id)))!.value;
  const epochOf = async (host: string) => (await c.store.get(Kinds.hostAlive, Keys.hostAlive(host)))!.value.epoch!;

  /** Writes the presence record with an epoch, as an agent does once its lease is announced. */
  async function announce(host: string, epoch: string): Promise<void> {
    const lease = c.store.lease(30_000);
    await c.store.put(Kinds.hostAlive, Keys.hostAlive(host), { name: host, pid: 1, accel: 'tcg', since: new Date().toISOString(), epoch }, lease);
  }

  beforeAll(async () => {
    c = await TestCluster.start();
    await c.bootstrap({ guestImage: c.tinyImage(), hosts: [{ name: 'hv1', cpu: 8, ram: 8 * GiB, disk: 100 * GiB }] });
    await announce('hv1', 'one');
    await Promise.all([c.spawn('api').ready, c.spawn('scheduler', { UCLOUD_FAILOVER_MARGIN: '3s' }).ready]);
  }, 120_000);

  afterAll(async () => {
    await c?.stop();
  }, 60_000);

  it('only the VMs that name the old incarnation are marked HOST_DEAD; those of the new one and those with none run on', async () => {
    const made = await Promise.all(['old1', 'new1', 'none1'].map((name) => c.client().vms.create({ name, image: 'ucloud-test', cpu: 1, ram: '128MiB', disk: '1GiB' })));
    await until('all placed on hv1', async () => ((await Promise.all(made.map((m) => get(m.id)))).every((v) => v.host === 'hv1') ? true : undefined));
    let incarnation = 'one';
    const hv1 = new VmManager(c.store, { actor: { kind: 'host', name: 'hv1', epoch: () => incarnation } });
    const run = (id: string) => hv1.observe(id, (cur) => ({ ...cur, status: 'running', observedGeneration: cur.generation }));
    const [old1, new1, none1] = made.map((m) => m.id) as [string, string, string];
    for (const id of made.map((m) => m.id)) await run(id);
    // A record from before epochs: none named (raw, as such a record was stored).
    const legacy = (await c.store.get(Kinds.vm, Keys.vm(none1)))!;
    const { epoch: _placed, ...noEpoch } = legacy.value;
    await c.store.put(Kinds.vm, legacy.key, noEpoch);
    // The agent restarts: a new incarnation takes over new1 (as an agent does on start) but not old1.
    await announce('hv1', 'two');
    expect(await epochOf('hv1')).toBe('two');
    incarnation = 'two';
    await run(new1);
    expect([(await get(old1)).epoch, (await get(new1)).epoch, (await get(none1)).epoch]).toEqual(['one', 'two', undefined]);
    const dead = await until('old1 HOST_DEAD', async () => {
      const v = await get(old1);
      return v.status === 'error' && v.error?.code === 'HOST_DEAD' ? v : undefined;
    }, 30_000);
    expect(dead.host).toBe('hv1');
    // A pass acts on every VM of the host it walks: the others were looked at then, and left alone.
    for (const id of [new1, none1]) expect((await get(id)).status).toBe('running');
  }, 90_000);

  it('host presence is in the audit log: host.alive for the incarnation that came, host.dead when its lease ends, nothing for what the scheduler found at its start', async () => {
    const hostEvents = async () => (await c.client().events.list({ all: true })).filter((e) => e.object.kind === 'host');
    // As a lease that ran out: the presence record goes.
    await c.store.delete(Keys.hostAlive('hv1'));
    const seen = await until('host.dead recorded', async () => {
      const e = await hostEvents();
      return e.some((x) => x.action === 'host.dead') ? e : undefined;
    }, 30_000);
    expect(seen.map((e) => [e.action, e.object.name, e.object.owner, e.result, e.code ?? '-'])).toEqual([
      ['host.alive', 'hv1', '', 'ok', '-'],
      ['host.dead', 'hv1', '', 'error', 'HOST_DEAD'],
    ]);
    expect(seen[0]!.message).toContain('another incarnation');
    // The cluster's own objects are for admins: a user's view of the log has none of them.
    const user = c.client((await c.managers().users.create('presence-reader', 'user')).token);
    expect((await user.events.list({})).filter((e) => e.object.kind === 'host')).toEqual([]);
  }, 60_000);

  it('many hosts changing at once (an etcd outage, a rack) make one event each way, not one per host', async () => {
    const hostEvents = async () => (await c.client().events.list({ all: true })).filter((e) => e.object.kind === 'host' && e.action.startsWith('hosts.'));
    const rack = Array.from({ length: 12 }, (_, i) => `rack${String(i).padStart(2, '0')}`);
    await Promise.all(rack.map((h) => announce(h, 'r1')));
    await until('hosts.alive recorded', async () => ((await hostEvents()).length === 1 ? true : undefined), 30_000);
    await Promise.all(rack.map((h) => c.store.delete(Keys.hostAlive(h))));
    const seen = await until('hosts.dead recorded', async () => {
      const e = await hostEvents();
      return e.length === 2 ? e : undefined;
    }, 30_000);
    expect(seen.map((e) => [e.action, e.result, e.code ?? '-', e.object.name ?? '-'])).toEqual([
      ['hosts.alive', 'ok', '-', '-'],
      ['hosts.dead', 'error', 'HOST_DEAD', '-'],
    ]);
    for (const e of seen) expect(e.message).toContain(`12 hosts`);
    expect(seen[1]!.message).toContain(rack.join(', '));
    // And not one per host besides.
    const each = (await c.client().events.list({ all: true })).filter((e) => e.object.kind === 'host' && e.object.name?.startsWith('rack'));
    expect(each).toEqual([]);
  }, 60_000);
});
