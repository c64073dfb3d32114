import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { isOurQemu } from '../../src/host/qemu/index.js';
import type { HostAlive, Vm } from '../../src/model/index.js';
import { Keys, Kinds } from '../../src/store/keys.js';
import { until } from '../helpers/cluster.js';
import { QemuProbe } from '../helpers/qemu-probe.js';
import { Testbed } from '../helpers/testbed.js';

// Issue 13, "must show": HA with self-fencing on two netns hosts (real etcd,
// real QEMU under TCG, each host with its agent and its fence watchdog, the
// disks on a shared fs store), with the production timings: host lease TTL
// 5 s, fence_timeout 4 s, failover_margin 2 s. The tests assert the order of
// events (a probe sees every QEMU of the HA VM, with timestamps), never times.
describe('HA: a frozen agent is fenced by its watchdog before its HA VM starts elsewhere; a dead host\'s HA VM runs on', () => {
  let tb: Testbed;
  const key = () => join(tb.c.dir, 'admin_ed25519');
  const cli = <T = Vm>(args: string[]) => tb.cliJson<T>(args);
  const ok = (args: string[]) => tb.cliOk(args);
  const get = async (id: string) => (await tb.c.store.get(Kinds.vm, Keys.vm(id)))!.value;
  const alive = async (host: string) => (await tb.c.store.get(Kinds.hostAlive, Keys.hostAlive(host)))?.value as HostAlive | undefined;
  const runDirs = () => Object.fromEntries(tb.hosts.map((h) => [h.name, h.runDir]));
  const log = (host: string, name: string) => {
    const p = join(tb.host(host).logDir, `${name}.log`);
    return existsSync(p) ? readFileSync(p, 'utf8') : '';
  };
  /** Creates VM `name`, running on `host` (moved there live if the scheduler put it elsewhere). */
  const createOn = async (host: string, name: string, ha: boolean) => {
    const vm = await cli(['vm', 'create', name, '--image', 'ucloud-test', '--network', 'lab', '--ram', '128MiB', ...(ha ? ['--ha'] : [])]);
    const first = await until(`${name} running`, async () => {
      const v = await get(vm.id);
      return v.status === 'running' && v.qemu ? v : undefined;
    }, 120_000, 250);
    if (first.host !== host) await ok(['vm', 'migrate', name, '--to', host, '--wait']);
    return until(`${name} running on ${host}`, async () => {
      const v = await get(vm.id);
      return v.status === 'running' && v.host === host && v.qemu ? v : undefined;
    }, 60_000, 250);
  };

  beforeAll(async () => {
    // The production lease and fence timeout.
    tb = await Testbed.start({ hosts: 2, guestImage: inject('guestImage'), fence: true, hostEnv: () => ({ UCLOUD_HOST_LEASE_TTL: '5s', UCLOUD_FENCE_TIMEOUT: '4s' }) });
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key()]);
    await cli(['key', 'add', 'laptop', '--file', `${key()}.pub`]);
    await cli(['network', 'create', 'lab']);
  }, 180_000);

  afterAll(async () => {
    // A test that failed midway may leave an agent stopped: it must take SIGTERM.
    for (const h of tb?.hosts ?? []) if (h.agent?.child.pid) process.kill(h.agent.child.pid, 'SIGCONT');
    await tb?.stop();
  }, 120_000);

  let ha: Vm;
  let plain: Vm;

  it('SIGSTOP of h1\'s agent: its watchdog kills the HA VM\'s QEMU before it starts on h2; the non-HA VM keeps running and is HOST_DEAD, then taken back when the agent continues, which writes nothing over the moved VM', async () => {
    ha = await createOn('h1', 'ha1', true);
    plain = await createOn('h1', 'plain1', false);
    expect(ha.ha).toBe(true);
    // Armed once h1's agent sees its watchdog beat (it runs: the testbed started it first).
    ha = await until('ha1 armed on h1', async () => ((await get(ha.id)).haArmed ? get(ha.id) : undefined), 30_000, 250);
    expect(plain.haArmed).toBeUndefined();
    const h1Epoch = (await alive('h1'))!.epoch!;
    expect(ha.epoch).toBe(h1Epoch);
    const plainPid = plain.qemu!.pid;

    const probe = new QemuProbe(ha.id, runDirs());
    const agentPid = tb.agentPid('h1');
    process.kill(agentPid, 'SIGSTOP');
    let moved: Vm;
    try {
      moved = await until('ha1 running on h2', async () => {
        const v = await get(ha.id);
        return v.host === 'h2' && v.status === 'running' && v.qemu ? v : undefined;
      }, 120_000, 100);
      // Running there means its QEMU started there: the probe saw it.
      await until('h2 QEMU seen', () => probe.on('h2').length > 0, 5_000, 25);
      const deadPlain = await until('plain1 HOST_DEAD', async () => {
        const v = await get(plain.id);
        return v.status === 'error' && v.error?.code === 'HOST_DEAD' ? v : undefined;
      }, 30_000, 100);
      expect(deadPlain.host).toBe('h1');
      expect(deadPlain.lastFailover).toMatchObject({ from: 'h1', code: 'HOST_DEAD', restarted: false });
    } finally {
      probe.stop();
    }
    // The order: h1's QEMU of ha1 was gone before h2's was first seen; never two at once.
    const [old] = probe.on('h1');
    const [fresh] = probe.on('h2');
    expect(old, JSON.stringify([...probe.seen.values()])).toBeDefined();
    expect(old!.gone, 'h1\'s QEMU of ha1 was killed').toBeDefined();
    expect(old!.gone!).toBeLessThanOrEqual(fresh!.firstSeen);
    expect(probe.overlaps()).toEqual([]);
    expect(log('h1', 'fence')).toMatch(/fenced: HA VM QEMU killed/);
    expect(moved.lastFailover).toMatchObject({ from: 'h1', code: 'HOST_DEAD', restarted: true });
    expect(moved.epoch).toBe((await alive('h2'))!.epoch);
    // Fencing never touches a VM that is not HA: plain1's QEMU on h1 lived through it all.
    expect(isOurQemu(plainPid, plain.id)).toBe(true);

    // The agent continues: a new incarnation (new epoch) takes plain1 back; ha1 stays on h2, and h1's leftovers of it go.
    process.kill(agentPid, 'SIGCONT');
    const back = await until('plain1 running again on h1', async () => {
      const v = await get(plain.id);
      return v.status === 'running' && !v.error ? v : undefined;
    }, 60_000, 100);
    const newEpoch = (await alive('h1'))!.epoch!;
    expect(newEpoch).not.toBe(h1Epoch);
    expect(back.epoch).toBe(newEpoch);
    expect(back.qemu!.pid, 'plain1 was taken back, not restarted').toBe(plainPid);
    await until('h1 removed its leftovers of ha1', () => !existsSync(join(tb.host('h1').runDir, 'vms', ha.id)), 30_000, 100);
    const after = await get(ha.id);
    expect(after.host).toBe('h2');
    expect(after.status).toBe('running');
    expect(after.epoch).toBe(moved.epoch);
    expect(after.qemu!.pid).toBe(moved.qemu!.pid);
    ha = after;
  }, 300_000);

  it('h2 killed outright (agent, watchdog, metadata, QEMUs): its HA VM runs on h1, its other VM is HOST_DEAD, nothing else changes', async () => {
    const plain2 = await createOn('h2', 'plain2', false);
    ha = await until('ha1 armed on h2', async () => ((await get(ha.id)).haArmed ? get(ha.id) : undefined), 30_000, 250);
    const plainBefore = await get(plain.id);
    const probe = new QemuProbe(ha.id, runDirs());
    await tb.killHost('h2');
    try {
      const moved = await until('ha1 running on h1', async () => {
        const v = await get(ha.id);
        return v.host === 'h1' && v.status === 'running' && v.qemu ? v : undefined;
      }, 120_000, 100);
      expect(moved.lastFailover).toMatchObject({ from: 'h2', code: 'HOST_DEAD', restarted: true });
      const dead2 = await until('plain2 HOST_DEAD', async () => {
        const v = await get(plain2.id);
        return v.status === 'error' && v.error?.code === 'HOST_DEAD' ? v : undefined;
      }, 30_000, 100);
      expect(dead2.host).toBe('h2');
      // h2's booking of ha1 is released; plain2's stays (it may come back there).
      const alloc = (await tb.c.store.get(Kinds.hostAlloc, Keys.hostAlloc('h2')))?.value.vms ?? {};
      expect(Object.keys(alloc)).toEqual([plain2.id]);
    } finally {
      probe.stop();
    }
    expect(probe.overlaps()).toEqual([]);
    // Nothing else changed: plain1 on h1 is as it was.
    const plainAfter = await get(plain.id);
    expect(plainAfter.status).toBe('running');
    expect(plainAfter.qemu!.pid).toBe(plainBefore.qemu!.pid);
    expect(plainAfter.epoch).toBe(plainBefore.epoch);
  }, 300_000);

  it('h2 back (a reboot): its HOST_DEAD VM starts there again. h1 cut off the underlay, VMs alive inside: its watchdog kills the HA VM before it starts on h2; healed, h1 takes its non-HA VM back; never two QEMUs', async () => {
    await tb.restartHost('h2');
    const plain2 = (await cli(['vm', 'show', 'plain2'])) as Vm;
    const back2 = await until('plain2 started again on h2', async () => {
      const v = await get(plain2.id);
      return v.status === 'running' && !v.error && v.qemu ? v : undefined;
    }, 120_000, 250);
    expect(back2.host).toBe('h2');
    expect(back2.epoch).toBe((await alive('h2'))!.epoch);

    ha = await until('ha1 armed on h1', async () => ((await get(ha.id)).haArmed ? get(ha.id) : undefined), 30_000, 250);
    expect(ha.host).toBe('h1');
    const plainPid = (await get(plain.id)).qemu!.pid;
    const h1 = tb.host('h1');
    const nft = (script: string) => execFileSync('ip', ['netns', 'exec', h1.netns, 'nft', '-f', '-'], { input: script });
    const probe = new QemuProbe(ha.id, runDirs());
    // Everything on h1's underlay link dropped both ways: etcd, the other host, VXLAN.
    nft('table inet uctestpart {\n chain in { type filter hook input priority -400; iifname "u0" drop; }\n chain out { type filter hook output priority -400; oifname "u0" drop; }\n chain through { type filter hook forward priority -400; iifname "u0" drop; oifname "u0" drop; }\n}\n');
    try {
      await until('ha1 running on h2', async () => {
        const v = await get(ha.id);
        return v.host === 'h2' && v.status === 'running' && v.qemu ? v : undefined;
      }, 120_000, 100);
      await until('h2 QEMU of ha1 seen', () => probe.on('h2').length > 0, 5_000, 25);
      await until('plain1 HOST_DEAD', async () => {
        const v = await get(plain.id);
        return v.status === 'error' && v.error?.code === 'HOST_DEAD' ? v : undefined;
      }, 30_000, 100);
      const [old] = probe.on('h1');
      expect(old?.gone, 'h1 fenced its QEMU of ha1').toBeDefined();
      expect(old!.gone!).toBeLessThanOrEqual(probe.on('h2')[0]!.firstSeen);
      // Partitioned, not dead: the non-HA VM lives on inside.
      expect(isOurQemu(plainPid, plain.id)).toBe(true);
    } finally {
      nft('delete table inet uctestpart\n');
    }
    const back = await until('plain1 running again on h1 after the heal', async () => {
      const v = await get(plain.id);
      return v.status === 'running' && !v.error ? v : undefined;
    }, 60_000, 100);
    expect(back.qemu!.pid).toBe(plainPid);
    await until('h1 removed its leftovers of ha1', () => !existsSync(join(h1.runDir, 'vms', ha.id)), 30_000, 100);
    probe.stop();
    expect(probe.overlaps()).toEqual([]);
    const after = await get(ha.id);
    expect(after.host).toBe('h2');
    expect(after.status).toBe('running');
  }, 360_000);

  it('etcd gone (no quorum) past fence_timeout: every host fences its HA VMs, the others run on; etcd back: the HA VM runs again, the others are as they were, never two QEMUs', async () => {
    ha = await until('ha1 armed', async () => ((await get(ha.id)).haArmed ? get(ha.id) : undefined), 60_000, 250);
    const others = await Promise.all(['plain1', 'plain2'].map(async (n) => get(((await cli(['vm', 'show', n])) as Vm).id)));
    for (const v of others) expect(v.status, v.name).toBe('running');
    const probe = new QemuProbe(ha.id, runDirs());
    const etcd = tb.c.etcdPid!;
    process.kill(etcd, 'SIGSTOP');
    try {
      // Nothing can renew: ha1's host fences it.
      await until('ha1 fenced', () => probe.on(ha.host!).some((s) => s.gone !== undefined), 60_000, 25);
      for (const v of others) expect(isOurQemu(v.qemu!.pid, v.id), `${v.name} runs on`).toBe(true);
    } finally {
      process.kill(etcd, 'SIGCONT');
    }
    const again = await until('ha1 running again', async () => {
      const v = await get(ha.id);
      return v.status === 'running' && v.qemu && probe.on(v.host!).some((s) => s.gone === undefined) ? v : undefined;
    }, 120_000, 250);
    for (const v of others) {
      const now = await until(`${v.name} running, no error`, async () => {
        const cur = await get(v.id);
        return cur.status === 'running' && !cur.error ? cur : undefined;
      }, 60_000, 250);
      expect(now.qemu!.pid, `${v.name} was never restarted`).toBe(v.qemu!.pid);
    }
    probe.stop();
    expect(probe.overlaps()).toEqual([]);
    expect(again.haArmed || again.ha).toBe(true);
  }, 300_000);
});
