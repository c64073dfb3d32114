import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UcloudError } from '../../src/common/errors.js';
import { readTail } from '../../src/host/console/log-ring.js';
import { ticketHash } from '../../src/managers/consoles.js';
import type { Vm } from '../../src/model/index.js';
import { Keys, Kinds } from '../../src/store/keys.js';
import { ROOT, TestCluster, until, type Daemon } from '../helpers/cluster.js';

const KiB = 1024;
// Small, so that a guest on a busy 2-core machine under TCG (a few KiB/s of
// serial output at worst) still overflows it many times within the test;
// test/integration/console-keeper.test.ts floods a keeper with 100s of MiB.
const CAP = 16 * KiB;
const BURST = 8 * KiB;
const CAPS = 8;

// The guest of this test floods its serial console without end: bursts of
// BURST bytes, each followed by a numbered marker. Installed as the test
// guest's agent (guest/build-image.sh runs it at boot, output to the console).
const FLOOD = `#!/bin/sh
i=0
while :; do
  yes 'UCLOUD-FLOOD-0123456789-abcdefghijklmnopqrstuvwxyz' | head -c ${BURST}
  i=$((i+1))
  printf '\nUCLOUD-FLOOD-MARK %d\n' "$i"
done
`;

const rssKiB = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
const alive = (pid: number) => existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));

// Issue 7, point 4: a guest writing to its console without end costs the host
// a bounded log and a bounded keeper, and `vm console-log` shows the latest output.
describe('console keeper: bounded guest output and vm console-log', () => {
  let c: TestCluster;
  let host: Daemon;
  let alice = '';
  let bob = '';
  let vm: Vm;
  const dir = () => join(c.runDir, 'vms', vm.id);
  const keeperPid = () => Number(readFileSync(join(dir(), 'keeper.pid'), 'utf8').split(' ')[0]);
  // The keeper renames console.log away before it creates the next one: a file may vanish between two calls.
  const sizeOf = (f: string) => statSync(join(dir(), f), { throwIfNoEntry: false })?.size ?? 0;
  const logBytes = () => ['console.log', 'console.log.1'].map(sizeOf);
  const runDirBytes = () => readdirSync(dir()).reduce((n, f) => n + sizeOf(f), 0);
  /** The highest flood marker in the VM's console-log (through the API and the host's endpoint). */
  const lastMark = async (token = alice) => {
    const { text } = await c.client(token).vms.consoleLog('flood1', 5);
    const marks = [...text.matchAll(/UCLOUD-FLOOD-MARK (\d+)/g)].map((m) => Number(m[1]));
    return marks.length ? Math.max(...marks) : 0;
  };

  beforeAll(async () => {
    c = await TestCluster.start();
    c.env.UCLOUD_CONSOLE_LOG_SIZE = `${CAP / KiB}KiB`;
    // Cached like the test guest, by what it is made of.
    const recipe = createHash('sha256').update(FLOOD).update(readFileSync(join(ROOT, 'guest', 'build-image.sh'))).digest('hex').slice(0, 12);
    const image = join(ROOT, '.cache', 'guest', `ucloud-flood-${recipe}.qcow2`);
    if (!existsSync(image)) {
      writeFileSync(join(c.dir, 'flood.sh'), FLOOD, { mode: 0o755 });
      execFileSync('bash', [join(ROOT, 'guest', 'build-image.sh'), image], { env: { ...process.env, UCLOUD_GUEST_INIT: join(c.dir, 'flood.sh') }, stdio: 'ignore' });
    }
    await c.bootstrap({ guestImage: image });
    const m = c.managers();
    alice = (await m.users.create('alice', 'user')).token;
    bob = (await m.users.create('bob', 'user')).token;
    host = c.spawn('host');
    await Promise.all([c.spawn('api').ready, c.spawn('scheduler').ready, host.ready]);
  }, 120_000);
  afterAll(async () => {
    await c?.stop();
  });

  it('a guest flooding its console: the log stays within the cap, the keeper small, console-log shows the latest output', async () => {
    vm = await c.client(alice).vms.create({ name: 'flood1', image: 'ucloud-test', cpu: 1, ram: '128MiB', disk: '1GiB' });
    vm = await until('running', async () => {
      const v = await c.client(alice).vms.get('flood1');
      return v.status === 'running' && v;
    }, 60_000);
    const start = await until('the flood began', async () => (await lastMark()) || undefined, 90_000, 500);
    // Flood at least CAPS times the cap, sampling what the host spends on it.
    let maxLog = 0;
    let maxRun = 0;
    const rss: number[] = [];
    const keeper = keeperPid();
    const mark = await until(`${CAPS} caps flooded while sampling`, async () => {
      const [log, log1] = logBytes();
      maxLog = Math.max(maxLog, log!, log1!);
      maxRun = Math.max(maxRun, runDirBytes());
      rss.push(rssKiB(keeper));
      const n = await lastMark();
      return (n - start) * BURST >= CAPS * CAP && rss.length >= 8 && n;
    }, 240_000, 250);
    const firstHalf = Math.max(...rss.slice(0, Math.ceil(rss.length / 2)));
    const maxRss = Math.max(...rss);
    console.log(`console flood: ${mark - start} bursts of ${BURST / KiB} KiB; largest log file ${maxLog} B (cap ${CAP} B), run dir at most ${maxRun} B; keeper RSS ${Math.min(...rss)}-${maxRss} KiB over ${rss.length} samples`);
    expect(maxLog).toBeLessThanOrEqual(CAP / 2);
    expect(maxRun).toBeLessThan(CAP + 8 * KiB);
    // Bounded: no growth with the volume (allow a little allocator noise), and small in absolute terms.
    expect(maxRss).toBeLessThan(firstHalf + 4 * KiB);
    expect(maxRss).toBeLessThan(96 * KiB);
    // The newest output keeps arriving: a marker written after the one just read shows up.
    await until('a later marker', async () => (await lastMark()) > mark, 30_000, 250);
  }, 400_000);

  it('only the owner and admins read it; the CLI prints the tail', async () => {
    await expect(c.client(bob).vms.consoleLog('flood1')).rejects.toMatchObject({ code: 'VM_NOT_FOUND' } satisfies Partial<UcloudError>);
    const byId = await c.client(c.adminToken).vms.consoleLog(vm.id, 3);
    expect(byId.text).toMatch(/UCLOUD-FLOOD/);
    const cli = await c.cli(['vm', 'console-log', 'flood1', '--lines', '2'], { UCLOUD_TOKEN: alice });
    expect(cli.code).toBe(0);
    expect(cli.stdout.trimEnd().split('\n')).toHaveLength(2);
    expect(cli.stdout).toMatch(/UCLOUD-FLOOD/);
    await expect(c.client(alice).vms.consoleLog('flood1', 0)).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
  }, 60_000);

  it("the host's console endpoint answers only a ticket from etcd, for that VM, once", async () => {
    const store = c.newStore();
    try {
      const port = (await store.get(Kinds.hostAlive, Keys.hostAlive('hv1')))!.value.consolePort!;
      const url = (id: string) => `http://[::1]:${port}/v1/vms/${id}/console-log?lines=3`;
      const ask = async (id: string, secret?: string) => {
        const res = await fetch(url(id), secret ? { headers: { authorization: `Ticket ${secret}` } } : {});
        return { status: res.status, body: await res.text() };
      };
      const mint = async (vmId: string, host = 'hv1') => {
        const secret = randomBytes(32).toString('hex');
        await store.put(Kinds.consoleTicket, Keys.consoleTicket(ticketHash(secret)), { vm: vmId, host, expiresAt: new Date(Date.now() + 10_000).toISOString() });
        return secret;
      };
      expect(await ask(vm.id)).toMatchObject({ status: 403, body: expect.stringContaining('CONSOLE_TICKET_INVALID') });
      expect((await ask(vm.id, randomBytes(32).toString('hex'))).status).toBe(403);
      const other = '00000000-0000-4000-8000-000000000000';
      expect((await ask(vm.id, await mint(other))).status).toBe(403); // a ticket for another VM
      expect((await ask(vm.id, await mint(vm.id, 'hv9'))).status).toBe(403); // for another host
      const secret = await mint(vm.id);
      expect(await ask(vm.id, secret)).toMatchObject({ status: 200, body: expect.stringMatching(/UCLOUD-FLOOD/) });
      expect((await ask(vm.id, secret)).status).toBe(403); // used up
    } finally {
      store.close();
    }
  }, 30_000);

  it('the keeper outlives a kill -9 of the agent (same pid, the log goes on); a dead host is CONSOLE_UNAVAILABLE', async () => {
    const keeper = keeperPid();
    await host.kill9();
    const store = c.newStore();
    try {
      await until('the host is no longer alive', async () => !(await store.get(Kinds.hostAlive, Keys.hostAlive('hv1'))), 20_000, 200);
    } finally {
      store.close();
    }
    let mark = 0;
    try {
      await expect(c.client(alice).vms.consoleLog('flood1')).rejects.toMatchObject({ code: 'CONSOLE_UNAVAILABLE' });
      expect(alive(keeper)).toBe(true);
      const before = logBytes();
      await until('the keeper still writes with no agent', () => logBytes().join() !== before.join(), 10_000);
      // Read as the host's endpoint reads: the keeper may be between renaming
      // console.log away and creating the next one.
      mark = Math.max(0, ...[...readTail(join(dir(), 'console.log'), 100_000).matchAll(/UCLOUD-FLOOD-MARK (\d+)/g)].map((m) => Number(m[1])));
    } finally {
      // The later tests need an agent, whatever happened here.
      host = c.spawn('host');
      await host.ready;
    }
    await until('console-log works again, with output written while the agent was away', async () => (await lastMark()) > mark, 30_000, 250);
    expect(keeperPid()).toBe(keeper);
    expect(alive(keeper)).toBe(true);
  }, 90_000);

  it('a keeper that dies while its VM runs is started again by the agent', async () => {
    const keeper = keeperPid();
    process.kill(keeper, 'SIGKILL');
    const next = await until('a new keeper', () => {
      const p = keeperPid();
      return p !== keeper && alive(p) && p;
    }, 15_000);
    const mark = await lastMark();
    await until('the log goes on', async () => (await lastMark()) > mark, 30_000, 250);
    expect(keeperPid()).toBe(next);
  }, 60_000);

  it('deleting the VM stops its keeper and removes its log', async () => {
    const keeper = keeperPid();
    const runDir = dir();
    await c.client(alice).vms.delete('flood1');
    await until('the VM is gone', async () => (await c.client(alice).vms.list()).length === 0, 60_000, 250);
    expect(alive(keeper)).toBe(false);
    expect(existsSync(runDir)).toBe(false);
  }, 90_000);
});
