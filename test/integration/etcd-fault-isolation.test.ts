import { CircuitState } from 'cockatiel';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Api } from '../../src/api/context.js';
import { buildApi } from '../../src/api/server.js';
import { silentLogger } from '../../src/common/logger.js';
import { nowIso } from '../../src/model/index.js';
import { Keys, Kinds } from '../../src/store/keys.js';
import type { Store } from '../../src/store/store.js';
import { TestCluster } from '../helpers/cluster.js';

// Issue 10: one answer larger than the etcd client's 4 MiB limit failed, the
// client's breaker counted it, and after three such failures every etcd call
// of the process failed for 5 s: show, create and token checks all 500.
const BULK = 5000;
// ~1.1 KiB each: BULK of them are ~5.5 MB, past the client's (default) 4 MiB answer limit.
const bulkKey = (i: number) => ({
  owner: 'bulk',
  name: `k${String(i).padStart(5, '0')}`,
  type: 'ssh-ed25519',
  bits: 256,
  fingerprint: `SHA256:${i}`,
  publicKey: `ssh-ed25519 ${'A'.repeat(1000)} k${i}`,
  createdAt: nowIso(),
});

/** The states of the circuit breakers of the Store's etcd client, one per endpoint. */
function breakers(store: Store): CircuitState[] {
  const pool = (store.client as unknown as { pool: { hosts: { faultHandling: { state: CircuitState } }[] } }).pool;
  return pool.hosts.map((h) => h.faultHandling.state);
}

describe('a failing etcd call fails alone (real etcd, the API in-process on the same Store)', () => {
  let c: TestCluster;
  let api: Api;
  let aliceToken = '';
  let vmId = '';
  const call = (method: 'GET' | 'POST', url: string, token: string, payload?: object) =>
    api.inject({ method, url, headers: { authorization: `Bearer ${token}` }, ...(payload ? { payload } : {}) });
  const vm = (name: string) => ({ name, image: 'base', cpu: 1, ram: '256MiB', disk: '1GiB', networks: [] });

  beforeAll(async () => {
    c = await TestCluster.start();
    const m = c.managers();
    c.adminToken = (await m.users.create('admin', 'admin')).token;
    aliceToken = (await m.users.create('alice', 'user')).token;
    const now = nowIso();
    // Ready as if imported: creating a VM checks only the record.
    await c.store.put(Kinds.image, Keys.image('admin', 'base'), { name: 'base', store: 'local', owner: 'admin', public: true, status: 'ready', volume: { ref: 'base.qcow2', format: 'qcow2', virtualSize: 2 ** 29 }, createdAt: now, updatedAt: now });
    for (let i = 0; i < BULK; i += 100) {
      const t = c.store.txn().absent(Keys.key('bulk', bulkKey(i).name));
      for (let j = i; j < Math.min(BULK, i + 100); j++) t.put(Kinds.sshKey, Keys.key('bulk', bulkKey(j).name), bulkKey(j));
      expect(await t.commit()).toBe(true);
    }
    api = buildApi(m, silentLogger);
    await api.ready();
    const created = await call('POST', '/v1/vms', aliceToken, vm('web1'));
    expect(created.statusCode).toBe(201);
    vmId = created.json().id;
  });
  afterAll(async () => {
    await api?.close();
    await c?.stop();
  });

  /** Unrelated requests: a show, a list, a token check with a token etcd alone knows yet, a create (an etcd write). */
  async function unrelated(round: number): Promise<number[]> {
    const fresh = (await c.managers().users.issueToken('alice', { name: `round-${round}` })).token;
    const answers = await Promise.all([
      call('GET', `/v1/vms/${vmId}`, aliceToken),
      call('GET', '/v1/vms', aliceToken),
      call('GET', '/v1/whoami', fresh),
      call('POST', '/v1/vms', aliceToken, vm(`web-${round}`)),
    ]);
    expect(answers[0]!.json().id).toBe(vmId);
    expect((answers[1]!.json().items as { id: string }[]).map((v) => v.id)).toContain(vmId);
    expect(answers[2]!.json().name).toBe('alice');
    return answers.map((a) => a.statusCode);
  }

  it('after each oversized answer and each call past its deadline, the next requests all answer', async () => {
    for (let round = 0; round < 5; round++) {
      // The one-range read of a whole prefix that `vm list` used to make; the client refuses the answer.
      await expect(c.store.ns.getAll().prefix(Keys.keysOf('bulk')).exec()).rejects.toThrow(/RESOURCE_EXHAUSTED|exhausted|larger than max/i);
      // A call that timed out (its deadline already past when it is sent).
      await expect(c.store.ns.get(Keys.vm(vmId)).options({ deadline: Date.now() - 1000 }).exec()).rejects.toThrow(/deadline/i);
      expect(breakers(c.store).every((s) => s === CircuitState.Closed)).toBe(true);
      expect(await unrelated(round)).toEqual([200, 200, 200, 201]);
    }
  });

  it('failing calls and unrelated requests at the same moment: only the failing calls fail', async () => {
    const failing = Array.from({ length: 6 }, (_, i) =>
      i % 2 ? c.store.ns.getAll().prefix(Keys.keysOf('bulk')).exec() : c.store.ns.get(Keys.vm(vmId)).options({ deadline: Date.now() - 1000 }).exec(),
    );
    const [outcomes, statuses] = await Promise.all([Promise.allSettled(failing), unrelated(99)]);
    expect(outcomes.map((o) => o.status)).toEqual(Array(6).fill('rejected'));
    expect(statuses).toEqual([200, 200, 200, 201]);
    expect(breakers(c.store).every((s) => s === CircuitState.Closed)).toBe(true);
    // And the whole prefix still reads, in pages.
    expect((await c.store.list(Kinds.sshKey, Keys.keysOf('bulk'))).items).toHaveLength(BULK);
  });
});
