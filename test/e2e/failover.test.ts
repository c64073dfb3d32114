import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { canonicalIPv6 } from '../../src/common/ipv6.js';
import { readPet } from '../../src/host/fence/files.js';
import { isOurQemu } from '../../src/host/qemu/index.js';
import type { HostAlive, Vm } from '../../src/model/index.js';
import { RbdClient } from '../../src/storage/rbd.js';
import { storageDriver } from '../../src/storage/registry.js';
import { monoMs } from '../../src/common/clock.js';
import { Keys, Kinds } from '../../src/store/keys.js';
import { until } from '../helpers/cluster.js';
import { bootRecords, consoleBootRecords } from '../helpers/boot-records.js';
import { QemuProbe } from '../helpers/qemu-probe.js';
import { Testbed } from '../helpers/testbed.js';

// Issue 13, "must show": HA with self-fencing on two netns hosts (a real
// 3-member etcd, real QEMU under TCG, each host with its agent and its fence
// watchdog, disks on a shared fs store and on the testbed's own Ceph), with
// the production timings: host lease TTL 5 s, fence_timeout 4 s,
// failover_margin 2 s. The tests assert the order of
// events (a probe sees every QEMU of the HA VM, with timestamps), never times.
describe('HA: a frozen agent is fenced by its watchdog before its HA VM starts elsewhere; a dead host\'s HA VM runs on', () => {
  let tb: Testbed;
  const key = () => join(tb.c.dir, 'admin_ed25519');
  const cli = <T = Vm>(args: string[]) => tb.cliJson<T>(args);
  const ok = (args: string[]) => tb.cliOk(args);
  const get = async (id: string) => (await tb.c.store.get(Kinds.vm, Keys.vm(id)))!.value;
  const alive = async (host: string) => (await tb.c.store.get(Kinds.hostAlive, Keys.hostAlive(host)))?.value as HostAlive | undefined;
  const runDirs = () => Object.fromEntries(tb.hosts.map((h) => [h.name, h.runDir]));
  /** Where VM `vm`'s OS disk is, for qemu-io on this machine. */
  const diskTarget = async (vm: Vm) => {
    const d = vm.disks[0]!;
    const rec = (await tb.c.store.get(Kinds.imageStore, Keys.imageStore(d.store)))!.value;
    const drive = (await storageDriver(rec.driver, rec.settings)).qemuDrive({ ref: d.ref, format: d.format });
    return { file: drive.file, format: drive.format };
  };
  /** The host whose address a Ceph client (`[ip]:port/nonce`, as Ceph prints it) connected from. */
  const clientHost = (client: string) => tb.hosts.find((h) => canonicalIPv6(h.address) === canonicalIPv6(/^\[([^\]]+)\]/.exec(client)?.[1] ?? '::'))?.name;
  const readLog = (path: string) => (existsSync(path) ? readFileSync(path, 'utf8') : '');
  const log = (host: string, name: string) => readLog(join(tb.host(host).logDir, `${name}.log`));
  const lastLines = (text: string) => text.split('\n').slice(-40).join('\n');
  /** Creates VM `name`, running on `host` (moved there live if the scheduler put it elsewhere). */
  const createOn = async (host: string, name: string, ha: boolean, image = 'ucloud-test') => {
    const vm = await cli(['vm', 'create', name, '--image', image, '--network', 'lab', '--ram', '128MiB', ...(ha ? ['--ha'] : [])]);
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
    tb = await Testbed.start({ hosts: 2, etcdMembers: 3, guestImage: inject('guestImage'), fence: true, ceph: true, hostEnv: () => ({ UCLOUD_HOST_LEASE_TTL: '5s', UCLOUD_FENCE_TIMEOUT: '4s' }) });
    await tb.importCephImage('ucloud-test-ceph');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key()]);
    await cli(['key', 'add', 'laptop', '--file', `${key()}.pub`]);
    await cli(['network', 'create', 'lab']);
  }, 180_000);

  // What CI keeps of a failure is this output (the cluster's folder goes with it): every VM's
  // state and what the scheduler and each host's agent last said.
  afterEach(async (ctx) => {
    if (ctx.task.result?.state !== 'fail' || !tb) return;
    const vms = (await tb.c.store.list(Kinds.vm, Keys.vms()).catch(() => undefined))?.items ?? [];
    for (const { value: v } of vms) console.log(`[failover] ${v.name}: ${JSON.stringify({ host: v.host, status: v.status, desired: v.desired, epoch: v.epoch, error: v.error, generation: v.generation, observedGeneration: v.observedGeneration, pid: v.qemu?.pid })}`);
    for (const h of tb.hosts) console.log(`[failover] ${h.name}: presence ${JSON.stringify(await alive(h.name).then((a) => a && { epoch: a.epoch, since: a.since, fence: a.fence }).catch(() => undefined))}; agent log, last lines:\n${lastLines(log(h.name, 'host'))}`);
    console.log(`[failover] scheduler log, last lines:\n${lastLines(readLog(join(tb.c.dir, 'log', 'scheduler.log')))}`);
  });

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

  it('h2 killed outright (agent, watchdog, metadata, QEMUs): its HA VM runs on h1, its other VMs are HOST_DEAD, nothing else changes; an admin recovers the one on Ceph, storage fenced first', async () => {
    const plain2 = await createOn('h2', 'plain2', false);
    const rbd2 = await createOn('h2', 'rbd2', false, 'ucloud-test-ceph');
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
      await until('rbd2 HOST_DEAD', async () => {
        const v = await get(rbd2.id);
        return v.status === 'error' && v.error?.code === 'HOST_DEAD' ? v : undefined;
      }, 30_000, 100);
      const alloc = (await tb.c.store.get(Kinds.hostAlloc, Keys.hostAlloc('h2')))?.value.vms ?? {};
      expect(Object.keys(alloc).sort()).toEqual([plain2.id, rbd2.id].sort());
    } finally {
      probe.stop();
    }
    // vm recover: refused for a running VM, and for one on the shared filesystem store (which
    // cannot revoke h2's access) unless the admin vouches h2 is off; done for the Ceph one.
    const refused = async (args: string[], code: string) => {
      const r = await tb.c.cli([...args, '-o', 'json']);
      expect(r.code, r.stderr).not.toBe(0);
      expect(r.stderr).toContain(code);
    };
    await refused(['vm', 'recover', 'plain1'], 'VM_NOT_RECOVERABLE');
    await refused(['vm', 'recover', 'plain2'], 'HOST_NOT_FENCED');
    expect((await get(plain2.id)).recover).toBeUndefined();
    const rbdProbe = new QemuProbe(rbd2.id, runDirs());
    const recovered = await cli(['vm', 'recover', 'rbd2', '--wait']);
    rbdProbe.stop();
    expect(recovered.host).toBe('h1');
    expect(recovered.status).toBe('running');
    expect(recovered.recover).toBeUndefined();
    expect(recovered.lastFailover).toMatchObject({ from: 'h2', code: 'HOST_DEAD', restarted: true, recoveredBy: 'admin' });
    // h2's QEMU of rbd2 had written its disk: it held the disk's lock, and its client is blocklisted.
    expect(recovered.lastFailover!.fenced?.length, 'h2\'s Ceph client of rbd2 fenced').toBeGreaterThan(0);
    for (const f of recovered.lastFailover!.fenced!) expect(clientHost(f.split(' ')[1]!)).toBe('h2');
    expect(rbdProbe.overlaps()).toEqual([]);
    await ok(['vm', 'delete', 'rbd2', '--wait']);
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
    // An HA VM on Ceph: its storage is fenced (its client blocklisted) before it starts elsewhere.
    let rbd = await createOn('h1', 'harbd', true, 'ucloud-test-ceph');
    expect(rbd.disks.every((d) => d.store === 'ceph')).toBe(true);
    rbd = await until('harbd armed on h1', async () => ((await get(rbd.id)).haArmed ? get(rbd.id) : undefined), 30_000, 250);
    const plainPid = (await get(plain.id)).qemu!.pid;
    const h1 = tb.host('h1');
    const nft = (script: string) => execFileSync('ip', ['netns', 'exec', h1.netns, 'nft', '-f', '-'], { input: script });
    // ha1's disk before: one boot record per boot it had (guest/build-image.sh writes them).
    // Its boot on h1 (the test before) writes its record once the guest is up, which under
    // TCG can come after all of the above: wait for its console to say so, else that record
    // would land after this read and take the slot h2's boot is expected in.
    await until('ha1 on h1 recorded its boot', () => consoleBootRecords(readLog(ha.qemu!.serialLog)).size > 0, 120_000, 250);
    const haDisk = await diskTarget(ha);
    const bootsBefore = await bootRecords(haDisk.file, haDisk.format);
    expect(bootsBefore.length, 'ha1 booted and recorded it').toBeGreaterThan(0);
    expect(bootsBefore.filter((b) => b.startsWith('?'))).toEqual([]);
    const probe = new QemuProbe(ha.id, runDirs());
    const rbdProbe = new QemuProbe(rbd.id, runDirs());
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

      // The Ceph VM: killed on h1 by its watchdog too, and before it was placed again h1's
      // client of its disk was blocklisted (the placer skips it until lastFailover.fenced is written).
      const moved = await until('harbd running on h2', async () => {
        const v = await get(rbd.id);
        return v.host === 'h2' && v.status === 'running' && v.qemu ? v : undefined;
      }, 120_000, 100);
      await until('h2 QEMU of harbd seen', () => rbdProbe.on('h2').length > 0, 5_000, 25);
      const [oldRbd] = rbdProbe.on('h1');
      expect(oldRbd?.gone, 'h1 fenced its QEMU of harbd').toBeDefined();
      expect(oldRbd!.gone!).toBeLessThanOrEqual(rbdProbe.on('h2')[0]!.firstSeen);
      const fenced = moved.lastFailover?.fenced ?? [];
      expect(fenced.length, 'h1\'s Ceph client of harbd fenced').toBeGreaterThan(0);
      const blocklisted = await new RbdClient({ conf: tb.ceph!.conf }).blocklisted();
      for (const f of fenced) {
        const [store, client] = f.split(' ');
        expect(store).toBe('ceph');
        expect(clientHost(client!), 'a client of h1').toBe('h1');
        expect(blocklisted).toContain(client);
      }
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
    // The guest's view: h2's boot of ha1 recorded itself in the next slot, after every earlier
    // boot's record, untouched: no other copy booted or wrote its record meanwhile.
    const recorded = await until('ha1 on h2 recorded its boot', () => {
      const log = existsSync(after.qemu!.serialLog) ? readFileSync(after.qemu!.serialLog, 'latin1') : '';
      return [...consoleBootRecords(log).entries()].find(([, id]) => !bootsBefore.includes(id));
    }, 120_000, 250);
    expect(recorded[0]).toBe(bootsBefore.length);
    expect(await bootRecords(haDisk.file, haDisk.format)).toEqual([...bootsBefore, recorded[1]]);
    console.log(`[failover] ha1's disk held ${bootsBefore.length} boot records before the partition; its boot on h2 wrote slot ${recorded[0]}, the rest untouched`);
    rbdProbe.stop();
    expect(rbdProbe.overlaps()).toEqual([]);
    // Only that QEMU's client was fenced, not h1: back, h1 opens harbd's disk again.
    await ok(['vm', 'migrate', 'harbd', '--to', 'h1', '--wait']);
    const home = await until('harbd running on h1 again', async () => {
      const v = await get(rbd.id);
      return v.host === 'h1' && v.status === 'running' && v.qemu ? v : undefined;
    }, 60_000, 250);
    expect(isOurQemu(home.qemu!.pid, rbd.id)).toBe(true);
    await ok(['vm', 'delete', 'harbd', '--wait']);
  }, 420_000);

  it('3-member etcd: one member killed changes nothing (renewals go on, no fencing, writes work); quorum lost past fence_timeout: every host fences its HA VMs, the others run on; quorum back: the HA VM runs again, the others are as they were, never two QEMUs', async () => {
    const etcd = tb.c.etcdCluster!;
    ha = await until('ha1 armed', async () => ((await get(ha.id)).haArmed ? get(ha.id) : undefined), 60_000, 250);
    const others = await Promise.all(['plain1', 'plain2'].map(async (n) => get(((await cli(['vm', 'show', n])) as Vm).id)));
    for (const v of others) expect(v.status, v.name).toBe('running');
    const probe = new QemuProbe(ha.id, runDirs());
    const haHost = tb.host(ha.host!);

    await etcd.kill(0);
    const killedAt = monoMs();
    // The event a lost member would have prevented: ha1's agent had a renewal answered through
    // the other members that it sent later than TTL + margin after the kill (a pet's deadline is
    // the send + fence_timeout). Had renewals stopped at the kill, its watchdog would have fenced
    // ha1 (kill + fence_timeout) and the scheduler failed it over (kill + TTL + margin) by then.
    await until('a renewal sent TTL + margin after the kill answered', async () => ((await readPet(haHost.runDir))?.until ?? 0) - 4_000 > killedAt + 5_000 + 2_000, 60_000, 100);
    expect(probe.on(ha.host!).every((q) => q.gone === undefined), 'ha1 never fenced').toBe(true);
    const still = await get(ha.id);
    expect([still.host, still.status, still.qemu?.pid, still.lastFailover]).toEqual([ha.host, 'running', ha.qemu!.pid, ha.lastFailover]);
    await cli(['network', 'create', 'onetwo']);
    await ok(['network', 'delete', 'onetwo']);

    // A second member gone: no quorum.
    await etcd.kill(1);
    try {
      // Nothing can renew: ha1's host fences it.
      await until('ha1 fenced', () => probe.on(ha.host!).some((s) => s.gone !== undefined), 60_000, 25);
      for (const v of others) expect(isOurQemu(v.qemu!.pid, v.id), `${v.name} runs on`).toBe(true);
    } finally {
      await etcd.restart(0);
      await etcd.restart(1);
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
