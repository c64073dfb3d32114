// Issue 13: the scheduler and the imagescanner work only while they lead their
// etcd election. Real etcd, the real daemons as processes, hosts made alive by
// their presence keys (no agent, no QEMU): the scheduler leader is killed with
// -9 in the middle of a burst of 200 creates through the API, and the
// standby places the rest, every VM exactly once; of two imagescanners only
// the leader imports, and the standby takes over when it dies. In one process:
// a clean stop hands over at once, and a leader whose etcd stops answering
// stops its work without exiting and leads again when etcd is back.

import { execFileSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/common/logger.js';
import { Elections } from '../../src/store/keys.js';
import { Leadership, leaderOf } from '../../src/store/leadership.js';
import { Store } from '../../src/store/store.js';
import { TestCluster, until } from '../helpers/cluster.js';
import { startTestEtcd, type TestEtcd } from '../helpers/etcd.js';
import { Fleet, fleetPlan, PlacementWatch, type FleetDaemon } from '../helpers/fleet.js';

const VMS = 200;
const identityOf = (pid: number | undefined) => `${hostname()}:${pid}`;
/** When `text` first appears on the daemon's stderr (performance.now()); resolves at once if it is there already. */
const whenLogged = (d: { child: ChildProcess }, already: () => string, text: string): Promise<number> =>
  already().includes(text)
    ? Promise.resolve(performance.now())
    : new Promise((resolve) => {
        let seen = '';
        d.child.stderr!.on('data', (b: Buffer) => {
          seen = (seen + b.toString()).slice(-4096);
          if (seen.includes(text)) resolve(performance.now());
        });
      });

describe('scheduler leadership: the leader killed during a burst of creates', () => {
  const plan = fleetPlan(VMS, 4);
  let fleet: Fleet;
  let first: FleetDaemon;
  let second: FleetDaemon;

  beforeAll(async () => {
    fleet = await Fleet.start({ users: 4, hosts: 20 }, plan);
    await fleet.startApi();
    first = await fleet.startScheduler();
    second = await fleet.startScheduler();
  }, 60_000);
  afterAll(async () => {
    await Promise.all([first?.stop(), second?.stop()]);
    await fleet?.stop();
  }, 60_000);

  it('one leads, one stands by', async () => {
    expect(first.stderr()).toContain('became leader');
    expect(second.stderr()).toContain('scheduler ready (standby)');
    expect(second.stderr()).toContain(`standing by election=scheduler identity=${identityOf(second.pid)} leader=${identityOf(first.pid)}`);
    expect(second.stderr()).not.toContain('became leader');
    expect(await leaderOf(fleet.store, Elections.scheduler)).toBe(identityOf(first.pid));
  });

  it('kill -9 of the leader mid-burst: the standby takes over, every VM placed exactly once, no host overcommitted', async () => {
    const watch = await PlacementWatch.start(fleet.store, await fleet.revision());
    try {
      let created = 0;
      const burst = fleet.createViaApi(plan, { concurrency: 8, onCreated: (n) => (created = n) });
      // Killed while it places: some VMs are already on hosts, most are still to be created.
      await watch.waitFor(30, 60_000);
      const createdAtKill = created;
      const placedAtKill = watch.placedAt.size;
      const tookOver = whenLogged(second, () => second.stderr(), 'became leader');
      first.child.kill('SIGKILL');
      const killedAt = performance.now();
      const { refused } = await burst;
      expect(refused).toEqual([]);
      const leaderAt = await tookOver;
      await watch.waitFor(VMS, 60_000);
      expect(createdAtKill).toBeLessThan(VMS);
      expect(watch.moved).toEqual([]);
      expect(fleet.http.serverErrors).toEqual([]);
      const report = await fleet.check();
      expect(report.vms).toBe(VMS);
      for (const problem of ['skipped', 'unplaced', 'notBooked', 'bookedElsewhere', 'phantomBookings', 'wrongSize', 'overcommitted', 'mirrorMismatch', 'imageIndexMismatch'] as const) {
        expect(report[problem], problem).toEqual([]);
      }
      // The standby did the rest, and leads now (it logs a batch after committing it: wait for the line).
      await until('the standby logs its placements', () => /INFO {2}scheduler: placed placed=\d+/.test(second.stderr()), 10_000, 10);
      expect(await leaderOf(fleet.store, Elections.scheduler)).toBe(identityOf(second.pid));
      const lastPlaced = Math.max(...watch.placedAt.values());
      console.log(
        `[leadership] leader killed with ${placedAtKill} placed and ${createdAtKill} of ${VMS} created; standby leading ${((leaderAt - killedAt) / 1000).toFixed(1)} s later` +
          ` (leader_lease_ttl 5s); all ${VMS} placed ${((lastPlaced - killedAt) / 1000).toFixed(1)} s after the kill`,
      );
    } finally {
      watch.close();
    }
  }, 120_000);
});

describe('imagescanner leadership: only the leader imports', () => {
  let c: TestCluster;
  const file = (name: string) => {
    const dir = join(c.filesPath, 'admin');
    mkdirSync(dir, { recursive: true });
    const path = join(dir, name);
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', path, '16M']);
    return { id: randomUUID(), owner: 'admin', name, sizeBytes: statSync(path).size, sha512: 'a'.repeat(128), mtimeMs: statSync(path).mtimeMs, seenAt: new Date().toISOString() };
  };
  const imported = async (name: string) => {
    const m = c.managers();
    const f = file(`${name}.qcow2`);
    await m.files.put(f);
    await m.images.requestFromFile('admin', name, 'local', f, false);
    await until(`image ${name} imported`, async () => (await m.images.get('admin', name))?.status === 'ready', 60_000);
  };
  const imports = (stderr: string, name: string) => stderr.split('\n').filter((l) => l.includes(`image imported image=admin/${name} `)).length;

  beforeAll(async () => {
    c = await TestCluster.start();
    await c.bootstrap();
  });
  afterAll(async () => {
    await c?.stop();
  });

  it('two scanners: one imports, the other stands by and takes over when the first is killed', async () => {
    const a = c.spawn('imagescanner');
    await a.ready;
    const b = c.spawn('imagescanner');
    await b.ready;
    expect(b.stderr()).toContain('imagescanner ready (standby)');
    expect(await leaderOf(c.store, Elections.imagescanner)).toBe(identityOf(a.child.pid));

    await imported('one');
    // The scanner logs after it writes `ready`: wait for the line, or a kill now would lose it.
    await until('a logs the import of one', () => imports(a.stderr(), 'one') > 0, 10_000, 10);
    await a.kill9();
    await imported('two');
    // The new leader imports what waits in its first pass, and only then logs that it leads.
    await until('b logs its leadership', () => b.stderr().includes('became leader'), 10_000, 10);
    // That pass only starts the import: its line comes after `ready`, which the wait above saw (one run read stderr first).
    await until('b logs the import of two', () => imports(b.stderr(), 'two') > 0, 10_000, 10);
    // By now a standby that imported too would long have finished "one".
    expect([imports(a.stderr(), 'one'), imports(b.stderr(), 'one')]).toEqual([1, 0]);
    expect(imports(b.stderr(), 'two')).toBe(1);
    expect(b.stderr()).toContain('became leader');
    expect(await leaderOf(c.store, Elections.imagescanner)).toBe(identityOf(b.child.pid));
  }, 90_000);
});

describe('Leadership: handing over and stepping down without exiting', () => {
  let etcd: TestEtcd;
  let store: Store;

  beforeAll(async () => {
    etcd = await startTestEtcd();
    store = new Store(etcd.storeOptions('/leadership/'));
  });
  afterAll(async () => {
    etcd?.process.kill('SIGCONT');
    store?.close();
    await etcd?.stop();
  });

  it('a clean stop hands over at once; etcd silent past 2 × TTL stops the work, which resumes when etcd answers again', async () => {
    const events: string[] = [];
    const candidate = (name: string) =>
      new Leadership(store, {
        election: Elections.scheduler,
        ttlMs: 2000,
        log: silentLogger,
        identity: name,
        lead: () => {
          events.push(`${name} leads`);
          return Promise.resolve(() => {
            events.push(`${name} stops`);
            return Promise.resolve();
          });
        },
      });
    const a = candidate('a');
    const b = candidate('b');
    expect(await a.start()).toBe('leader');
    expect(await b.start()).toBe('standby');
    expect(await leaderOf(store, Elections.scheduler)).toBe('a');
    const stopAt = performance.now();
    await a.stop();
    await until('b leads', () => b.isLeader, 10_000, 10);
    const handover = performance.now() - stopAt;
    expect(events).toEqual(['a leads', 'a stops', 'b leads']);

    etcd.process.kill('SIGSTOP');
    const frozenAt = performance.now();
    try {
      await until('b stops its work', () => events.includes('b stops'), 30_000, 10);
      console.log(`[leadership] clean stop → standby leads: ${handover.toFixed(0)} ms; etcd frozen → leader stops its work: ${((performance.now() - frozenAt) / 1000).toFixed(1)} s (TTL 2 s)`);
      expect(b.isLeader).toBe(false);
    } finally {
      etcd.process.kill('SIGCONT');
    }
    await until('b leads again', () => b.isLeader, 30_000);
    expect(events).toEqual(['a leads', 'a stops', 'b leads', 'b stops', 'b leads']);
    expect(await leaderOf(store, Elections.scheduler)).toBe('b');
    await b.stop();
    expect(events.at(-1)).toBe('b stops');
    expect(await leaderOf(store, Elections.scheduler)).toBeUndefined();
  }, 90_000);
});
