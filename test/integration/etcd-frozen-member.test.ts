import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/common/logger.js';
import { etcdHealth, judgeEtcdHealth } from '../../src/store/etcd-health.js';
import { monoMs, PresenceLease } from '../../src/store/presence-lease.js';
import { Informer } from '../../src/store/informer.js';
import { Keys, Kinds } from '../../src/store/keys.js';
import { Store } from '../../src/store/store.js';
import { until } from '../helpers/cluster.js';
import { startTestEtcdCluster, type TestEtcdCluster } from '../helpers/etcd.js';

// A real 3-member etcd whose members freeze one at a time (SIGSTOP: the process
// holds its connections and answers nothing, as a member whose disk stalls
// does). A host's presence lease: the agent pets its fence watchdog with each
// answered renewal's send time + fence_timeout, so a gap past that fences its
// HA VMs. A watch-fed cache (every daemon's read path): a watch on the frozen
// member goes silent without an error.
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

  /** Freezes each member in turn while `during` runs, then waits until the cluster is whole again. */
  async function freezeEach(during: (i: number, frozenAt: number, leads: boolean) => Promise<void>): Promise<void> {
    for (const i of [0, 1, 2]) {
      const h = await etcdHealth(cluster.endpoints, cluster.credentials, 1_000);
      const leads = h.statuses[i]?.id !== undefined && h.statuses[i]?.id === h.statuses[i]?.leader;
      const frozenAt = monoMs();
      cluster.process(i)!.kill('SIGSTOP');
      try {
        await during(i, frozenAt, leads);
      } finally {
        cluster.process(i)!.kill('SIGCONT');
      }
      // Back, with a leader, before the next one freezes (two frozen would be no quorum).
      await until(`member ${i} answers again`, async () => judgeEtcdHealth(await etcdHealth(cluster.endpoints, cluster.credentials, 1_000), cluster.endpoints).ok, 30_000, 200);
    }
  }

  it('a frozen member, the one its renewals go to or the leader, neither loses the lease nor lets a renewal gap reach fence_timeout', async () => {
    const { lease } = await PresenceLease.acquire(store.ns, TTL_MS);
    const renewals: { sent: number; at: number }[] = [];
    let lost: string | undefined;
    lease.on('renewed', (sent: number) => renewals.push({ sent, at: monoMs() }));
    lease.on('lost', (reason: string) => (lost = reason));
    lease.start();
    try {
      // Each member in turn: whichever the stream is on is frozen at least once, and so is the leader.
      await freezeEach(async (i, frozenAt, leads) => {
        const before = Math.max(1, renewals.length);
        // The event a stuck stream would have prevented: a renewal sent well after the freeze, answered.
        await until(`a renewal sent 3 s after member ${i} froze is answered`, () => lost !== undefined || renewals.some((r) => r.sent > frozenAt + 3_000), 30_000, 50);
        expect(lost).toBeUndefined();
        const g = renewals.slice(before).map((r, k) => r.at - renewals[before + k - 1]!.sent);
        console.log(`[frozen-member] lease: member ${i}${leads ? ' (the leader)' : ''} frozen: longest gap ${Math.max(...g)} ms`);
      });
    } finally {
      lease.close();
    }
    expect(lost).toBeUndefined();
    // The watchdog's deadline after each answered renewal is its send + fence_timeout; the next answer came before it.
    const gaps = renewals.slice(1).map((r, k) => r.at - renewals[k]!.sent);
    console.log(`[frozen-member] lease: ${renewals.length} renewals; longest from one's send to the next answer: ${Math.max(...gaps)} ms`);
    expect(Math.max(...gaps)).toBeLessThan(FENCE_TIMEOUT_MS);
  }, 180_000);

  it('a watch-fed cache whose watch is on the frozen member lists and watches again elsewhere: every write is seen while the member stays frozen', async () => {
    const cache = new Informer(store, Kinds.tokenName, Keys.tokenNamesOf('w'), silentLogger);
    await cache.start();
    // A writer of its own: its calls fail over on their own deadlines.
    const writer = new Store(cluster.storeOptions('/pl/'));
    try {
      // The first measures etcd's progress interval, as a daemon's long-lived watch has.
      await writer.put(Kinds.tokenName, Keys.tokenName('w', 'warm'), { hash: 'a'.repeat(64) });
      await until('the first write is seen', () => cache.get(Keys.tokenName('w', 'warm')) !== undefined, 30_000, 50);
      await until('the watch has measured etcd\'s progress interval', () => cache.progressInterval < 10_000, 30_000, 100);
      await freezeEach(async (i, frozenAt) => {
        const key = Keys.tokenName('w', `k${i}`);
        // A write while the leader is frozen may fail until a new one is elected (503 to an API client, which tries again).
        await until(`a write lands while member ${i} is frozen`, () => writer.put(Kinds.tokenName, key, { hash: String(i).repeat(64) }).then(() => true, () => false), 30_000, 100);
        // Seen before the member thaws: a cache left on it would see it only after SIGCONT.
        await until(`the write made while member ${i} is frozen is seen`, () => cache.get(key) !== undefined, 60_000, 50);
        console.log(`[frozen-member] cache: member ${i} frozen: the write seen ${monoMs() - frozenAt} ms after the freeze`);
        // The next freeze finds a watch that knows the interval again, as a daemon's does.
        await until('the watch has measured etcd\'s progress interval', () => cache.progressInterval < 10_000, 30_000, 100);
      });
    } finally {
      writer.close();
      await cache.stop();
    }
  }, 300_000);
});
