import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/common/logger.js';
import { readPet } from '../../src/host/fence/files.js';
import { HostPresence } from '../../src/host/presence.js';
import { HostManager } from '../../src/managers/hosts.js';
import type { HostAlive } from '../../src/model/index.js';
import { Keys, Kinds } from '../../src/store/keys.js';
import { monoMs } from '../../src/common/clock.js';
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

  /** Announcements under way at once, now and at most: the record's writes must never overlap. */
  inFlight = 0;
  maxInFlight = 0;
  /** The lease of each announcement, in the order they were made. */
  readonly leases: string[] = [];

  override async announce(alive: HostAlive, lease: Parameters<HostManager['announce']>[1]): Promise<void> {
    this.maxInFlight = Math.max(this.maxInFlight, ++this.inFlight);
    try {
      this.leases.push(String(lease));
      if (this.gate) {
        this.waiting++;
        await this.gate;
      }
      await super.announce(alive, lease);
    } finally {
      this.inFlight--;
    }
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

  it('a record write still under way on a lost lease ends before the next lease\'s begins: the record is never left on the lost one', async () => {
    const hosts = new GatedHosts(c.store);
    let newEpochs = 0;
    const presence = new HostPresence(c.store, hosts, { name: 'hp2', ttlMs: 3000, runDir, fenceTimeoutMs: 2000 }, silentLogger, () => newEpochs++);
    const record = async () => (await c.store.get(Kinds.hostAlive, Keys.hostAlive('hp2')))?.value;
    try {
      await presence.start(() => ({ pid: process.pid, accel: 'tcg', since: new Date().toISOString() }));
      const first = presence.epoch!;
      // A write on the first lease (as for a watchdog change) is held; meanwhile that lease is lost.
      hosts.close();
      const late = presence.put();
      await until('the write on the first lease waiting', () => hosts.waiting === 1, 10_000, 10);
      await c.store.ns.leaseClient.leaseRevoke({ ID: first });
      await until('the host asks for a new lease', async () => (await c.store.ns.leaseClient.leaseLeases()).leases.some((l) => String(l.ID) !== first && !hosts.leases.includes(String(l.ID))), 10_000, 20).catch(() => undefined);
      hosts.release();
      await late.catch(() => undefined);
      await until('announced on a new lease', () => newEpochs === 1, 10_000, 10);
      expect(hosts.maxInFlight, 'two record writes at once').toBe(1);
      const second = presence.epoch!;
      expect(second).not.toBe(first);
      expect(hosts.leases.at(-1)).toBe(second);
      expect((await record())?.epoch).toBe(second);
    } finally {
      hosts.release();
      await presence.stop(true);
    }
  }, 60_000);
  // fence_timeout < TTL: after etcd stops answering renewals, the watchdog's pet
  // runs out a while before the epoch does. An HA VM started in that window is
  // killed by the watchdog as it starts (and was recorded as failed for good):
  // the agent must see the lapse, and be told when the watchdog stops fencing.
  it('a pet that ran out is seen while the epoch still lives; once etcd answers, a live pet is written before the host is told', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ucloud-presence-'));
    type Told = { lapsed: boolean; petUntil: number | undefined; now: number };
    let told: Told | undefined;
    const presence: HostPresence = new HostPresence(c.store, new HostManager(c.store), { name: 'hp3', ttlMs: 4000, runDir: dir, fenceTimeoutMs: 2000 }, silentLogger, () => undefined, () => undefined, () => {
      if (told) return;
      const t: Told = { lapsed: presence.petLapsed, petUntil: undefined, now: monoMs() };
      told = t;
      void readPet(dir).then((p) => (t.petUntil = p?.until));
    });
    let frozen = false;
    try {
      await presence.start(() => ({ pid: process.pid, accel: 'tcg', since: new Date().toISOString() }));
      // The first pet is a resume too (a start put off before it is looked at again).
      await until('a live pet, and the host told', () => !presence.petLapsed && told !== undefined, 10_000, 10);
      expect(presence.petResumes).toBe(1);
      told = undefined;
      process.kill(c.etcdPid!, 'SIGSTOP');
      frozen = true;
      await until('the pet ran out', () => presence.petLapsed, 10_000, 5);
      expect(presence.epoch, 'the lease outlives the pet').toBeDefined();
      expect(told, 'not told while etcd is frozen').toBeUndefined();
      process.kill(c.etcdPid!, 'SIGCONT');
      frozen = false;
      await until('told the pets resumed', () => told?.petUntil !== undefined, 10_000, 10);
      expect(told!.lapsed, 'told only once the pet is live').toBe(false);
      expect(told!.petUntil! > told!.now, 'the pet file held a live deadline when the host was told').toBe(true);
      expect(presence.petResumes, 'told once, though renewals queued while frozen were answered together').toBe(2);
      expect(presence.epoch).toBeDefined();
    } finally {
      if (frozen) process.kill(c.etcdPid!, 'SIGCONT');
      await presence.stop(true);
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
