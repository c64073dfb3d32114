import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { readLivePid, writePidFile } from '../../src/common/proc.js';
import type { Vm } from '../../src/model/index.js';
import { UP_COMPONENTS } from '../../src/up/up.js';
import { TestCluster, until, type Daemon } from '../helpers/cluster.js';
import { freePort } from '../helpers/ports.js';

const DAEMONS = ['up', 'api', 'scheduler', 'host', 'metadata', 'filescanner', 'imagescanner', 'etcd'] as const;
type Name = (typeof DAEMONS)[number];

interface Proc {
  pid: number;
  ppid: number;
  name: Name;
}

// `ucloud up` as an operator kills it: its daemons and etcd must never outlive
// it or run twice, its etcd is repaired, and its VMs are never touched.
describe('ucloud up supervises like a service manager', () => {
  let c: TestCluster;
  let up: Daemon;
  let stateDir: string;

  /** This cluster's ucloud daemons and etcd (known by the state dir in their environment), QEMU and CLI runs left out. */
  const procs = (): Proc[] => {
    const found: Proc[] = [];
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const environ = readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0');
        if (!environ.includes(`UCLOUD_STATE_DIR=${stateDir}`)) continue;
        const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
        const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        if (fields[0] === 'Z') continue;
        // node [its flags] …/bin/ucloud <daemon>
        const script = argv.findIndex((a) => a.endsWith('bin/ucloud'));
        const name = argv[0]!.endsWith('etcd') ? 'etcd' : script > 0 ? argv[script + 1] : undefined;
        if (name && (DAEMONS as readonly string[]).includes(name)) found.push({ pid: Number(entry), ppid: Number(fields[1]), name: name as Name });
      } catch {
        // gone meanwhile
      }
    }
    return found;
  };
  const count = (ps: Proc[]) => Object.fromEntries(DAEMONS.map((n) => [n, ps.filter((p) => p.name === n).length]));
  const ONE_OF_EACH = Object.fromEntries(DAEMONS.map((n) => [n, 1]));
  const json = async <T>(args: string[]): Promise<T> => {
    const r = await c.cli([...args, '-o', 'json']);
    if (r.code !== 0) throw new Error(`ucloud ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  };
  /** The set of daemons settled: one of each, all children of this `up`. */
  const settled = async (upPid: number) =>
    until('one of each daemon, all children of up', () => {
      const ps = procs();
      const c1 = count(ps);
      return JSON.stringify(c1) === JSON.stringify(ONE_OF_EACH) && ps.every((p) => p.name === 'up' || p.ppid === upPid) && ps;
    }, 60_000);

  beforeAll(async () => {
    c = await TestCluster.start({ localEtcd: true });
    stateDir = c.env.UCLOUD_STATE_DIR!;
    mkdirSync(join(stateDir, 'guest'), { recursive: true });
    copyFileSync(inject('guestImage'), join(stateDir, 'guest', 'ucloud-test.qcow2'));
    up = c.spawn('up');
    await up.ready;
  });
  afterAll(async () => {
    await c?.stop();
  });

  it('a second `ucloud up` on the same state dir is refused, naming the running one, and changes nothing', async () => {
    const before = await settled(up.child.pid!);
    const cliConfig = readFileSync(c.env.UCLOUD_CLI_CONFIG!, 'utf8');
    // Its log file is written apart from its stderr: the snapshot waits for the start's last line to reach it.
    const upLog = await until('up.log has the start\'s last line', () => {
      const text = readFileSync(join(c.dir, 'log', 'up.log'), 'utf8');
      return text.includes('"msg":"dashboard: ') ? text : undefined;
    }, 10_000);
    const second = c.spawn('up');
    const code = await new Promise<number | null>((r) => second.child.once('exit', (x) => r(x)));
    expect(code).toBe(4); // conflict
    expect(second.stderr()).toContain(`up: UP_ALREADY_RUNNING: ucloud up already runs for ${stateDir}: pid ${up.child.pid}`);
    expect(second.stderr()).toContain('hint: one `ucloud up` per state directory');
    // Nothing started, stopped or rewritten: the same processes, token and log.
    expect(procs().sort((a, b) => a.pid - b.pid)).toEqual(before.sort((a, b) => a.pid - b.pid));
    expect(readFileSync(c.env.UCLOUD_CLI_CONFIG!, 'utf8')).toBe(cliConfig);
    expect(readFileSync(join(c.dir, 'log', 'up.log'), 'utf8')).toBe(upLog);
    expect((await c.cli(['host', 'list'])).code).toBe(0);
  });

  let vm: Vm;

  it('kill -9 of etcd: `up` brings it back within seconds and the daemons carry on, not restarted', async () => {
    vm = await json<Vm>(['vm', 'create', 'web1', '--image', 'ucloud-test', '--cpu', '1', '--ram', '128MiB', '--os-ssd', '1GiB', '--wait']);
    expect(vm.status).toBe('running');
    const before = await settled(up.child.pid!);
    const etcd = before.find((p) => p.name === 'etcd')!;
    const killedAt = Date.now();
    process.kill(etcd.pid, 'SIGKILL');
    const back = await until('a new etcd recorded by up', async () => {
      const pid = await readLivePid(join(stateDir, 'up', 'etcd.pid'));
      return pid !== undefined && pid !== etcd.pid && pid;
    }, 30_000);
    const downMs = Date.now() - killedAt;
    expect(procs().find((p) => p.name === 'etcd')).toMatchObject({ pid: back, ppid: up.child.pid });
    // The daemons carry on without a person: a VM is placed, started and listed.
    const created = await until('the API answering a create after the etcd restart', async () => {
      const r = await c.cli(['vm', 'create', 'web2', '--image', 'ucloud-test', '--cpu', '1', '--ram', '128MiB', '--os-ssd', '1GiB', '-o', 'json']);
      if (r.code !== 0) throw new Error(r.stderr);
      return JSON.parse(r.stdout) as Vm;
    }, 30_000);
    const vm2 = await until('web2 placed and started', async () => {
      const v = await json<Vm>(['vm', 'status', created.name]);
      return v.status === 'running' && v;
    }, 120_000).catch((err: Error) => {
      // What the daemons said is the whole story of a failure here.
      throw new Error(`${err.message}\nlast lines of up:\n${up.stderr().split('\n').slice(-60).join('\n')}`);
    });
    expect(vm2.status).toBe('running');
    const after = procs();
    for (const p of before.filter((x) => x.name !== 'etcd')) expect(after.find((x) => x.name === p.name)?.pid).toBe(p.pid);
    console.log(`etcd killed with -9: a new one recorded after ${downMs} ms`);
    expect(up.stderr()).toMatch(/etcd exited with SIGKILL; restarting/);
    expect((await c.cli(['vm', 'delete', 'web2', '--wait'])).code).toBe(0);
  }, 240_000);

  it('kill -9 of `up`: nothing of it survives, VMs do; a leftover and a stranger etcd are not adopted; the next `up` runs one of each and re-attaches', async () => {
    const qemuPid = vm.qemu!.pid;
    // What an older `up` (or a lost race) could leave: a daemon that does not watch `up`, recorded in its pid dir.
    const etcdEnv = { UCLOUD_ETCD_ENDPOINTS: c.env.UCLOUD_LOCAL_ETCD_URL, UCLOUD_ETCD_PASSWORD_FILE: join(stateDir, 'etcd-password') };
    const orphan = c.spawn('scheduler', etcdEnv);
    await orphan.ready;
    const orphanGone = new Promise((r) => orphan.child.once('exit', r));

    const keeper = () => c.pidsMentioning(vm.id).filter((p) => readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('console-keeper'));
    const keeperPids = keeper();
    expect(keeperPids).toHaveLength(1);
    const killedAt = Date.now();
    await up.kill9();
    await until('every daemon and etcd of the killed up gone', () => procs().every((p) => p.pid === orphan.child.pid), 30_000);
    console.log(`up killed with -9: all its daemons and etcd gone after ${Date.now() - killedAt} ms`);
    // QEMU and its console keeper are not `up`'s to stop.
    expect(c.qemuPids(vm.id)).toEqual([qemuPid]);
    expect(keeper()).toEqual(keeperPids);
    // Each daemon stopped cleanly on losing `up` (its stderr pipe broken too), none crashed.
    for (const name of UP_COMPONENTS) {
      const recs = readFileSync(join(c.dir, 'log', `${name}.log`), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { time: number; msg: string; signal?: string; level: number });
      const since = recs.filter((r) => r.time >= killedAt);
      expect(since.find((r) => r.msg === 'stopping'), name).toMatchObject({ signal: 'supervisor gone' });
      expect(since.filter((r) => r.level >= 60), name).toEqual([]);
    }
    await writePidFile(join(stateDir, 'up', 'scheduler.pid'), orphan.child.pid!);

    // A stranger on the local etcd's port: `up` must refuse it, never silently use it.
    const url = new URL(c.env.UCLOUD_LOCAL_ETCD_URL!);
    const strangerDir = join(c.dir, 'stranger-etcd');
    const peer = `http://127.0.0.1:${await freePort()}`;
    const stranger = spawn('etcd', ['--data-dir', strangerDir, '--listen-client-urls', url.origin, '--advertise-client-urls', url.origin, '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer, '--initial-cluster', `default=${peer}`], { stdio: 'ignore' });
    const strangerGone = new Promise((r) => stranger.once('exit', r));
    await until('the stranger etcd answers', async () => (await fetch(`${url.origin}/health`).catch(() => undefined))?.ok, 15_000);
    const refused = c.spawn('up');
    const code = await new Promise<number | null>((r) => refused.child.once('exit', (x) => r(x)));
    expect(code).not.toBe(0);
    expect(refused.stderr()).toMatch(/ETCD_UNAVAILABLE: (another etcd answers on http:\/\/127\.0\.0\.1:\d+, not the one just started|local etcd exited)/);
    await orphanGone; // stopped as a leftover before anything else started
    expect(refused.stderr()).toMatch(/stopping what an earlier ucloud up left running service=scheduler/);
    expect(procs()).toEqual([]);
    stranger.kill('SIGKILL');
    await strangerGone;

    up = c.spawn('up');
    await up.ready;
    const ps = await settled(up.child.pid!);
    expect(ps.find((p) => p.name === 'etcd')!.ppid).toBe(up.child.pid);
    const again = await until('VM seen running after restart', async () => {
      const v = await json<Vm>(['vm', 'status', 'web1']);
      return v.status === 'running' && v;
    }, 30_000);
    expect(again.qemu!.pid).toBe(qemuPid);
    expect(c.qemuPids(vm.id)).toEqual([qemuPid]);
    // Its own etcd holds the cloud: the VM and the admin's token still work.
    expect((await json<Vm[]>(['vm', 'list'])).map((v) => v.name)).toEqual(['web1']);
  });
});
