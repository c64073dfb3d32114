import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { QmpMonitor } from '../../src/host/qemu/index.js';
import type { Image, ImageStore, UserFile, Vm } from '../../src/model/index.js';
import { RbdClient } from '../../src/storage/rbd.js';
import * as qemuImg from '../../src/storage/qemu-img.js';
import { Keys, Kinds } from '../../src/store/keys.js';
import { CEPH_HOOK_TIMEOUT_MS, startCeph, uniquePool, type TestCeph } from '../helpers/ceph.js';
import { GiB, TestCluster, until } from '../helpers/cluster.js';

const sha512 = (file: string) => createHash('sha512').update(readFileSync(file)).digest('hex');

// Files become images, images become VM disks — on a filesystem store and on a
// real single-node Ceph — with real qemu-img, real rbd and QEMU under TCG.
describe('user files → images → VM disks, on fs and on Ceph', () => {
  let c: TestCluster;
  let ceph: TestCeph;
  let rbd: RbdClient;
  const pool = uniquePool('ucl');
  let alice = '';
  let bob = '';

  const as = (token: string) => ({ UCLOUD_TOKEN: token });
  const json = async <T>(args: string[], token = c.adminToken): Promise<T> => {
    const r = await c.cli([...args, '-o', 'json'], as(token));
    if (r.code !== 0) throw new Error(`ucloud ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  };
  const serial = (vm: Vm) => (vm.qemu && existsSync(vm.qemu.serialLog) ? readFileSync(vm.qemu.serialLog, 'utf8') : '');
  const dropFile = (user: string, name: string, from: string) => {
    mkdirSync(join(c.filesPath, user), { recursive: true });
    copyFileSync(from, join(c.filesPath, user, `.${name}.part`));
    // appear atomically, as an upload tool would
    execFileSync('mv', [join(c.filesPath, user, `.${name}.part`), join(c.filesPath, user, name)]);
  };
  const fileListed = (token: string, name: string) => until(`${name} in file list`, async () => (await json<UserFile[]>(['file', 'list'], token)).find((f) => f.name === name), 30_000);

  beforeAll(async () => {
    c = await TestCluster.start();
    ceph = await startCeph();
    rbd = new RbdClient({ conf: ceph.conf });
    await ceph.ensurePool(pool);
    await c.bootstrap({ guestImage: inject('guestImage'), hosts: [{ name: 'hv1', cpu: 8, ram: 4 * GiB, disk: 200 * GiB }] });
    const m = c.managers();
    alice = (await m.users.create('alice', 'user')).token;
    bob = (await m.users.create('bob', 'user')).token;
    mkdirSync(join(c.filesPath, 'alice'), { recursive: true });
    mkdirSync(join(c.filesPath, 'bob'), { recursive: true });
    const ds = ['api', 'scheduler', 'host', 'filescanner', 'imagescanner'] as const;
    await Promise.all(ds.map((d) => c.spawn(d).ready));
  }, CEPH_HOOK_TIMEOUT_MS);
  afterAll(async () => {
    await c?.stop();
    await rbd?.deletePool(pool).catch(() => undefined);
    await ceph?.stop();
  });

  it('image stores are created once: again with the same settings is a no-op, other settings a conflict', async () => {
    const args = ['image-store', 'create', 'rbd', '--driver', 'ceph', '--pool', pool, '--conf', ceph.conf];
    await json<ImageStore>(args);
    await json<ImageStore>(args);
    const other = await c.cli(['image-store', 'create', 'rbd', '--driver', 'ceph', '--pool', 'elsewhere', '--conf', ceph.conf]);
    expect(other.code).toBe(4);
    expect(other.stderr).toMatch(/IMAGE_STORE_EXISTS/);
    const userTry = await c.cli(['image-store', 'create', 'x', '--driver', 'fs', '--path', join(c.dir, 'x')], as(alice));
    expect(userTry.code, userTry.stderr).toBe(5);
    const stores = await json<ImageStore[]>(['image-store', 'list']);
    expect(stores.map((s) => s.name).sort()).toEqual(['local', 'rbd']);
  });

  let fsVm: Vm;
  let rbdVm: Vm;

  it('a qcow2 dropped in a folder is listed with its sha512, becomes an image on each store, and a VM boots from it', async () => {
    const guest = inject('guestImage');
    dropFile('alice', 'guest.qcow2', guest);
    const f = await fileListed(alice, 'guest.qcow2');
    expect(f.sha512).toBe(sha512(guest));
    expect(f.sizeBytes).toBe(readFileSync(guest).length);

    for (const store of ['local', 'rbd']) {
      const img = await json<Image>(['image', 'create', `g-${store}`, '--from-file', 'guest.qcow2', '--store', store, '--wait'], alice);
      expect(img.status).toBe('ready');
      expect(img.owner).toBe('alice');
      expect(img.source?.sha512).toBe(f.sha512);
    }
    fsVm = await json<Vm>(['vm', 'create', 'a1', '--image', 'g-local', '--ram', '128MiB', '--os-ssd', '1GiB', '--wait'], alice);
    rbdVm = await json<Vm>(['vm', 'create', 'a2', '--image', 'g-rbd', '--ram', '128MiB', '--os-ssd', '1GiB', '--hdd', '64MiB', '--wait'], alice);
    for (const vm of [fsVm, rbdVm]) await until(`${vm.name} booted`, () => serial(vm).includes('UCLOUD-GUEST-DISKS'), 90_000);
    expect(serial(rbdVm)).toMatch(/UCLOUD-GUEST-DISKS vda=2097152 vdb=131072/);
    // The disks are copy-on-write children of the images.
    const fsDisk = await qemuImg.info(join(c.imagePath, 'disks', fsVm.disks[0]!.ref));
    expect(fsDisk.backingFile).toBe(join(c.imagePath, 'images', 'alice.g-local.raw'));
    const rbdDisk = await rbd.info(pool, rbdVm.disks[0]!.ref.split('/')[1]!);
    expect(rbdDisk?.parent).toMatchObject({ pool, image: 'img-alice.g-rbd' });
  }, 240_000);

  it("the VM's writes never change the image", async () => {
    const fsImage = join(c.imagePath, 'images', 'alice.g-local.raw');
    const before = sha512(fsImage);
    const rbdBefore = execFileSync('rbd', ['-c', ceph.conf, 'export', '--no-progress', `${pool}/img-alice.g-rbd`, '-'], { maxBuffer: 1 << 30 });
    for (const vm of [fsVm, rbdVm]) {
      const mon = await QmpMonitor.connect(vm.qemu!.qmpSocket, { timeoutMs: 5000 });
      // Writes through QEMU's block layer, exactly where a guest's writes go.
      await mon.execute('human-monitor-command', { 'command-line': 'qemu-io disk0 "write -P 0xcd 0 1M"' });
      await mon.close();
    }
    expect(sha512(fsImage)).toBe(before);
    const rbdAfter = execFileSync('rbd', ['-c', ceph.conf, 'export', '--no-progress', `${pool}/img-alice.g-rbd`, '-'], { maxBuffer: 1 << 30 });
    expect(createHash('sha512').update(rbdAfter).digest('hex')).toBe(createHash('sha512').update(rbdBefore).digest('hex'));
  });

  it('resize grows the disk of a running VM on both stores; shrinking is refused', async () => {
    for (const vm of [fsVm, rbdVm]) {
      const r = await json<Vm>(['vm', 'resize', vm.name, '--os-ssd', '2GiB'], alice);
      expect(r.diskBytes).toBe(2 * GiB);
      const grown = await until(`${vm.name} disk grown`, async () => {
        const v = await json<Vm>(['vm', 'status', vm.name], alice);
        return v.disks[0]!.sizeBytes === 2 * GiB && v;
      }, 30_000);
      expect(grown.status).toBe('running');
      expect(grown.qemu!.pid).toBe(vm.qemu!.pid);
      const mon = await QmpMonitor.connect(vm.qemu!.qmpSocket, { timeoutMs: 5000 });
      const blocks = (await mon.execute('query-block')) as { device: string; inserted?: { image: { 'virtual-size': number } } }[];
      await mon.close();
      expect(blocks.find((b) => b.device === 'disk0')?.inserted?.image['virtual-size']).toBe(2 * GiB);
      const shrink = await c.cli(['vm', 'resize', vm.name, '--os-ssd', '1GiB'], as(alice));
      expect(shrink.code).toBe(2);
      expect(shrink.stderr).toMatch(/^error: DISK_SHRINK_REFUSED/);
    }
    expect((await rbd.info(pool, rbdVm.disks[0]!.ref.split('/')[1]!))?.size).toBe(2 * GiB);
    expect((await qemuImg.info(join(c.imagePath, 'disks', fsVm.disks[0]!.ref))).virtualSize).toBe(2 * GiB);
    const cpu = await c.cli(['vm', 'resize', 'a1', '--cpu', '2'], as(alice));
    expect(cpu.code).toBe(4);
    expect(cpu.stderr).toMatch(/VM_MUST_BE_STOPPED/);
  });

  it('refuses a qcow2 naming a backing file, a json: backing or a data file, a text file called .qcow2, a hard-linked file, and a file deleted mid-import', async () => {
    const dir = join(c.dir, 'bad');
    mkdirSync(dir, { recursive: true });
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', '/etc/hostname', '-F', 'raw', join(dir, 'backed.qcow2'), '64M']);
    execFileSync('qemu-img', ['create', '-q', '-u', '-f', 'qcow2', '-b', 'json:{"driver":"raw","file":{"driver":"file","filename":"/etc/hostname"}}', '-F', 'raw', join(dir, 'jsonb.qcow2'), '64M']);
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', `data_file=${join(dir, 'scratch.data')}`, join(dir, 'datafile.qcow2'), '64M']);
    execFileSync('qemu-img', ['amend', '-q', '-f', 'qcow2', '-o', 'data_file=/etc/hostname', join(dir, 'datafile.qcow2')]);
    writeFileSync(join(dir, 'notes.qcow2'), 'these are my notes, not a disk\n'.repeat(100));
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', join(dir, 'big.qcow2'), '2G']);
    execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x5a 0 1536M', join(dir, 'big.qcow2')]);
    const bad = ['backed.qcow2', 'jsonb.qcow2', 'datafile.qcow2', 'notes.qcow2', 'big.qcow2'];
    for (const f of bad) dropFile('alice', f, join(dir, f));
    for (const f of bad) await fileListed(alice, f);
    // A second link to a listed file: its record goes, and no link is ever listed (FILE_HARD_LINKED).
    dropFile('alice', 'linked.qcow2', join(dir, 'backed.qcow2'));
    await fileListed(alice, 'linked.qcow2');
    linkSync(join(c.filesPath, 'alice', 'linked.qcow2'), join(c.filesPath, 'alice', 'other-name.qcow2'));
    await until('linked.qcow2 unlisted', async () => !(await json<UserFile[]>(['file', 'list'], alice)).some((f) => f.name === 'linked.qcow2'), 30_000);
    expect((await json<UserFile[]>(['file', 'list'], alice)).map((f) => f.name)).not.toContain('other-name.qcow2');

    const expectError = async (image: string, code: string) => {
      const img = await until(`${image} in error`, async () => {
        const i = await json<Image>(['image', 'show', `alice/${image}`], alice);
        return i.status === 'error' && i;
      }, 120_000);
      expect(img.error?.code).toBe(code);
      expect(img.volume).toBeUndefined();
      const vm = await c.cli(['vm', 'create', `from-${image}`, '--image', `alice/${image}`], as(alice));
      expect(vm.code).toBe(4);
      expect(vm.stderr).toMatch(/IMAGE_NOT_READY/);
    };
    for (const f of ['backed', 'jsonb', 'datafile']) {
      await json<Image>(['image', 'create', f, '--from-file', `${f}.qcow2`, '--store', 'local'], alice);
      await expectError(f, 'IMAGE_HAS_BACKING_FILE');
    }
    await json<Image>(['image', 'create', 'notes', '--from-file', 'notes.qcow2', '--store', 'local'], alice);
    await expectError('notes', 'IMAGE_INVALID');
    await json<Image>(['image', 'create', 'big', '--from-file', 'big.qcow2', '--store', 'local'], alice);
    // Watch the record itself (not through the CLI) so the file goes while the import is surely running.
    await until('big importing', async () => (await c.store.get(Kinds.image, Keys.image('alice', 'big')))?.value.status === 'importing', 30_000, 5);
    rmSync(join(c.filesPath, 'alice', 'big.qcow2'));
    await expectError('big', 'FILE_NOT_FOUND');
    // nothing half-imported is left in the store
    expect(existsSync(join(c.imagePath, 'images', 'alice.big.raw'))).toBe(false);
    expect(existsSync(join(c.imagePath, 'images', '.alice.big.raw.importing'))).toBe(false);
  }, 300_000);

  it("another user's files and private images are invisible and unusable; public images are usable by all", async () => {
    expect((await json<UserFile[]>(['file', 'list'], bob)).map((f) => f.name)).toEqual([]);
    const steal = await c.cli(['image', 'create', 'mine', '--from-file', 'guest.qcow2', '--store', 'local'], as(bob));
    expect(steal.code).toBe(3);
    expect(steal.stderr).toMatch(/FILE_NOT_FOUND/);
    expect((await json<Image[]>(['image', 'list'], bob)).map((i) => i.name)).toEqual(['ucloud-test']);
    const use = await c.cli(['vm', 'create', 'b1', '--image', 'g-local'], as(bob));
    expect(use.code).toBe(3);
    expect(use.stderr).toMatch(/IMAGE_NOT_FOUND/);
    const del = await c.cli(['image', 'delete', 'alice/g-local'], as(bob));
    expect(del.code).toBe(3);

    await json<Image>(['image', 'create', 'g-pub', '--from-file', 'guest.qcow2', '--store', 'local', '--public', '--wait'], alice);
    expect((await json<Image[]>(['image', 'list'], bob)).map((i) => i.name).sort()).toEqual(['g-pub', 'ucloud-test']);
    // another user's public image is theirs by name: bob names its owner (a bare name is his own, or an admin's)
    const bare = await c.cli(['vm', 'create', 'b1', '--image', 'g-pub'], as(bob));
    expect(bare.code).toBe(3);
    expect(bare.stderr).toMatch(/IMAGE_NOT_FOUND/);
    const b1 = await json<Vm>(['vm', 'create', 'b1', '--image', 'alice/g-pub', '--ram', '128MiB', '--wait'], bob);
    expect(b1.image).toMatchObject({ owner: 'alice', name: 'g-pub' });
    expect(b1.owner).toBe('bob');
    expect(b1.status).toBe('running');
    await c.cli(['vm', 'delete', 'b1', '--wait'], as(bob));
  }, 180_000);

  it('an image in use cannot be deleted; deleting its VMs deletes their disks on whichever store, then the image can go', async () => {
    const busy = await c.cli(['image', 'delete', 'g-rbd'], as(alice));
    expect(busy.code).toBe(4);
    expect(busy.stderr).toMatch(/IMAGE_IN_USE/);
    const fsDisk = join(c.imagePath, 'disks', fsVm.disks[0]!.ref);
    const rbdDisks = rbdVm.disks.map((d) => d.ref.split('/')[1]!);
    for (const vm of ['a1', 'a2']) expect((await c.cli(['vm', 'delete', vm, '--wait'], as(alice))).code).toBe(0);
    expect(existsSync(fsDisk)).toBe(false);
    for (const d of rbdDisks) expect(await rbd.exists(pool, d)).toBe(false);
    for (const ref of ['g-rbd', 'alice/g-local']) {
      expect((await c.cli(['image', 'delete', ref, '--wait'], as(alice))).code).toBe(0);
    }
    expect(await rbd.exists(pool, 'img-alice.g-rbd')).toBe(false);
    expect(existsSync(join(c.imagePath, 'images', 'alice.g-local.raw'))).toBe(false);
  }, 180_000);

  it('restarting every daemon repeatedly creates no duplicate stores, images or file records', async () => {
    const count = async () => ({
      stores: (await c.store.list(Kinds.imageStore, Keys.imageStores())).items.length,
      images: (await c.store.list(Kinds.image, Keys.images())).items.map((i) => i.key).sort(),
      files: (await c.store.list(Kinds.file, Keys.files())).items.map((i) => `${i.value.owner}/${i.value.name}`).sort(),
    });
    const before = await count();
    expect(new Set(before.files).size).toBe(before.files.length);
    for (let round = 0; round < 3; round++) {
      await Promise.all(c.daemons.splice(0).map((d) => d.kill9()));
      const ds = ['api', 'scheduler', 'host', 'filescanner', 'imagescanner'] as const;
      await Promise.all(ds.map((d) => c.spawn(d).ready));
      await json(['image-store', 'create', 'rbd', '--driver', 'ceph', '--pool', pool, '--conf', ceph.conf]);
      await new Promise((r) => setTimeout(r, 1500)); // at least one filescanner pass
    }
    expect(await count()).toEqual(before);
  }, 180_000);
});
