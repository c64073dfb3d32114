import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { QmpMonitor, queryStatus } from '../../src/host/qemu/index.js';
import type { Image, Vm } from '../../src/model/index.js';
import { Keys, Kinds } from '../../src/store/keys.js';
import { Store } from '../../src/store/store.js';
import * as qemuImg from '../../src/storage/qemu-img.js';
import { TestCluster, until, type Daemon } from '../helpers/cluster.js';

const BOOTED = 'UCLOUD-GUEST-BOOTED';

// The newcomer's path: `ucloud up`, then the CLI, on real etcd, real QEMU (TCG).
describe('ucloud up and the VM lifecycle through the CLI', () => {
  let c: TestCluster;
  let up: Daemon;
  let store: Store;

  const json = async <T>(args: string[]): Promise<T> => {
    const r = await c.cli([...args, '-o', 'json']);
    expect(r.stderr).not.toMatch(/\n\s+at .*:\d+:\d+/); // never a stack trace
    if (r.code !== 0) throw new Error(`ucloud ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  };
  const serial = (vm: Vm) => (vm.qemu && existsSync(vm.qemu.serialLog) ? readFileSync(vm.qemu.serialLog, 'utf8') : '');
  const agentPid = async () => (await store.get(Kinds.hostAlive, Keys.hostAlive('hv1')))?.value.pid;

  beforeAll(async () => {
    c = await TestCluster.start({ localEtcd: true });
    // The image `up` would build from Debian packages; copying the one built for this run saves the seconds.
    mkdirSync(join(c.dir, 'state', 'guest'), { recursive: true });
    copyFileSync(inject('guestImage'), join(c.dir, 'state', 'guest', 'ucloud-test.qcow2'));
    up = c.spawn('up');
    await up.ready;
    store = new Store({ endpoints: [c.env.UCLOUD_LOCAL_ETCD_URL!], prefix: '/ucloud/' });
  });
  afterAll(async () => {
    store?.close();
    await c.stop();
  });

  it('registers the test image, the host and writes the CLI config', async () => {
    const images = await json<Image[]>(['image', 'list']);
    expect(images.map((i) => [i.name, i.status, i.public])).toEqual([['ucloud-test', 'ready', true]]);
    const cfg = JSON.parse(readFileSync(c.env.UCLOUD_CLI_CONFIG!, 'utf8')) as { url: string; token: string };
    expect(cfg.token).toMatch(/^uc_/);
    const hosts = await json<{ name: string; alive: boolean }[]>(['host', 'list']);
    expect(hosts).toMatchObject([{ name: 'hv1', alive: true }]);
  });

  let vm: Vm;
  let firstPid = 0;

  it('create --wait → running: QEMU alive, QMP says running, the guest booted', async () => {
    vm = await json<Vm>(['vm', 'create', 'web1', '--image', 'ucloud-test', '--cpu', '1', '--ram', '128MiB', '--os-ssd', '1GiB', '--wait']);
    expect(vm.status).toBe('running');
    expect(vm.host).toBe('hv1');
    firstPid = vm.qemu!.pid;
    expect(c.qemuPids(vm.id)).toEqual([firstPid]);
    const mon = await QmpMonitor.connect(vm.qemu!.qmpSocket, { timeoutMs: 5000 });
    expect((await queryStatus(mon)).status).toBe('running');
    mon.close();
    await until('boot marker on the serial console', () => serial(vm).includes('UCLOUD-GUEST-DISKS'), 60_000);
    // The disk is a copy-on-write overlay on the image, at the size asked for.
    const disk = vm.disks.find((d) => d.name === 'os')!;
    const info = await qemuImg.info(join(c.imagePath, 'disks', disk.ref));
    expect(info.backingFile).toBe(join(c.imagePath, 'images', 'ucloud-test.raw'));
    expect(info.virtualSize).toBe(2 ** 30);
    expect(serial(vm)).toMatch(/UCLOUD-GUEST-DISKS vda=2097152/);
  });

  it('lists and shows status in every output format', async () => {
    const table = await c.cli(['vm', 'list']);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^NAME\s+STATUS\s+HOST/);
    expect(table.stdout).toMatch(/web1\s+running\s+hv1/);
    const status = await c.cli(['vm', 'status', 'web1']);
    expect(status.stdout).toContain(`qemu pid:`);
    expect(status.stdout).toContain(String(firstPid));
    expect(status.stdout).toMatch(/disk:\s+os 1GiB on local/);
    const yaml = await c.cli(['vm', 'status', 'web1', '-o', 'yaml']);
    expect(yaml.stdout).toContain('status: running');
  });

  it('kill -9 of the host agent: the restarted agent re-attaches, same QEMU, no second one', async () => {
    const before = await agentPid();
    process.kill(before!, 'SIGKILL');
    const after = await until('a new agent announced', async () => {
      const p = await agentPid();
      return p && p !== before && p;
    }, 30_000);
    expect(after).not.toBe(before);
    // Let the new agent reconcile and check liveness at least once.
    await new Promise((r) => setTimeout(r, 2500));
    const now = await json<Vm>(['vm', 'status', 'web1']);
    expect(now.status).toBe('running');
    expect(now.qemu!.pid).toBe(firstPid);
    expect(c.qemuPids(vm.id)).toEqual([firstPid]);
  });

  it('stop --wait powers the guest off (ACPI) and the process is gone; start --wait boots it again', async () => {
    const stopped = await json<Vm>(['vm', 'stop', 'web1', '--wait']);
    expect(stopped.status).toBe('stopped');
    expect(stopped.qemu).toBeUndefined();
    expect(c.qemuPids(vm.id)).toEqual([]);
    expect(readFileSync(vm.qemu!.serialLog, 'utf8')).toContain('UCLOUD-GUEST-POWEROFF');
    const started = await json<Vm>(['vm', 'start', 'web1', '--wait']);
    expect(started.status).toBe('running');
    expect(started.qemu!.pid).not.toBe(firstPid);
    expect(c.qemuPids(vm.id)).toEqual([started.qemu!.pid]);
    vm = started;
    await until('boot marker after start', () => serial(vm).includes(BOOTED), 60_000);
  });

  it('a VM whose QEMU dies unasked is recorded as stopped with QEMU_EXITED, not restarted in a loop', async () => {
    process.kill(vm.qemu!.pid, 'SIGKILL');
    const dead = await until('the exit recorded', async () => {
      const v = await json<Vm>(['vm', 'status', 'web1']);
      return v.status === 'stopped' && v;
    }, 20_000);
    expect(dead.error?.code).toBe('QEMU_EXITED');
    expect(dead.desired).toBe('stopped');
    expect(c.qemuPids(vm.id)).toEqual([]);
    vm = await json<Vm>(['vm', 'start', 'web1', '--wait']);
    expect(vm.error).toBeUndefined();
  });

  it('Ctrl-C stops the daemons but not the VM; a second `up` finds the same cloud and re-attaches', async () => {
    const pid = vm.qemu!.pid;
    up.child.kill('SIGINT');
    const code = await new Promise<number | null>((r) => up.child.once('exit', (c2) => r(c2)));
    expect(code).toBe(0);
    expect(c.qemuPids(vm.id)).toEqual([pid]);
    up = c.spawn('up');
    await up.ready;
    const again = await until('VM seen running after restart', async () => {
      const v = await json<Vm>(['vm', 'status', 'web1']);
      return v.status === 'running' && v;
    }, 30_000);
    expect(again.qemu!.pid).toBe(pid);
    expect(c.qemuPids(vm.id)).toEqual([pid]);
    const fresh = new Store({ endpoints: [c.env.UCLOUD_LOCAL_ETCD_URL!], prefix: '/ucloud/' });
    try {
      expect((await fresh.list(Kinds.imageStore, Keys.imageStores())).items.map((s) => s.value.name)).toEqual(['local']);
      expect((await fresh.list(Kinds.image, Keys.images())).items).toHaveLength(1);
      expect((await fresh.list(Kinds.user, Keys.users())).items.map((u) => u.value.name)).toEqual(['admin']);
      expect((await fresh.list(Kinds.host, Keys.hosts())).items).toHaveLength(1);
    } finally {
      fresh.close();
    }
  });

  it('delete --wait removes the process, the disk and the record', async () => {
    const disk = join(c.imagePath, 'disks', vm.disks[0]!.ref);
    expect(existsSync(disk)).toBe(true);
    const del = await c.cli(['vm', 'delete', 'web1', '--wait']);
    expect(del.code).toBe(0);
    expect(c.qemuPids(vm.id)).toEqual([]);
    expect(existsSync(disk)).toBe(false);
    const gone = await c.cli(['vm', 'status', 'web1']);
    expect(gone.code).toBe(3);
    expect(gone.stderr).toMatch(/^error: VM_NOT_FOUND: /);
    const s = new Store({ endpoints: [c.env.UCLOUD_LOCAL_ETCD_URL!], prefix: '/ucloud/' });
    try {
      expect((await s.list(Kinds.vm, Keys.vms())).items).toEqual([]);
      expect((await s.get(Kinds.hostAlloc, Keys.hostAlloc('hv1')))?.value.vms).toEqual({});
    } finally {
      s.close();
    }
  });

  it('the CLI answers bad input with one line, a code and an exit status', async () => {
    const bad = await c.cli(['vm', 'create', 'web2', '--image', 'ucloud-test', '--ram', '12 parsecs']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^error: INVALID_SIZE: ram: invalid size "12 parsecs"\n {2}hint: /);
    const unknown = await c.cli(['vm', 'create', 'web2', '--image', 'nonesuch']);
    expect(unknown.code).toBe(3);
    expect(unknown.stderr).toMatch(/^error: IMAGE_NOT_FOUND/);
    const noToken = await c.cli(['vm', 'list'], { UCLOUD_TOKEN: 'uc_wrong' });
    expect(noToken.code).toBe(5);
    const usage = await c.cli(['vm', 'create', 'web2', '--image', 'x', '--cpu', 'two']);
    expect(usage.code).toBe(2);
  });
});
