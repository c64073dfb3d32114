import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildApi } from '../../src/api/server.js';
import type { Api } from '../../src/api/context.js';
import { Client } from '../../src/client/client.js';
import { silentLogger } from '../../src/common/logger.js';
import type { Event } from '../../src/model/index.js';
import { VmManager } from '../../src/managers/vms.js';
import { hostActor, SCHEDULER_ACTOR } from '../../src/model/vm-lifecycle.js';
import { EVENT_BATCH_MAX, EVENT_QUEUE_MAX, EVENT_WRITES_IN_FLIGHT, EventLog, eventId } from '../../src/store/event-log.js';
import { Keys, Kinds } from '../../src/store/keys.js';
import { Store } from '../../src/store/store.js';
import { TestCluster, UCLOUD, until } from '../helpers/cluster.js';
import { laggingProxy } from '../helpers/etcd-proxy.js';

/** The next event from `stream` that `pick` accepts, within `ms` (an event that never comes fails the test, it does not hang it). */
async function nextEvent(stream: AsyncIterator<{ event: Event }>, pick: (e: Event) => boolean, ms = 10_000): Promise<{ event: Event; skipped: Event[] }> {
  const skipped: Event[] = [];
  const deadline = Date.now() + ms;
  for (;;) {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('no such event in time')), Math.max(0, deadline - Date.now()))));
    const r = await Promise.race([stream.next(), late]).finally(() => clearTimeout(timer));
    if (r.done) throw new Error('the stream ended');
    if (pick(r.value.event)) return { event: r.value.event, skipped };
    skipped.push(r.value.event);
  }
}

/** An opened stream: resolves once the server watches, so what is done next is on it. */
async function openStream(client: Client, q: Parameters<Client['events']['stream']>[0], signal: AbortSignal): Promise<AsyncIterator<{ event: Event; revision: string }>> {
  let opened!: () => void;
  const open = new Promise<void>((r) => (opened = r));
  const it = client.events.stream(q, signal, () => opened())[Symbol.asyncIterator]();
  const first = it.next();
  await Promise.race([open, first.then(() => Promise.reject(new Error('the stream ended before it opened')))]);
  // The first pending next() is handed back as the iterator's first answer.
  let pending: typeof first | undefined = first;
  return {
    next: () => {
      const p = pending ?? it.next();
      pending = undefined;
      return p;
    },
  };
}

describe('audit events (real etcd)', () => {
  let c: TestCluster;
  let api: Api;
  let url = '';
  const tokens: Record<string, string> = {};
  const stop = new AbortController();

  const call = (method: 'GET' | 'POST' | 'DELETE', path: string, who: string, payload?: unknown) =>
    api.inject({ method, url: path, headers: { authorization: `Bearer ${tokens[who]}` }, ...(payload === undefined ? {} : { payload: payload as object }) });
  const client = (who: string) => new Client({ url, token: tokens[who]! });
  const eventsOf = async (who: string, q = '') => (await call('GET', `/v1/events${q}`, who)).json().items as Event[];

  beforeAll(async () => {
    c = await TestCluster.start();
    await c.bootstrap({ guestImage: c.tinyImage() });
    const m = c.managers();
    tokens.admin = c.adminToken;
    tokens.alice = (await m.users.create('alice', 'user')).token;
    tokens.bob = (await m.users.create('bob', 'user')).token;
    api = buildApi({ ...m, eventLog: new EventLog(c.store, { log: silentLogger }) }, silentLogger, { eventHeartbeatMs: 200 });
    await api.listen({ host: '::1', port: 0 });
    const addr = api.server.address();
    url = `http://[::1]:${typeof addr === 'object' && addr ? addr.port : 0}`;
  });
  afterAll(async () => {
    stop.abort();
    await api.close();
    await c.stop();
  });

  const vm = { name: 'web1', image: 'ucloud-test', cpu: 1, ram: '256MiB', disk: '1GiB' };

  it('records a create, a refused create and a delete through the API: who, what, which, result and code', async () => {
    const created = await call('POST', '/v1/vms', 'alice', vm);
    expect(created.statusCode).toBe(201);
    const id = created.json().id as string;
    expect((await call('POST', '/v1/vms', 'alice', vm)).json().code).toBe('VM_NAME_TAKEN');
    expect((await call('POST', '/v1/vms', 'alice', { ...vm, name: 'web2', colour: 'blue' })).statusCode).toBe(400);
    expect([202, 204]).toContain((await call('DELETE', '/v1/vms/web1', 'alice')).statusCode);

    const seen = await until('four events of alice', async () => {
      const items = await eventsOf('alice', '?vm=web1');
      const all = await eventsOf('alice');
      return items.length >= 3 && all.length >= 4 ? { items, all } : undefined;
    }, 10_000);
    const [create, taken, del] = seen.items;
    expect(create).toMatchObject({ actor: { kind: 'user', name: 'alice' }, action: 'vm.create', object: { kind: 'vm', id, name: 'web1', owner: 'alice' }, result: 'ok' });
    expect(create!.code).toBeUndefined();
    expect(taken).toMatchObject({ actor: { name: 'alice' }, action: 'vm.create', object: { name: 'web1', owner: 'alice' }, result: 'error', code: 'VM_NAME_TAKEN' });
    expect(del).toMatchObject({ action: 'vm.delete', object: { name: 'web1', owner: 'alice' }, result: 'ok' });
    // A request the schema refused is an event too, with its code.
    expect(seen.all.find((e) => e.code === 'UNKNOWN_FIELD')).toMatchObject({ action: 'vm.create', result: 'error', object: { name: 'web2' } });
    // Ids sort by time, and the list is in that order.
    expect(seen.all.map((e) => e.id)).toEqual(seen.all.map((e) => e.id).sort());
    expect(new Date(create!.time).getTime()).toBeLessThanOrEqual(new Date(del!.time).getTime());
  });

  it("never shows a user another's events, in the list or the stream; an admin sees them with all", async () => {
    const bobStream = await openStream(client('bob'), {}, stop.signal);
    expect((await call('POST', '/v1/keys', 'alice', { name: 'laptop', publicKey: 'not a key' })).statusCode).toBe(400);
    expect((await call('DELETE', '/v1/keys/nonesuch', 'bob')).statusCode).toBe(404);
    // Events come in revision order: alice's, written first, would be before bob's own.
    const { event, skipped } = await nextEvent(bobStream, (e) => e.action === 'key.delete');
    expect(event).toMatchObject({ actor: { name: 'bob' }, object: { owner: 'bob', name: 'nonesuch' }, result: 'error', code: 'KEY_NOT_FOUND' });
    expect(skipped).toEqual([]);

    await until('alice key event', async () => (await eventsOf('alice')).some((e) => e.action === 'key.create'), 10_000);
    for (const q of ['', '?all=true', '?owner=alice', '?vm=web1']) {
      const bobs = await eventsOf('bob', q);
      if (!q.includes('vm=')) expect(bobs.length).toBeGreaterThan(0);
      expect(bobs.every((e) => e.object.owner === 'bob'), q).toBe(true);
    }
    const all = await eventsOf('admin', '?all=true&limit=1000');
    expect(new Set(all.map((e) => e.object.owner))).toEqual(new Set(['alice', 'bob']));
    expect((await eventsOf('admin', '?owner=alice')).every((e) => e.object.owner === 'alice')).toBe(true);
  });

  it("a cursor forged to start before the caller's prefix is refused, not a window on others' events", async () => {
    await until('alice has events', async () => (await eventsOf('alice')).length > 0, 10_000);
    // The list's own name, so only the position is forged: "event/" sorts before every owner's prefix.
    const forged = Buffer.from(JSON.stringify({ l: 'events/bob/', a: 'event/', t: Math.floor(Date.now() / 1000) })).toString('base64url');
    const res = await call('GET', `/v1/events?cursor=${forged}`, 'bob');
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json().code).toBe('INVALID_CURSOR');
  });

  it('a user holds at most 5 streams; a stream ends at the next heartbeat once its token is revoked', async () => {
    const m = c.managers();
    // A user of its own: other tests' streams must not count against it.
    const { token } = await m.users.create('sam', 'user');
    const streams = new AbortController();
    try {
      const opened = await Promise.all(Array.from({ length: 5 }, () => fetch(`${url}/v1/events/stream`, { headers: { authorization: `Bearer ${token}` }, signal: streams.signal })));
      expect(opened.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
      const sixth = await fetch(`${url}/v1/events/stream`, { headers: { authorization: `Bearer ${token}` } });
      expect(sixth.status).toBe(429);
      expect(((await sixth.json()) as { code: string }).code).toBe('TOO_MANY_STREAMS');
      // Revoked: every open stream ends by itself (the server closes it), within a few heartbeats of 200 ms.
      const id = (await m.users.listTokens('sam'))[0]!.id;
      await m.users.revokeToken('sam', id);
      const ended = await Promise.all(opened.map(async (r) => {
        const reader = r.body!.getReader();
        const t0 = Date.now();
        for (;;) {
          const { done } = await reader.read();
          if (done) return Date.now() - t0;
        }
      }));
      expect(Math.max(...ended)).toBeLessThan(10_000);
      // Their places are free again for a valid token.
      const fresh = (await m.users.issueToken('sam', { name: 'again' })).token;
      const again = await fetch(`${url}/v1/events/stream`, { headers: { authorization: `Bearer ${fresh}` }, signal: streams.signal });
      expect(again.status).toBe(200);
    } finally {
      streams.abort();
    }
  });

  it("a refused request goes into its caller's log, not the named owner's; one without a valid token into none", async () => {
    const before = (await eventsOf('admin', '?owner=alice&limit=1000')).length;
    expect((await api.inject({ method: 'DELETE', url: '/v1/users/alice' })).statusCode).toBe(401);
    expect((await call('DELETE', '/v1/images/alice/planted-text', 'bob')).statusCode).toBe(404);
    await until("bob's refusal recorded", async () => (await eventsOf('bob')).some((e) => e.object.name === 'planted-text'), 10_000);
    const bobs = (await eventsOf('bob')).find((e) => e.object.name === 'planted-text')!;
    expect(bobs).toMatchObject({ actor: { name: 'bob' }, object: { owner: 'bob' }, result: 'error', code: 'IMAGE_NOT_FOUND' });
    // Both asked before bob's was recorded, so anything for alice would be there by now.
    expect((await eventsOf('admin', '?owner=alice&limit=1000')).length).toBe(before);
  });

  it('pages a list with next', async () => {
    const first = (await call('GET', '/v1/events?limit=2', 'alice')).json();
    expect(first.items).toHaveLength(2);
    expect(first.next).toBeTruthy();
    const second = (await call('GET', `/v1/events?limit=2&cursor=${first.next}`, 'alice')).json();
    expect(second.items[0].id > first.items[1].id).toBe(true);
    expect((await call('GET', `/v1/events?cursor=${first.next}`, 'bob')).json().code).toBe('INVALID_CURSOR');
  });

  it("streams an event another daemon's writer records, at once", async () => {
    const stream = await openStream(client('alice'), { vm: 'web9' }, stop.signal);
    const host = new EventLog(c.newStore(), { log: silentLogger });
    const written = await host.record({ actor: { kind: 'host', name: 'hv1' }, action: 'vm.running', object: { kind: 'vm', id: '00000000-0000-4000-8000-000000000009', name: 'web9', owner: 'alice' }, result: 'ok' });
    expect(written).toBeDefined();
    const t0 = Date.now();
    const { event } = await nextEvent(stream, () => true, 5000);
    expect(event).toEqual(written);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('a stream says where it watches from, so a reader cut off before its first event resumes there and misses nothing', async () => {
    const first = new AbortController();
    const res = await fetch(`${url}/v1/events/stream?vm=web8`, { headers: { authorization: `Bearer ${tokens.alice}` }, signal: first.signal });
    const from = res.headers.get('x-ucloud-watch-from');
    expect(from).toMatch(/^[0-9]+$/);
    const reader = res.body!.getReader();
    const head = new TextDecoder().decode((await reader.read()).value);
    expect(head).toContain(`id: ${BigInt(from!) - 1n}\n`);
    // Recorded while the reader is cut off, before any event reached it.
    first.abort();
    const host = new EventLog(c.newStore(), { log: silentLogger });
    const written = await host.record({ actor: { kind: 'host', name: 'hv1' }, action: 'vm.running', object: { kind: 'vm', id: '00000000-0000-4000-8000-000000000008', name: 'web8', owner: 'alice' }, result: 'ok' });
    const again = await openStream(client('alice'), { vm: 'web8', since: from! }, stop.signal);
    expect((await nextEvent(again, () => true, 5000)).event).toEqual(written);
    // What the start echoes is the server's own number: a crafted `since` is refused, a crafted Last-Event-ID ignored.
    const crafted = await call('GET', '/v1/events/stream?since=1%0d%0ax-evil:%201', 'alice');
    expect(crafted.statusCode).toBe(400);
    expect(crafted.json().code).toMatch(/^[A-Z_]+$/);
    const lying = new AbortController();
    const res2 = await fetch(`${url}/v1/events/stream`, { headers: { authorization: `Bearer ${tokens.alice}`, 'last-event-id': '7\r\nx-evil: 1'.replace(/[\r\n]/g, ' ') }, signal: lying.signal });
    expect(res2.headers.get('x-evil')).toBeNull();
    expect(res2.headers.get('x-ucloud-watch-from')).toMatch(/^[0-9]+$/);
    lying.abort();
  });

  it('keeps events for the retention only: they go with their bucket lease', async () => {
    const short = new EventLog(c.store, { retentionMs: 1000, log: silentLogger });
    expect(short.bucketMs).toBe(1000);
    const e = await short.record({ actor: { kind: 'system', name: 'test' }, action: 'test.expire', object: { kind: 'test', owner: 'carol' }, result: 'ok' });
    const key = Keys.event('carol', e!.id);
    expect(await c.store.get(Kinds.event, key)).toBeDefined();
    const t0 = Date.now();
    await until('the event to expire', async () => (await c.store.get(Kinds.event, key)) === undefined, 20_000);
    // Lease TTL = retention + one bucket (2 s); etcd counts whole seconds and expires within about one more.
    expect(Date.now() - t0).toBeLessThan(6000);
  });

  it('records at most bucketMax per bucket, so a flood cannot grow the log without bound', async () => {
    const capped = new EventLog(c.store, { bucketMax: 3, log: silentLogger, now: () => 1_800_000_000_000 });
    const results = [];
    for (let i = 0; i < 5; i++) results.push(await capped.record({ actor: { kind: 'system', name: 'test' }, action: 'test.flood', object: { kind: 'test', owner: 'dave' }, result: 'ok' }));
    expect(results.filter((r) => r !== undefined)).toHaveLength(3);
    expect((await c.store.list(Kinds.event, Keys.eventsOf('dave'))).items).toHaveLength(3);
  });

  it("one owner's flood uses up only that owner's share of a bucket: another's events are still recorded", async () => {
    const capped = new EventLog(c.store, { bucketMax: 3, log: silentLogger, now: () => 1_900_000_000_000 });
    const rec = (owner: string) => capped.record({ actor: { kind: 'user', name: owner }, action: 'vm.create', object: { kind: 'vm', owner }, result: 'error', code: 'VALIDATION_FAILED' });
    for (let i = 0; i < 10; i++) await rec('mallory');
    expect(await rec('frank')).toBeDefined();
    expect(await capped.record({ actor: { kind: 'user', name: 'admin' }, action: 'host.create', object: { kind: 'host', owner: '' }, result: 'ok' })).toBeDefined();
    expect((await c.store.list(Kinds.event, Keys.eventsOf('mallory'))).items).toHaveLength(3);
    expect((await c.store.list(Kinds.event, Keys.eventsOf('frank'))).items).toHaveLength(1);
  });

  it("a failing event write does not fail the request it records, and is logged", async () => {
    const broken = Object.create(c.store) as Store;
    broken.txn = () => {
      const t = c.store.txn();
      t.commit = () => Promise.reject(new Error('etcd refused the event'));
      return t;
    };
    const warned: string[] = [];
    const log = Object.create(silentLogger) as typeof silentLogger;
    log.warn = ((_o: unknown, msg: string) => void warned.push(msg)) as typeof log.warn;
    const m = c.managers();
    const events = new EventLog(broken, { log });
    const api2 = buildApi({ ...m, eventLog: events }, silentLogger);
    await api2.ready();
    try {
      const res = await api2.inject({ method: 'POST', url: '/v1/keys', headers: { authorization: `Bearer ${tokens.bob}` }, payload: { name: 'ok', publicKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHsKu0PuDPb0Ax0KgIU7rlSBEgTqEMHUKbFhlXwL1PQm bob@test' } });
      expect(res.statusCode).toBe(201);
      expect(await m.keys.get('bob', 'ok')).toBeDefined();
      await events.flushed();
      expect(warned).toEqual(['cannot record an audit event; the change itself stands']);
    } finally {
      await api2.close();
    }
  });

  it("lists a request's event as soon as the request is answered", async () => {
    for (const name of ['now1', 'now2', 'now3']) {
      expect((await call('DELETE', `/v1/keys/${name}`, 'alice')).statusCode).toBe(404);
      expect((await eventsOf('alice', '?limit=1000')).filter((e) => e.action === 'key.delete' && e.object.name === name)).toHaveLength(1);
    }
  });

  it('writes events recorded together in batches: every one, once, and flushed() waits for them', async () => {
    const log = new EventLog(c.store, { log: silentLogger });
    const n = 2 * EVENT_BATCH_MAX + 7;
    const recorded = Array.from({ length: n }, (_, i) => log.record({ actor: { kind: 'system', name: 'test' }, action: 'test.batch', object: { kind: 'test', owner: 'erin', name: `b${i}` }, result: 'ok' }));
    await log.flushed();
    const stored = (await c.store.list(Kinds.event, Keys.eventsOf('erin'))).items.map((v) => v.value);
    expect(stored.map((e) => e.object.name).sort()).toEqual(Array.from({ length: n }, (_, i) => `b${i}`).sort());
    expect((await Promise.all(recorded)).map((e) => e?.id).sort()).toEqual(stored.map((e) => e.id).sort());
  });

  it('a burst goes out in full batches back to back: only a short batch waits out the linger', async () => {
    // A minute's linger: were full batches held to it, the third would not be written within the test's time.
    const log = new EventLog(c.store, { log: silentLogger, lingerMs: 60_000 });
    const n = 3 * EVENT_BATCH_MAX;
    const recorded = Array.from({ length: n }, (_, i) => log.record({ actor: { kind: 'system', name: 'test' }, action: 'test.burst', object: { kind: 'test', owner: 'fay', name: `f${i}` }, result: 'ok' }));
    await log.flushed();
    expect((await Promise.all(recorded)).filter((e) => e === undefined)).toHaveLength(0);
    expect((await c.store.list(Kinds.event, Keys.eventsOf('fay'))).items).toHaveLength(n);
  }, 20_000);

  it('a burst has several full batches in flight at once; each event is told only once every event before it is, and a batch holds its slot until then', async () => {
    // Each commit is held at a gate of the test's, so how many are under way at once can be counted and their ends reordered.
    const gates: (() => void)[] = [];
    const seq: string[] = [];
    let inFlight = 0;
    let most = 0;
    const store = c.newStore();
    const txn = store.txn.bind(store);
    store.txn = () => {
      const t = txn();
      const commit = t.commit.bind(t);
      t.commit = async (opts) => {
        most = Math.max(most, ++inFlight);
        seq.push('commit');
        await new Promise<void>((r) => gates.push(r));
        const ok = await commit(opts);
        inFlight--;
        seq.push('committed');
        return ok;
      };
      return t;
    };
    try {
      const log = new EventLog(store, { log: silentLogger });
      const n = (EVENT_WRITES_IN_FLIGHT + 1) * EVENT_BATCH_MAX;
      const told: number[] = [];
      const recorded = Array.from({ length: n }, (_, i) =>
        log.record({ actor: { kind: 'system', name: 'test' }, action: 'test.inflight', object: { kind: 'test', owner: 'ida', name: `i${i}` }, result: 'ok' }).then((e) => {
          if (i % EVENT_BATCH_MAX === 0) seq.push(`told ${i / EVENT_BATCH_MAX}`);
          told.push(i);
          return e;
        }),
      );
      await vi.waitFor(() => expect(gates).toHaveLength(EVENT_WRITES_IN_FLIGHT));
      // The last batch in flight is let through first: written, but its events wait for the batches before them.
      gates.pop()!();
      await vi.waitFor(() => expect(inFlight).toBe(EVENT_WRITES_IN_FLIGHT - 1));
      expect(told).toEqual([]);
      // Then the first three, in order; the fifth batch goes once a slot is free, and is let through too.
      while (gates.length) gates.shift()!();
      await vi.waitFor(() => expect(gates).toHaveLength(1));
      gates.shift()!();
      await log.flushed();
      expect(most).toBe(EVENT_WRITES_IN_FLIGHT);
      expect(told).toEqual(Array.from({ length: n }, (_, i) => i));
      // Its slot was the first batch's, freed when that batch was told: not the fourth's, written long before.
      expect(seq.lastIndexOf('commit')).toBeGreaterThan(seq.indexOf('told 0'));
      expect((await Promise.all(recorded)).filter((e) => e === undefined)).toHaveLength(0);
      expect((await c.store.list(Kinds.event, Keys.eventsOf('ida'))).items).toHaveLength(n);
    } finally {
      store.close();
    }
  });

  it('a writer that waits for room (the scheduler) is held while etcd does not answer, and then nothing it recorded is lost', async () => {
    const proxy = await laggingProxy(new URL(c.store.opts.endpoints[0]!), 0);
    const slow = new Store({ ...c.newStore().opts, endpoints: [proxy.url] });
    const log = new EventLog(slow, { log: silentLogger, bucketMax: 100_000 });
    const ev = (i: number) => ({ actor: { kind: 'system' as const, name: 'test' }, action: 'test.room', object: { kind: 'test', owner: 'gus', name: `g${i}` }, result: 'ok' as const });
    try {
      await log.record(ev(-1)); // its lease granted and one batch written before etcd goes quiet
      proxy.hold();
      const n = EVENT_QUEUE_MAX / 2 + EVENT_BATCH_MAX;
      const recorded = Array.from({ length: n }, (_, i) => log.record(ev(i)));
      // Half the queue's bound is taken, and no batch can be answered while held: no room for 2,000 more.
      let roomy = false;
      const room = log.roomFor(2000).then(() => (roomy = true));
      await new Promise((r) => setImmediate(r));
      expect(roomy).toBe(false);
      proxy.release();
      await room;
      await Promise.all(recorded);
      const stored = await c.store.list(Kinds.event, Keys.eventsOf('gus'));
      expect(stored.items).toHaveLength(n + 1);
    } finally {
      proxy.release();
      slow.close();
      await proxy.close();
    }
  }, 60_000);

  it("a batch whose first id another writer already used goes again under new ids; a retried commit that had gone through is not written twice", async () => {
    const at = 1_950_000_000_000;
    const [clash, retried] = ['1950000000000-0000c0de', '1950000000000-0000c0e0'];
    const ids = [clash, '1950000000000-0000c0df', retried];
    const log = new EventLog(c.store, { log: silentLogger, now: () => at, newId: (ms) => ids.shift() ?? eventId(ms) });
    const input = { actor: { kind: 'system' as const, name: 'test' }, action: 'test.mine', object: { kind: 'test', owner: 'hal', name: 'h0' }, result: 'ok' as const };
    // Another writer's event under the first id this writer gives.
    const theirs: Event = { id: clash, time: new Date(at).toISOString(), actor: { kind: 'system', name: 'other' }, action: 'test.theirs', object: { kind: 'test', owner: 'hal', name: 'other' }, result: 'ok' };
    await c.store.put(Kinds.event, Keys.event('hal', theirs.id), theirs);
    const mine = await log.record(input);
    expect(mine).toBeDefined();
    expect(mine!.id).toBe('1950000000000-0000c0df');
    // This writer's own event already on record under its next id, as a commit etcd applied but whose answer was lost leaves it.
    const again: Event = { id: retried, time: new Date(at).toISOString(), ...input, object: { ...input.object, name: 'h1' } };
    await c.store.put(Kinds.event, Keys.event('hal', again.id), again);
    expect((await log.record({ ...input, object: { ...input.object, name: 'h1' } }))?.id).toBe(again.id);
    const stored = (await c.store.list(Kinds.event, Keys.eventsOf('hal'))).items.map((i) => i.value);
    expect(stored.map((e) => `${e.action}:${e.object.name}`).sort()).toEqual(['test.mine:h0', 'test.mine:h1', 'test.theirs:other']);
    expect(stored.find((e) => e.object.name === 'other')).toEqual(theirs);
  });
});

describe('ucloud events (the CLI against a real API)', () => {
  let c: TestCluster;

  beforeAll(async () => {
    c = await TestCluster.start();
    await c.bootstrap({ guestImage: c.tinyImage() });
    await c.spawn('api').ready;
  });
  afterAll(async () => {
    await c.stop();
  });

  it('--follow prints each event as a JSON line as it happens; without it, lists them', async () => {
    const child = spawn(process.execPath, [UCLOUD, 'events', '--follow', '-o', 'json'], { env: c.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    const lines = () => out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Event);
    try {
      const admin = c.client();
      // The stream starts from now: poke until the CLI shows it is watching.
      let n = 0;
      await until('the CLI to follow', async () => {
        await admin.keys.delete(`probe${n++}`).catch(() => undefined);
        return lines().some((e) => e.action === 'key.delete');
      }, 20_000, 300);
      await admin.vms.create({ name: 'cli1', image: 'ucloud-test', cpu: 1, ram: '256MiB', disk: '1GiB' });
      const created = await until('the create on stdout', () => lines().find((e) => e.action === 'vm.create'), 10_000);
      expect(created).toMatchObject({ actor: { kind: 'user', name: 'admin' }, object: { kind: 'vm', name: 'cli1', owner: 'admin' }, result: 'ok' });
    } finally {
      child.kill('SIGINT');
      await new Promise((r) => child.once('exit', r));
    }
    expect(child.exitCode ?? 0).toBe(0);

    const list = await c.cli(['events', '--vm', 'cli1', '-o', 'json']);
    expect(list.code).toBe(0);
    expect((JSON.parse(list.stdout) as Event[]).map((e) => e.action)).toEqual(['vm.create']);
    const table = await c.cli(['events']);
    expect(table.stdout).toMatch(/^TIME\s+ACTOR\s+ACTION\s+OBJECT\s+RESULT/);
    expect(table.stdout).toMatch(/user:admin\s+vm\.create\s+admin\/cli1\s+ok/);
  });

  it("--wait wakes on the VM's events: it ends as soon as the host records it running", async () => {
    const child = spawn(process.execPath, [UCLOUD, 'vm', 'create', 'w1', '--image', 'ucloud-test', '--wait', '--timeout', '60s', '-o', 'json'], { env: c.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    const exited = new Promise<number>((r) => child.once('exit', (code) => r(code ?? 1)));
    try {
      // The test plays the scheduler and hv1's agent (with its event writer), so nothing else moves the VM.
      const sched = new VmManager(c.store, { actor: SCHEDULER_ACTOR });
      const host = new VmManager(c.store, { actor: hostActor('hv1'), events: new EventLog(c.newStore(), { log: silentLogger }) });
      const vm = await until('the VM', () => c.client().vms.get('w1').catch(() => undefined), 20_000);
      expect(await sched.assign((await c.store.get(Kinds.vm, Keys.vm(vm.id)))!, 'hv1', undefined)).toBe(true);
      await host.observe(vm.id, (cur) => ({ ...cur, status: 'creating' }));
      await until('the CLI to follow the VM', () => err.includes('w1: creating on hv1'), 20_000);
      const t0 = Date.now();
      await host.observe(vm.id, (cur) => ({ ...cur, status: 'running', observedGeneration: cur.generation }));
      expect(await exited).toBe(0);
      // Woken by the event: well inside the 5 s the open stream's fallback poll would take.
      expect(Date.now() - t0).toBeLessThan(3000);
      expect(err).toContain('w1: running on hv1');
      const events = await c.client().events.list({ vm: vm.id });
      expect(events.filter((e) => e.actor.kind === 'host').map((e) => e.action)).toEqual(['vm.creating', 'vm.running']);
    } finally {
      child.kill('SIGINT');
    }
  });
});
