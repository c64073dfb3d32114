import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { QmpMonitor } from '../../src/host/qemu/index.js';
import type { Vm } from '../../src/model/index.js';
import { RbdClient } from '../../src/storage/rbd.js';
import * as qemuImg from '../../src/storage/qemu-img.js';
import { startCeph, uniquePool, type TestCeph } from '../helpers/ceph.js';
import { GiB, TestCluster, until } from '../helpers/cluster.js';
import { rejection } from '../helpers/rejection.js';
import { flipIncompatible } from '../helpers/qcow2.js';

// Least privilege for QEMU, on real parts: VMs on a filesystem store and on a real
// Ceph, started by the real host agent with QEMU under TCG. Each QEMU must run as a
// uid of its own with seccomp on, hold only its own disk, and reach Ceph as
// ucloud's restricted client; the QMP commands ucloud uses must still work.

interface ProcStatus {
  uid: number[];
  gid: number[];
  groups: string;
  seccomp: string;
  noNewPrivs: string;
  capEff: string;
}

function procStatus(pid: number): ProcStatus {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(text)?.[1]?.trim() ?? '';
  return {
    uid: field('Uid').split(/\s+/).map(Number),
    gid: field('Gid').split(/\s+/).map(Number),
    groups: field('Groups'),
    seccomp: field('Seccomp'),
    noNewPrivs: field('NoNewPrivs'),
    capEff: field('CapEff'),
  };
}


/** Runs `cmd` as uid:gid with no supplementary groups, as an escaped QEMU of that VM would. */
function as(uid: number, cmd: string[]): { code: number; stderr: string } {
  const r = spawnSync('setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', ...cmd], { encoding: 'utf8' });
  return { code: r.status ?? 1, stderr: r.stderr };
}

describe('QEMU least privilege: own uid, seccomp, own disks, restricted Ceph client', () => {
  let c: TestCluster;
  let ceph: TestCeph;
  let admin: RbdClient;
  const pool = uniquePool('priv');
  const foreignPool = uniquePool('privx');
  const vms: Record<string, Vm> = {};

  const json = async <T>(args: string[]): Promise<T> => {
    const r = await c.cli([...args, '-o', 'json']);
    if (r.code !== 0) throw new Error(`ucloud ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  };
  const show = (name: string) => json<Vm>(['vm', 'status', name]);
  const diskPath = (vm: Vm) => join(c.imagePath, 'disks', vm.disks[0]!.ref);
  const uidOf = (vm: Vm) => procStatus(vm.qemu!.pid).uid[0]!;
  const serial = (vm: Vm) => (vm.qemu && existsSync(vm.qemu.serialLog) ? readFileSync(vm.qemu.serialLog, 'utf8') : '');

  beforeAll(async () => {
    c = await TestCluster.start();
    // The test's own directory is root-only (mkdtemp): open it to traversal so that what
    // stands between one VM's uid and another's disk is the disk's own mode, not this.
    chmodSync(c.dir, 0o711);
    ceph = await startCeph();
    admin = new RbdClient({ conf: ceph.conf });
    await ceph.ensurePool(pool);
    await ceph.ensurePool(foreignPool);
    await c.bootstrap({ guestImage: inject('guestImage'), hosts: [{ name: 'hv1', cpu: 8, ram: 4 * GiB, disk: 200 * GiB }] });
    // Creating the store is where client.admin is used, once, to make client.ucloud.
    const m = c.managers();
    await m.images.ensureStore('rbd', 'ceph', { pool, conf: ceph.conf });
    const guest = inject('guestImage');
    const fh = await open(guest, 'r');
    try {
      await m.images.importLocal('rbd', 'g-rbd', 'admin', true, { fd: fh.fd, format: 'qcow2', virtualSize: (await qemuImg.info(guest)).virtualSize });
    } finally {
      await fh.close();
    }
    await Promise.all((['api', 'scheduler', 'host'] as const).map((d) => c.spawn(d).ready));
    for (const [name, image] of [['fs1', 'ucloud-test'], ['fs2', 'ucloud-test'], ['rbd1', 'g-rbd']] as const) {
      vms[name] = await json<Vm>(['vm', 'create', name, '--image', image, '--ram', '128MiB', '--os-ssd', '1GiB', '--wait']);
    }
  }, 420_000);

  afterAll(async () => {
    await c?.stop();
    for (const p of [pool, foreignPool]) await admin?.deletePool(p).catch(() => undefined);
    await ceph?.stop();
  });

  it('each QEMU runs as its own non-zero uid and gid, with no capabilities and seccomp on', () => {
    const uids = new Set<number>();
    for (const vm of Object.values(vms)) {
      const st = procStatus(vm.qemu!.pid);
      // real, effective, saved and filesystem ids: all the VM's
      expect(new Set(st.uid).size, `${vm.name} ${JSON.stringify(st)}`).toBe(1);
      expect(st.uid[0]).toBeGreaterThanOrEqual(1_000_000_000);
      expect(st.gid).toEqual(st.uid);
      expect(st.groups).toBe(String(st.gid[0]));
      expect(st.seccomp).toBe('2');
      expect(st.noNewPrivs).toBe('1');
      expect(st.capEff).toBe('0000000000000000');
      uids.add(st.uid[0]!);
      expect(readFileSync(`/proc/${vm.qemu!.pid}/cmdline`, 'utf8').split('\0')).toContain('on,obsolete=deny,spawn=deny,resourcecontrol=deny');
    }
    expect(uids.size).toBe(3);
  });

  it('VMs boot from fs and from Ceph under these privileges', async () => {
    for (const vm of Object.values(vms)) await until(`${vm.name} booted`, () => serial(vm).includes('UCLOUD-GUEST-DISKS'), 120_000, 250);
  }, 200_000);

  it("as one VM's uid, no disk (another VM's or its own) and no image can be opened, while its QEMU still reads and writes its own", async () => {
    const [a, b] = [vms.fs1!, vms.fs2!];
    const uidA = uidOf(a);
    const base = (await qemuImg.info(diskPath(a))).backingFile!;
    expect(base.startsWith(join(c.imagePath, 'images'))).toBe(true);
    // Disks and images are root's alone, in root-only directories: uids repeat across the
    // hosts of a shared store, so no file may be a VM uid's. QEMU opened them as root.
    for (const file of [diskPath(a), diskPath(b), base]) {
      const st = statSync(file);
      expect([st.uid, st.gid, st.mode & 0o777], file).toEqual([0, 0, 0o600]);
    }
    for (const dir of ['disks', 'images']) expect(statSync(join(c.imagePath, dir)).mode & 0o777, dir).toBe(0o700);
    for (const file of [diskPath(b), diskPath(a), base]) {
      const steal = as(uidA, ['head', '-c1', file]);
      expect(steal.code, file).not.toBe(0);
      expect(steal.stderr).toMatch(/Permission denied/);
    }
    expect(as(uidA, ['sh', '-c', `: >> ${base}`]).code).not.toBe(0);
    // root (the test) opens them: the refusals above are the modes, nothing else
    expect(readFileSync(base).length).toBeGreaterThan(0);
    // another VM's QMP socket and run directory are root's alone
    expect(as(uidA, ['ls', join(c.runDir, 'vms', b.id)]).stderr).toMatch(/Permission denied/);
    // A's QEMU (as uid A) writes and reads its own disk through QEMU's block layer, where guest I/O goes
    const mon = await QmpMonitor.connect(a.qemu!.qmpSocket, { timeoutMs: 5000 });
    try {
      const w = await mon.execute('human-monitor-command', { 'command-line': 'qemu-io disk0 "write -P 0xa5 512M 64k"' });
      expect(String(w)).not.toMatch(/error|denied/i);
      const r = await mon.execute('human-monitor-command', { 'command-line': 'qemu-io disk0 "read -P 0xa5 512M 64k"' });
      expect(String(r)).not.toMatch(/error|denied|mismatch/i);
    } finally {
      await mon.close();
    }
  });

  it('Ceph: QEMU and the driver use client.ucloud, whose caps and root-only keyring reach only the store pools', async () => {
    const vm = vms.rbd1!;
    const drive = readFileSync(`/proc/${vm.qemu!.pid}/cmdline`, 'utf8').split('\0').find((a) => a.includes('rbd:'));
    expect(drive).toMatch(/:id=ucloud:keyring=/);
    expect(drive).not.toMatch(/id=admin/);
    const keyring = join(ceph.dir, 'ceph.client.ucloud.keyring');
    const st = statSync(keyring);
    expect([st.uid, st.mode & 0o777]).toEqual([0, 0o600]);
    // not even the VM's own uid can read the key: QEMU read it as root, before dropping
    expect(as(uidOf(vm), ['head', '-c1', keyring]).code).not.toBe(0);

    const caps = await admin.authGet('client.ucloud');
    expect(caps?.caps.mon).toBe('profile rbd');
    expect(caps?.caps.osd).toContain(`profile rbd pool=${pool}`);
    expect(caps?.caps.osd).not.toContain(foreignPool);
    const ucloud = new RbdClient({ conf: ceph.conf, user: 'ucloud', keyring });
    expect(await ucloud.list(pool)).toContain(vm.disks[0]!.ref.split('/')[1]);
    const refused = await rejection(ucloud.list(foreignPool));
    expect(refused.code).toBe('CEPH_UNAVAILABLE');
    expect(refused.message).toMatch(/refused/);
    expect(await rejection(ucloud.create(foreignPool, 'x', 1 << 20))).toMatchObject({ code: 'CEPH_UNAVAILABLE' });
    expect(await admin.list(foreignPool)).toEqual([]);
  });

  it('QMP still works under the sandbox: block_resize on fs and Ceph; system_powerdown and quit on stop', async () => {
    for (const name of ['fs1', 'rbd1']) {
      await json<Vm>(['vm', 'resize', name, '--os-ssd', '2GiB']);
      const grown = await until(`${name} grown`, async () => {
        const v = await show(name);
        return v.disks[0]!.sizeBytes === 2 * GiB && v;
      }, 30_000);
      expect(grown.qemu!.pid).toBe(vms[name]!.qemu!.pid);
    }
    const stopped = await json<Vm>(['vm', 'stop', 'fs2', '--wait']);
    expect(stopped.status).toBe('stopped');
    expect(existsSync(`/proc/${vms.fs2!.qemu!.pid}`)).toBe(false);
  }, 120_000);

  it("a disk whose qcow2 header was rewritten while its VM ran is refused at the next start (DISK_TAMPERED), never opened", async () => {
    // What an escaped QEMU can do to the disk it holds open: name a host file as the backing
    // file, or an external data file. Root would open it on the next start.
    const vm = vms.fs2!;
    expect((await show('fs2')).status).toBe('stopped');
    const disk = diskPath(vm);
    const base = (await qemuImg.info(disk)).backingFile!;
    const bait = join(c.dir, 'bait.raw');
    writeFileSync(bait, Buffer.alloc(1 << 20, 0x5a), { mode: 0o600 });
    const tampers: [string, () => void][] = [
      ['backing file → a host file', () => execFileSync('qemu-img', ['rebase', '-u', '-f', 'qcow2', '-b', bait, '-F', 'raw', disk])],
      ['backing format → qcow2', () => execFileSync('qemu-img', ['rebase', '-u', '-f', 'qcow2', '-b', base, '-F', 'qcow2', disk])],
      ['external data file bit', () => flipIncompatible(disk, 1 << 2)],
    ];
    for (const [what, tamper] of tampers) {
      tamper();
      const r = await c.cli(['vm', 'start', 'fs2', '--wait']);
      expect(r.code, what).not.toBe(0);
      const v = await show('fs2');
      expect([v.status, v.error?.code], what).toEqual(['error', 'DISK_TAMPERED']);
      expect(c.qemuPids(vm.id), what).toEqual([]);
      // put it back as createDisk made it
      if (what.startsWith('external')) flipIncompatible(disk, 1 << 2);
      else execFileSync('qemu-img', ['rebase', '-u', '-f', 'qcow2', '-b', base, '-F', 'raw', disk]);
      expect((await c.cli(['vm', 'stop', 'fs2', '--wait'])).code, what).toBe(0);
    }
  }, 180_000);

  it('a restarted agent re-attaches; a VM keeps its uid across agent restarts and stop/start; delete frees it', async () => {
    const before = uidOf(vms.fs1!);
    const fs2Uid = Number(readdirSync(join(c.runDir, 'uids')).find((u) => readFileSync(join(c.runDir, 'uids', u), 'utf8') === vms.fs2!.id));
    const host = c.daemons.find((d) => d.name === 'host')!;
    await host.kill9();
    c.daemons.splice(c.daemons.indexOf(host), 1);
    await c.spawn('host').ready;
    // The new incarnation announces itself before it re-stamps its VMs: on a loaded machine a pass of the
    // scheduler may mark fs1 HOST_DEAD in between (failover_margin 2 s), and the agent then takes it back.
    const again = await until('fs1 running under the new agent', async () => {
      const v = await show('fs1');
      return v.status === 'running' ? v : undefined;
    }, 30_000);
    expect(again.qemu!.pid).toBe(vms.fs1!.qemu!.pid);
    expect(uidOf(again)).toBe(before);

    // fs2 was stopped: it starts again as the same uid, under a new agent; its disk stays root's
    const fs2 = await json<Vm>(['vm', 'start', 'fs2', '--wait']);
    expect(uidOf(fs2)).toBe(fs2Uid);
    expect(statSync(diskPath(fs2)).uid).toBe(0);

    for (const name of ['fs1', 'fs2', 'rbd1']) expect((await c.cli(['vm', 'delete', name, '--wait'])).code).toBe(0);
    expect(readdirSync(join(c.runDir, 'uids'))).toEqual([]);
    expect(c.qemuPids(c.dir)).toEqual([]);
  }, 180_000);
});
