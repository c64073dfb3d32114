import { CircuitState } from 'cockatiel';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventManager } from '../../src/managers/events.js';
import { etcdHealth, judgeEtcdHealth } from '../../src/store/etcd-health.js';
import { Informer } from '../../src/store/informer.js';
import { Keys, Kinds } from '../../src/store/keys.js';
import { monoMs } from '../../src/common/clock.js';
import { PresenceLease } from '../../src/store/presence-lease.js';
import { Store } from '../../src/store/store.js';
import { until } from '../helpers/cluster.js';
import { startTestEtcdCluster, type TestEtcdCluster } from '../helpers/etcd.js';

// A real 3-member etcd whose members freeze one at a time (SIGSTOP: the process
// holds its connections and answers nothing, as a member whose disk stalls
// does). A host's presence lease: the agent pets its fence watchdog with each
// answered renewal's send time + fence_timeout, so a gap past that fences its
// HA VMs. A watch-fed cache (every daemon's read path): a watch on the frozen
// member goes silent without an error. Which member carries the stream or the
// watch is read from each member's own metrics, so the one frozen is the one
// that matters, every run.
const FENCE_TIMEOUT_MS = 4_000; // the default fence_timeout
const TTL_MS = 5_000; // the default host_lease_ttl

describe('one frozen member of a 3-member etcd (real etcd)', () => {
  let cluster: TestEtcdCluster;
  let store: Store;

  beforeAll(async () => {
    cluster = await startTestEtcdCluster(3);
    store = new Store(cluster.storeOptions('/pl/'));
  });
  afterAll(async () => {
    for (let i = 0; i < 3; i++) cluster?.process(i)?.kill('SIGCONT');
    store?.close();
    await cluster?.stop();
  });

  /** One of member i's Prometheus series (summed over labels that `match`); undefined if it does not answer. */
  async function metric(i: number, name: string, match = ''): Promise<number | undefined> {
    const text = await fetch(`${cluster.endpoints[i]}/metrics`, { signal: AbortSignal.timeout(1_000) }).then((r) => r.text(), () => undefined);
    if (text === undefined) return undefined;
    return text
      .split('\n')
      .filter((l) => l.startsWith(name) && (l[name.length] === ' ' || l[name.length] === '{') && l.includes(match))
      .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  }

  /** The member whose series `count` is positive (the only stream or watch of its kind in the cluster). */
  async function memberWith(count: (i: number) => Promise<number | undefined>): Promise<number> {
    return until('the member that carries it', async () => {
      const counts = await Promise.all([0, 1, 2].map(count));
      const i = counts.findIndex((n) => (n ?? 0) > 0);
      if (i >= 0) return i;
      return undefined;
    }, 30_000, 100);
  }

  const keepalives = async (i: number) => {
    const started = await metric(i, 'grpc_server_started_total', 'grpc_method="LeaseKeepAlive"');
    const handled = await metric(i, 'grpc_server_handled_total', 'grpc_method="LeaseKeepAlive"');
    return started === undefined || handled === undefined ? undefined : started - handled;
  };
  const watchers = (i: number) => metric(i, 'etcd_debugging_mvcc_watcher_total');
  /** The store's breaker of each member, in endpoint order. */
  const breakerStates = () => (store.client as unknown as { pool: { hosts: { faultHandling: { state: CircuitState } }[] } }).pool.hosts.map((h) => h.faultHandling.state);

  async function leader(): Promise<number> {
    const h = await etcdHealth(cluster.endpoints, cluster.credentials, 1_000);
    return h.statuses.findIndex((s) => s.id !== undefined && s.id === s.leader);
  }

  /** Freezes member i while `during` runs, then waits until the cluster is whole again. */
  async function frozen(i: number, during: (frozenAt: number) => Promise<void>): Promise<void> {
    const frozenAt = monoMs();
    cluster.process(i)!.kill('SIGSTOP');
    try {
      await during(frozenAt);
    } finally {
      cluster.process(i)!.kill('SIGCONT');
    }
    // Back, with a leader, before the next one freezes (two frozen would be no quorum).
    await until(`member ${i} answers again`, async () => judgeEtcdHealth(await etcdHealth(cluster.endpoints, cluster.credentials, 1_000), cluster.endpoints).ok, 30_000, 200);
  }

  it('a frozen member, the one its renewals go to or the leader, or a killed one, neither loses the lease nor lets a renewal gap reach fence_timeout', async () => {
    const { lease } = await PresenceLease.acquire(store.ns, TTL_MS);
    const renewals: { sent: number; at: number }[] = [];
    let lost: string | undefined;
    lease.on('renewed', (sent: number) => renewals.push({ sent, at: monoMs() }));
    lease.on('lost', (reason: string) => (lost = reason));
    lease.start();
    try {
      // The member its stream is on, then the leader, then the stream's member again (wherever it went).
      for (const target of ['stream', 'leader', 'stream'] as const) {
        const i = target === 'stream' ? await memberWith(keepalives) : await leader();
        expect(i).toBeGreaterThanOrEqual(0);
        const leads = (await leader()) === i;
        const before = Math.max(1, renewals.length);
        await frozen(i, async (frozenAt) => {
          // The event a stuck stream would have prevented: a renewal sent well after the freeze, answered.
          await until(`a renewal sent 3 s after member ${i} froze is answered`, () => lost !== undefined || renewals.some((r) => r.sent > frozenAt + 3_000), 30_000, 50);
        });
        expect(lost).toBeUndefined();
        const g = renewals.slice(before).map((r, k) => r.at - renewals[before + k - 1]!.sent);
        console.log(`[frozen-member] lease: member ${i} (${target === 'stream' ? 'its stream\'s' : 'the leader'}${target === 'stream' && leads ? ', the leader' : ''}) frozen: longest gap ${Math.max(...g)} ms`);
      }
      // Killed rather than frozen: its stream fails at once, and fresh ones go to the others at once.
      const i = await memberWith(keepalives);
      const before = renewals.length;
      const killedAt = monoMs();
      await cluster.kill(i);
      await until(`a renewal sent 3 s after member ${i} was killed is answered`, () => lost !== undefined || renewals.some((r) => r.sent > killedAt + 3_000), 30_000, 50);
      const g = renewals.slice(before).map((r, k) => r.at - renewals[before + k - 1]!.sent);
      console.log(`[frozen-member] lease: member ${i} (its stream's) killed: longest gap ${Math.max(...g)} ms`);
      await cluster.restart(i);
      await until(`member ${i} answers again`, async () => judgeEtcdHealth(await etcdHealth(cluster.endpoints, cluster.credentials, 1_000), cluster.endpoints).ok, 30_000, 200);
    } finally {
      lease.close();
    }
    expect(lost).toBeUndefined();
    // The watchdog's deadline after each answered renewal is its send + fence_timeout; the next answer came before it.
    const gaps = renewals.slice(1).map((r, k) => r.at - renewals[k]!.sent);
    console.log(`[frozen-member] lease: ${renewals.length} renewals; longest from one's send to the next answer: ${Math.max(...gaps)} ms`);
    expect(Math.max(...gaps)).toBeLessThan(FENCE_TIMEOUT_MS);
  }, 180_000);

  it('a watch-fed cache whose watch is on the frozen member lists and watches again on another: every write is seen while the member stays frozen', async () => {
    await until('no keepalive stream is left', async () => (await Promise.all([0, 1, 2].map(keepalives))).every((n) => n === 0), 30_000, 100);
    const warnings: string[] = [];
    const cache = new Informer(store, Kinds.tokenName, Keys.tokenNamesOf('w'), pino({ level: 'warn' }, { write: (line: string) => void warnings.push(line) }));
    const silences = () => warnings.filter((l) => l.includes('watch silent')).length;
    let watchFrozen = 0;
    await cache.start();
    // A writer of its own: its calls fail over on their own deadlines.
    const writer = new Store(cluster.storeOptions('/pl/'));
    try {
      await writer.put(Kinds.tokenName, Keys.tokenName('w', 'warm'), { hash: 'a'.repeat(64) });
      await until('the first write is seen', () => cache.get(Keys.tokenName('w', 'warm')) !== undefined, 30_000, 50);
      // The member its watch is on, twice (the second time wherever it went), and the leader.
      for (const [n, target] of (['watch', 'leader', 'watch'] as const).entries()) {
        const i = target === 'watch' ? await memberWith(watchers) : await leader();
        if (i === (await memberWith(watchers))) watchFrozen++;
        const key = Keys.tokenName('w', `k${n}`);
        await frozen(i, async (frozenAt) => {
          // A write while the leader is frozen may fail until a new one is elected (503 to an API client, which tries again).
          await until(`a write lands while member ${i} is frozen`, () => writer.put(Kinds.tokenName, key, { hash: String(n).repeat(64) }).then(() => true, () => false), 30_000, 100);
          // Seen before the member thaws: a cache left on it would see it only after SIGCONT.
          await until(`the write made while member ${i} is frozen is seen`, () => cache.get(key) !== undefined, 60_000, 50);
          console.log(`[frozen-member] cache: member ${i} (${target === 'watch' ? 'its watch\'s' : 'the leader'}) frozen: the write seen ${monoMs() - frozenAt} ms after the freeze`);
          if (target === 'watch') {
            const others = [0, 1, 2].filter((m) => m !== i);
            await until('the watch is on another member', async () => (await Promise.all(others.map(watchers))).some((w) => (w ?? 0) > 0), 10_000, 100);
          }
        });
        // The watch it left is canceled once its member wakes: one watch in the cluster, not two delivering.
        await until('one watch is left', async () => {
          const counts = await Promise.all([0, 1, 2].map(watchers));
          return counts.every((c) => c !== undefined) && counts.reduce((a: number, b) => a + b!, 0) === 1;
        }, 30_000, 100);
      }
      // Given up only when its member froze, never while it was merely quiet (a minute of it, between and around the freezes).
      expect(silences()).toBe(watchFrozen);
    } finally {
      writer.close();
      await cache.stop();
    }
  }, 300_000);

  it('reads and writes with a follower frozen: one call is sent to it and waits out its deadline, the rest go to the others; thawed, it takes calls again', async () => {
    const lead = await leader();
    expect(lead).toBeGreaterThanOrEqual(0);
    const i = (lead + 1) % 3;
    const key = Keys.tokenName('u', 'frozen');
    // A member frozen by an earlier test is left out until a probe finds it answering again.
    await until('no member is left out', () => store.silentMembers().length === 0, 30_000, 100);
    // Counts the attempts its breaker lets through to the frozen member (each waits out a 3 s deadline there):
    // what the calls' durations would show too, but a loaded machine can make a healthy member's call slow.
    const policy = (store.client as unknown as { pool: { hosts: { faultHandling: { execute(fn: (ctx: unknown) => unknown): Promise<unknown> } }[] } }).pool.hosts[i]!.faultHandling;
    const execute = policy.execute.bind(policy);
    let sent = 0;
    policy.execute = (fn) =>
      execute((ctx) => {
        sent++;
        return fn(ctx);
      });
    const took: number[] = [];
    try {
      await frozen(i, async () => {
        for (let n = 0; n < 30; n++) {
          const t = monoMs();
          if (n % 2) await store.put(Kinds.tokenName, key, { hash: String(n % 10).repeat(64) });
          else await store.revision();
          took.push(monoMs() - t);
        }
        console.log(`[frozen-member] unary calls: follower ${i} frozen: ${sent} of ${took.length} sent to it, ${took.filter((ms) => ms >= 2_500).length} took 2.5 s or more, longest ${Math.max(...took)} ms`);
        // Before, each call went to it one time in three and waited out its deadline every time, for as long as it stayed frozen.
        expect(sent).toBeLessThanOrEqual(1);
        expect(breakerStates()[i]).toBe(CircuitState.Open);
        expect(store.silentMembers()).toContain(cluster.endpoints[i]);
      });
    } finally {
      policy.execute = execute;
    }
    // Thawed: a probe finds it answering again, with no call needed.
    await until(`member ${i} takes calls again`, () => store.silentMembers().length === 0 && breakerStates()[i] === CircuitState.Closed, 30_000, 100);
  }, 120_000);

  it('a watch whose etcd holds progress answers (3.4.24+, 3.5.8+ while catching up) is kept while its member answers reads; frozen, it is given up', async () => {
    await until('no watch is left', async () => (await Promise.all([0, 1, 2].map(watchers))).every((n) => n === 0), 30_000, 100);
    let silentAt: number | undefined;
    const session = await store.watch('held/', String(BigInt(await store.revision()) + 1n), { onSilent: () => (silentAt ??= monoMs()) });
    try {
      // Progress requests dropped on their way: the watch hears nothing, as on an etcd that holds the answers.
      const manager = (session.watcher as unknown as { manager: { stream: { write(req: object): unknown } } }).manager;
      const write = manager.stream.write.bind(manager.stream);
      manager.stream.write = (req: object) => ('progress_request' in req ? true : write(req));
      // Past the silence it would have been given up at, and again: the member answers reads on that connection.
      const startedAt = monoMs();
      await until('three silences confirmed alive', () => monoMs() - startedAt > 16_000 || silentAt !== undefined, 30_000, 200);
      expect(silentAt).toBeUndefined();
      const got = new Promise((resolve) => session.watcher.once('put', (kv) => resolve(kv.key.toString())));
      await store.ns.put('held/k').value('v').exec();
      expect(await got).toBe('held/k');
      // Frozen: the read is not answered either, and it is given up.
      const i = await memberWith(watchers);
      await frozen(i, async (frozenAt) => {
        await until(`the watch on frozen member ${i} is given up`, () => silentAt !== undefined, 30_000, 50);
        console.log(`[frozen-member] progress held: member ${i} frozen: given up ${silentAt! - frozenAt} ms after the freeze`);
      });
    } finally {
      session.close();
    }
  }, 120_000);

  it('an event stream whose watch is on the frozen member ends with ETCD_UNAVAILABLE (its reader resumes)', async () => {
    await until('no watch is left', async () => (await Promise.all([0, 1, 2].map(watchers))).every((n) => n === 0), 30_000, 100);
    let ended: unknown;
    const stream = await new EventManager(store).watch({ owner: 'ev' }, undefined, () => undefined, (err) => (ended = err ?? 'ended without an error'));
    try {
      const i = await memberWith(watchers);
      await frozen(i, async (frozenAt) => {
        await until(`the stream on frozen member ${i} ends`, () => ended !== undefined, 60_000, 50);
        console.log(`[frozen-member] event stream: member ${i} frozen: ended ${monoMs() - frozenAt} ms after the freeze`);
      });
      expect(ended).toMatchObject({ code: 'ETCD_UNAVAILABLE' });
    } finally {
      stream.close();
    }
    await until('no watch is left', async () => (await Promise.all([0, 1, 2].map(watchers))).every((n) => n === 0), 30_000, 100);
  }, 120_000);

  it('an event stream whose member is killed ends with ETCD_UNAVAILABLE at once, rather than resuming past events a catch-up had not delivered', async () => {
    await until('no watch is left', async () => (await Promise.all([0, 1, 2].map(watchers))).every((n) => n === 0), 30_000, 100);
    let ended: unknown;
    const stream = await new EventManager(store).watch({ owner: 'ev' }, undefined, () => undefined, (err) => (ended = err ?? 'ended without an error'));
    const i = await memberWith(watchers);
    try {
      const killedAt = monoMs();
      await cluster.kill(i);
      await until(`the stream on killed member ${i} ends`, () => ended !== undefined, 30_000, 50);
      console.log(`[frozen-member] event stream: member ${i} killed: ended ${monoMs() - killedAt} ms after the kill`);
      expect(ended).toMatchObject({ code: 'ETCD_UNAVAILABLE' });
    } finally {
      stream.close();
      await cluster.restart(i);
      await until(`member ${i} answers again`, async () => judgeEtcdHealth(await etcdHealth(cluster.endpoints, cluster.credentials, 1_000), cluster.endpoints).ok, 30_000, 200);
    }
  }, 120_000);
});
