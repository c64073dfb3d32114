import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { etcdHealth, judgeEtcdHealth } from '../../src/store/etcd-health.js';
import { monoMs, PresenceLease } from '../../src/store/presence-lease.js';
import { Store } from '../../src/store/store.js';
import { until } from '../helpers/cluster.js';
import { startTestEtcdCluster, type TestEtcdCluster } from '../helpers/etcd.js';

// A host's presence lease on a real 3-member etcd whose members freeze one at
// a time (SIGSTOP: the process holds its connections and answers nothing, as a
// member whose disk stalls does). The agent pets its fence watchdog with each
// answered renewal's send time + fence_timeout: a gap past that fences its HA VMs.
const FENCE_TIMEOUT_MS = 4_000; // the default fence_timeout
const TTL_MS = 5_000; // the default host_lease_ttl

describe('presence lease on a 3-member etcd (real etcd)', () => {
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

  it('a frozen member, the one its renewals go to or the leader, neither loses the lease nor lets a renewal gap reach fence_timeout', async () => {
    const { lease } = await PresenceLease.acquire(store.ns, TTL_MS);
    const renewals: { sent: number; at: number }[] = [];
    let lost: string | undefined;
    lease.on('renewed', (sent: number) => renewals.push({ sent, at: monoMs() }));
    lease.on('lost', (reason: string) => (lost = reason));
    lease.start();
    try {
      // Each member in turn: whichever the stream is on is frozen at least once, and so is the leader.
      for (const i of [0, 1, 2]) {
        const h = await etcdHealth(cluster.endpoints, cluster.credentials, 1_000);
        const leads = h.statuses[i]?.id !== undefined && h.statuses[i]?.id === h.statuses[i]?.leader;
        const before = renewals.length;
        const frozenAt = monoMs();
        cluster.process(i)!.kill('SIGSTOP');
        try {
          // The event a stuck stream would have prevented: a renewal sent well after the freeze, answered.
          await until(`a renewal sent 3 s after member ${i} froze is answered`, () => lost !== undefined || renewals.some((r) => r.sent > frozenAt + 3_000), 30_000, 50);
        } finally {
          cluster.process(i)!.kill('SIGCONT');
        }
        expect(lost).toBeUndefined();
        const g = renewals.slice(Math.max(1, before)).map((r, k) => r.at - renewals[Math.max(1, before) + k - 1]!.sent);
        console.log(`[presence-lease] member ${i}${leads ? ' (the leader)' : ''} frozen: longest gap ${Math.max(...g)} ms`);
        // Back, with a leader, before the next one freezes (two frozen would be no quorum).
        await until(`member ${i} answers again`, async () => judgeEtcdHealth(await etcdHealth(cluster.endpoints, cluster.credentials, 1_000), cluster.endpoints).ok, 30_000, 200);
      }
    } finally {
      lease.close();
    }
    expect(lost).toBeUndefined();
    // The watchdog's deadline after each answered renewal is its send + fence_timeout; the next answer came before it.
    const gaps = renewals.slice(1).map((r, k) => r.at - renewals[k]!.sent);
    console.log(`[presence-lease] ${renewals.length} renewals; longest from one's send to the next answer: ${Math.max(...gaps)} ms`);
    expect(Math.max(...gaps)).toBeLessThan(FENCE_TIMEOUT_MS);
  }, 180_000);
});
