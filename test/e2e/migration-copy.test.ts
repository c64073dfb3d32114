import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { isOurQemu } from '../../src/host/qemu/index.js';
import { VmRuntime } from '../../src/host/vm-runtime.js';
import type { HostAllocation, Vm, VmDisk } from '../../src/model/index.js';
import { Keys, Kinds } from '../../src/store/keys.js';
import { MiB, until } from '../helpers/cluster.js';
import { Testbed } from '../helpers/testbed.js';

// Live migration of a VM whose disks are on a store not every host sees (the
// fs store `local` declared not shared): the destination makes new volumes,
// exports them over NBD to the source only, the source mirrors its disks into
// them, then RAM, and the VM switches to the copies in the settle. The guest's
// root is its initramfs (RAM), so what it writes to disk goes straight onto
// its second disk: a tar archive of a file and 24 MiB of random data, read
// back over SSH on the new host with the page cache dropped first (so from
// the copied disk, not from RAM that crossed with the guest).
describe('live migration with a disk copy (local store)', () => {
  let tb: Testbed;
  let storeDir: string;
  const key = () => join(tb.c.dir, 'admin_ed25519');
  const get = async (id: string) => (await tb.c.store.get(Kinds.vm, Keys.vm(id)))!.value;
  const alloc = async (host: string): Promise<HostAllocation | undefined> => (await tb.c.store.get(Kinds.hostAlloc, Keys.hostAlloc(host)))?.value;
  const volume = (d: VmDisk) => join(storeDir, 'disks', d.ref);
  const cli = async (args: string[]) => {
    const r = await tb.c.cli([...args, '-o', 'json']);
    if (r.code !== 0) throw new Error(`ucloud ${args.join(' ')}: ${r.stderr}`);
    return JSON.parse(r.stdout) as Vm;
  };
  const inGuest = async (vm: Vm, host: string, command: string) => {
    const { out, code } = await tb.sshSession(host, key(), vm.nics![0]!.address, command, { timeoutMs: 60_000 });
    expect(code, out).toBe(0);
    return out.trim();
  };
  /** The archive on /dev/vdb as the disk holds it: the file's text and the blob's md5. */
  const fromDisk = async (vm: Vm, host: string) => {
    const out = await inGuest(vm, host, 'sync && echo 3 > /proc/sys/vm/drop_caches && tar -xOf /dev/vdb before.txt && tar -xOf /dev/vdb blob | md5sum | cut -d" " -f1');
    const [text, md5] = out.split('\n');
    return { text, md5 };
  };
  const uptime = async (vm: Vm, host: string) => Number((await inGuest(vm, host, 'cut -d" " -f1 /proc/uptime')).trim());
  const linkExists = (host: string, dev: string) => {
    try {
      execFileSync('ip', ['-n', tb.host(host).netns, 'link', 'show', dev], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  };
  const other = (host: string) => (host === 'h1' ? 'h2' : 'h1');

  beforeAll(async () => {
    tb = await Testbed.start({
      hosts: 2,
      guestImage: inject('guestImage'),
      sharedStore: false,
      // Slow enough to catch the disk copy under way (the failure case), fast enough for a test.
      hostEnv: () => ({ UCLOUD_MIGRATION_MAX_BANDWIDTH: '16MiB', UCLOUD_MIGRATION_PREPARE_TIMEOUT_MS: '15000', UCLOUD_MIGRATION_PORTS: '49230-49239' }),
      // The testbed's own Ceph on the underlay (the last test): a store every host reaches, so RAM only crosses.
      ceph: 'optional',
    });
    storeDir = String((await tb.c.store.get(Kinds.imageStore, Keys.imageStore('local')))!.value.settings.path);
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key()]);
  }, 180_000);

  afterAll(async () => {
    await tb?.stop();
  });

  let vm: Vm;
  let digest: string;

  it('a running VM moves with its disks copied: no reboot, its data there, nothing left on the source', async () => {
    await cli(['key', 'add', 'laptop', '--file', `${key()}.pub`]);
    await cli(['network', 'create', 'lab']);
    // The second disk's size sets how long the failure case's copy lasts: once moved, the copies are fully
    // allocated, so that copy sends all of it at 16 MiB/s, 16 s for 256 MiB, well past the 5 s presence lease a
    // killed destination agent leaves behind (64 MiB took 4 s: the copy sometimes finished first).
    vm = await cli(['vm', 'create', 'cp', '--image', 'ucloud-test', '--network', 'lab', '--ram', '128MiB', '--os-ssd', '64MiB', '--hdd', '256MiB', '--wait']);
    const from = vm.host!;
    const to = other(from);
    await until('guest has its keys', () => existsSync(vm.qemu!.serialLog) && readFileSync(vm.qemu!.serialLog, 'utf8').includes('UCLOUD-INIT-DONE keys=1'), 120_000);
    // On disk before the move (and nowhere else: the guest's copies in /tmp go): a file and a random blob.
    digest = await inGuest(
      vm,
      from,
      `cd /tmp && echo before-${vm.id} > before.txt && head -c ${24 * MiB} /dev/urandom > blob && md5sum blob | cut -d" " -f1 && tar -cf /dev/vdb before.txt blob && sync && rm before.txt blob`,
    );
    expect(digest).toMatch(/^[0-9a-f]{32}$/);
    expect(await fromDisk(vm, from)).toEqual({ text: `before-${vm.id}`, md5: digest });
    const before = await uptime(vm, from);
    const oldPid = vm.qemu!.pid;
    const oldDisks = vm.disks;
    for (const d of oldDisks) expect(existsSync(volume(d)), d.ref).toBe(true);

    const r = await tb.c.cli(['vm', 'migrate', 'cp', '--to', to, '--wait']);
    expect(r.code, r.stderr).toBe(0);
    console.log(r.stderr.trim().split('\n').slice(-3).join('\n'));
    const shown = await cli(['vm', 'show', 'cp']);
    expect(shown.host).toBe(to);
    expect(shown.status).toBe('running');
    expect(shown.migration).toBeUndefined();
    expect(shown.lastMigration).toMatchObject({ phase: 'completed', mode: 'copy', source: from, destination: to });
    const f = shown.lastMigration!.figures!;
    console.log(`copy migration figures: total ${f.totalMs} ms, downtime ${f.downtimeMs} ms, RAM ${(f.ramBytes / MiB).toFixed(1)} MiB, disks ${((f.diskBytes ?? 0) / MiB).toFixed(1)} MiB`);
    expect(f.totalMs).toBeGreaterThan(0);
    expect(f.diskBytes).toBeGreaterThan(0);
    expect(typeof f.downtimeMs).toBe('number');
    // The VM runs on new volumes (never the source's), standalone: the OS disk names no image any more.
    expect(shown.disks.map((d) => d.name)).toEqual(oldDisks.map((d) => d.name));
    for (const [i, d] of shown.disks.entries()) {
      expect(d.ref).not.toBe(oldDisks[i]!.ref);
      expect(d.standalone).toBe(true);
      expect(existsSync(volume(d)), d.ref).toBe(true);
    }
    // The guest kept running, with its data.
    expect(await uptime(shown, to)).toBeGreaterThan(before);
    expect(await fromDisk(shown, to)).toEqual({ text: `before-${vm.id}`, md5: digest });
    // Nothing of it left on the source: no QEMU, tap, run directory, booking, nor its old volumes.
    expect(isOurQemu(oldPid, vm.id)).toBe(false);
    expect(linkExists(from, VmRuntime.tapName(vm.id, 0))).toBe(false);
    expect(existsSync(join(tb.host(from).runDir, 'vms', vm.id))).toBe(false);
    expect((await alloc(from))?.vms[vm.id]).toBeUndefined();
    await until('old volumes deleted', () => oldDisks.every((d) => !existsSync(volume(d))), 30_000);
    expect(isOurQemu(shown.qemu!.pid, vm.id)).toBe(true);
    vm = shown;
  }, 300_000);

  it('stopped and started again on its new host, it boots from the copies (no backing image)', async () => {
    const host = vm.host!;
    const boots = () => (existsSync(vm.qemu!.serialLog) ? readFileSync(vm.qemu!.serialLog, 'utf8').split('UCLOUD-INIT-DONE keys=1').length - 1 : 0);
    const booted = boots();
    const r = await tb.c.cli(['vm', 'stop', 'cp', '--wait']);
    expect(r.code, r.stderr).toBe(0);
    const started = await cli(['vm', 'start', 'cp', '--wait']);
    expect(started.host).toBe(host);
    expect(started.status).toBe('running');
    // The same console log, appended to: one more boot with its keys.
    await until('guest booted again with its keys', () => boots() > booted, 150_000);
    expect(await fromDisk(started, host)).toEqual({ text: `before-${vm.id}`, md5: digest });
    vm = started;
  }, 300_000);

  it('the destination agent killed mid-copy: the VM runs on the source with its own disks, the error has a code, the copies go', async () => {
    const from = vm.host!;
    const to = other(from);
    const before = await uptime(vm, from);
    const r = await tb.c.cli(['vm', 'migrate', 'cp', '--to', to]);
    expect(r.code, r.stderr).toBe(0);
    const copying = await until('disk copy under way', async () => {
      const cur = await get(vm.id);
      return cur.migration?.phase === 'transferring' ? cur : undefined;
    }, 60_000, 20);
    const copies = copying.migration!.disks!;
    expect(copies).toHaveLength(vm.disks.length);
    for (const d of copies) expect(existsSync(volume(d)), d.ref).toBe(true);
    await tb.killAgent(to);
    let restarted = false;
    try {
      const settled = await until('migration settled', async () => {
        const cur = await get(vm.id);
        return cur.migration ? undefined : cur;
      }, 60_000);
      expect(settled.host).toBe(from);
      expect(settled.status).toBe('running');
      expect(settled.disks).toEqual(vm.disks);
      expect(settled.lastMigration).toMatchObject({ phase: 'failed', mode: 'copy', destination: to });
      expect(settled.lastMigration!.error!.code).toBe('MIGRATION_DESTINATION_LOST');
      console.log(`failed as: ${settled.lastMigration!.error!.code}: ${settled.lastMigration!.error!.message} (disk progress ${JSON.stringify(copying.migration!.progress ?? null)})`);
      expect((await alloc(to))?.vms[vm.id]).toBeUndefined();
      expect(isOurQemu(settled.qemu!.pid, vm.id)).toBe(true);
      expect(await uptime(settled, from)).toBeGreaterThan(before);
      expect(await fromDisk(settled, from)).toEqual({ text: `before-${vm.id}`, md5: digest });
      for (const d of vm.disks) expect(existsSync(volume(d)), d.ref).toBe(true);
      // Its agent back, the destination removes what it prepared: QEMU, tap, run directory and the new volumes.
      await tb.restartAgent(to);
      restarted = true;
      await until('destination copies deleted', () => copies.every((d) => !existsSync(volume(d))), 30_000);
      await until('destination run dir removed', () => !existsSync(join(tb.host(to).runDir, 'vms', vm.id)), 30_000);
      expect(linkExists(to, VmRuntime.tapName(vm.id, 0))).toBe(false);
      expect(isOurQemu(copying.migration!.destinationQemu!.pid, vm.id)).toBe(false);
    } finally {
      // A failed assertion above must not leave the next test a host without its agent.
      if (!restarted) await tb.restartAgent(to);
    }
  }, 300_000);

  // Real Ceph: the disk an rbd image both hosts' QEMU open over the underlay. The store is
  // shared (its driver says so), so in this testbed of local disks it still moves RAM only.
  it('a VM on the Ceph store moves with RAM only: no reboot, the same rbd image, nothing left on the source', async (ctx) => {
    if (!tb.ceph) return ctx.skip('the testbed\'s Ceph did not come up');
    const image = 'ucloud-test-ceph';
    await tb.importCephImage(image);
    await tb.c.cli(['key', 'add', 'laptop', '--file', `${key()}.pub`]); // already there unless the first test failed early
    await cli(['network', 'create', 'cephlab']);
    const rbdVm = await cli(['vm', 'create', 'rbd', '--image', image, '--network', 'cephlab', '--ram', '128MiB', '--wait']);
    expect(rbdVm.disks.every((d) => d.store === 'ceph')).toBe(true);
    const from = rbdVm.host!;
    const to = other(from);
    await until('guest has its keys', () => existsSync(rbdVm.qemu!.serialLog) && readFileSync(rbdVm.qemu!.serialLog, 'utf8').includes('UCLOUD-INIT-DONE keys=1'), 120_000);
    const before = await uptime(rbdVm, from);

    const r = await tb.c.cli(['vm', 'migrate', 'rbd', '--to', to, '--wait']);
    expect(r.code, r.stderr).toBe(0);
    const shown = await cli(['vm', 'show', 'rbd']);
    expect(shown.host).toBe(to);
    expect(shown.status).toBe('running');
    expect(shown.lastMigration).toMatchObject({ phase: 'completed', mode: 'shared', source: from, destination: to });
    const f = shown.lastMigration!.figures!;
    console.log(`ceph migration figures: total ${f.totalMs} ms, downtime ${f.downtimeMs} ms, RAM ${(f.ramBytes / MiB).toFixed(1)} MiB`);
    expect(f.diskBytes).toBeUndefined();
    // The same rbd images, still there: nothing was copied.
    expect(shown.disks).toEqual(rbdVm.disks);
    for (const d of shown.disks) execFileSync('rbd', ['-c', tb.ceph.conf, 'info', d.ref], { stdio: 'ignore' }); // ref: pool/image
    expect(await uptime(shown, to)).toBeGreaterThan(before);
    expect(isOurQemu(rbdVm.qemu!.pid, rbdVm.id)).toBe(false);
    expect(linkExists(from, VmRuntime.tapName(rbdVm.id, 0))).toBe(false);
    expect(existsSync(join(tb.host(from).runDir, 'vms', rbdVm.id))).toBe(false);
    expect((await alloc(from))?.vms[rbdVm.id]).toBeUndefined();
    expect(isOurQemu(shown.qemu!.pid, rbdVm.id)).toBe(true);
  }, 300_000);
});
