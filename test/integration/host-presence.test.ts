import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/common/logger.js';
import { HostPresence } from '../../src/host/presence.js';
import { HostManager } from '../../src/managers/hosts.js';
import type { HostAlive } from '../../src/model/index.js';
import { Keys, Kinds } from '../../src/store/keys.js';
import { TestCluster, until } from '../helpers/cluster.js';

/** A HostManager whose announcements wait at a gate the test opens: the window between a new lease and its record. */
class GatedHosts extends HostManager {
  private gate: Promise<void> | undefined;
  private open: (() => void) | undefined;
  waiting = 0;

  close(): void {
    this.gate = new Promise((r) => (this.open = r));
  }

  release(): void {
    this.open?.();
    this.gate = undefined;
  }

  override async announce(alive: HostAlive, lease: Parameters<HostManager['announce']>[1]): Promise<void> {
    if (this.gate) {
      this.waiting++;
      await this.gate;
    }
    await super.announce(alive, lease);
  }
}

// A host's fencing epoch stands for "the incarnation etcd announces": every VM
// write carries it, and the scheduler reads a VM whose host has no presence
// record as a dead host's. So no epoch may exist before its record does, on
// the first lease or on one taken after a lost lease (real etcd).
describe('host presence: an epoch only once its record is in etcd', () => {
  let c: TestCluster;
  let runDir: string;
  const aliveRecord = async () => (await c.store.get(Kinds.hostAlive, Keys.hostAlive('hp1')))?.value;

  beforeAll(async () => {
    c = await TestCluster.start();
    runDir = mkdtempSync(join(tmpdir(), 'ucloud-presence-'));
  });
  afterAll(async () => {
    await c?.stop();
    rmSync(runDir, { recursive: true, force: true });
  });

  it('no epoch while the record is unwritten, then the record\'s; after a lost lease, none until the new lease is announced', async () => {
    const hosts = new GatedHosts(c.store);
    let newEpochs = 0;
    const presence = new HostPresence(c.store, hosts, { name: 'hp1', ttlMs: 3000, runDir, fenceTimeoutMs: 2000 }, silentLogger, () => newEpochs++);
    const describe = () => ({ pid: process.pid, accel: 'tcg' as const, since: new Date().toISOString() });
    try {
      hosts.close();
      const started = presence.start(describe);
      await until('first announcement waiting', () => hosts.waiting === 1, 10_000, 10);
      expect(presence.epoch).toBeUndefined();
      hosts.release();
      await started;
      const first = presence.epoch;
      expect(first).toBeDefined();
      expect((await aliveRecord())?.epoch).toBe(first);

      // etcd ends the lease (as it does when a frozen agent misses its TTL): the record goes, a new lease comes.
      hosts.close();
      await c.store.ns.leaseClient.leaseRevoke({ ID: first! });
      await until('second announcement waiting', () => hosts.waiting === 2, 10_000, 10);
      expect(await aliveRecord()).toBeUndefined();
      expect(presence.epoch, 'a new lease not yet announced is no epoch').toBeUndefined();
      expect(newEpochs).toBe(0);
      hosts.release();
      await until('announced on the new lease', () => newEpochs === 1, 10_000, 10);
      const second = presence.epoch;
      expect(second).toBeDefined();
      expect(second).not.toBe(first);
      expect((await aliveRecord())?.epoch).toBe(second);
    } finally {
      hosts.release();
      await presence.stop(true);
    }
  }, 60_000);
});
