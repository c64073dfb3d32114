import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UcloudError } from '../../src/common/errors.js';
import type { ImageVolume, StorageDriver } from '../../src/storage/driver.js';
import { fsDriver } from '../../src/storage/drivers/fs.js';
import * as qemuImg from '../../src/storage/qemu-img.js';
import { storageDriver } from '../../src/storage/registry.js';
import { MiB } from '../helpers/cluster.js';
import { flipIncompatible } from '../helpers/qcow2.js';

async function codeOf(fn: () => unknown): Promise<string> {
  try {
    await fn();
    return 'no error';
  } catch (err) {
    return (err as UcloudError).code ?? String(err);
  }
}

// The fs driver as root: nothing in a store's settings or in a record's ref may
// make it create, read or delete anything outside the store's own directory.
describe('fs storage driver: settings and refs stay inside the store', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ucloud-storage-fs-'));
  const root = join(dir, 'store');
  const bait = join(dir, 'bait');
  let d: StorageDriver;

  beforeAll(async () => {
    writeFileSync(bait, 'host file');
    d = fsDriver({ path: root });
    await d.check();
  });
  afterAll(() => {
    try {
      execFileSync('umount', [join(dir, 'procmount')], { stdio: 'ignore' });
    } catch {
      // not mounted
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses bad settings with INVALID_STORE_SETTINGS before touching the filesystem', async () => {
    const cases: [string, Record<string, unknown>][] = [
      ['no path', {}],
      ['relative', { path: 'var/lib/x' }],
      ['under /proc', { path: '/proc/x' }],
      ['/proc itself', { path: '/proc' }],
      ['under /sys', { path: '/sys/fs/x' }],
      ['under /dev', { path: '/dev/shm/x' }],
      ['.. into /proc', { path: `${dir}/../../proc/x` }],
      ['/', { path: '/' }],
      ['NUL byte', { path: `${dir}/new1\0x` }],
      ['newline', { path: `${dir}/new2\nx` }],
      ['a 300-byte name', { path: `${dir}/new3/${'n'.repeat(300)}` }],
      ['a 5000-byte path', { path: `${dir}/new4/${'d/'.repeat(2500)}` }],
      ['a number', { path: 7 }],
      ['an unknown setting', { path: `${dir}/new5`, mode: '777' }],
      ['shared as text', { path: `${dir}/new6`, shared: 'yes' }],
    ];
    for (const [what, settings] of cases) {
      expect(await codeOf(async () => (await storageDriver('fs', settings)).check()), what).toBe('INVALID_STORE_SETTINGS');
    }
    for (const n of [1, 2, 3, 4, 5, 6]) expect(existsSync(join(dir, `new${n}`))).toBe(false);
  });

  it('follows symlinks of existing parents: a path that leads under /proc, /sys or /dev is refused, fast', async () => {
    symlinkSync('/proc/self', join(dir, 'to-proc'));
    symlinkSync('/dev', join(dir, 'to-dev'));
    mkdirSync(join(dir, 'real'));
    symlinkSync(join(dir, 'to-dev'), join(dir, 'real', 'chain'));
    for (const path of [join(dir, 'to-proc', 'x', 'y'), join(dir, 'to-dev', 'ucloud'), join(dir, 'real', 'chain', 'x')]) {
      const t = Date.now();
      expect(await codeOf(() => fsDriver({ path }).check()), path).toBe('INVALID_STORE_SETTINGS');
      expect(Date.now() - t).toBeLessThan(2000);
    }
    expect(existsSync('/dev/ucloud')).toBe(false);
  });

  it('refuses a store on a pseudo-filesystem mounted elsewhere (proc mounted under the store path)', async () => {
    const mnt = join(dir, 'procmount');
    mkdirSync(mnt);
    execFileSync('mount', ['-t', 'proc', 'proc', mnt]);
    expect(await codeOf(() => fsDriver({ path: join(mnt, 'sys', 'ucloud') }).check())).toBe('INVALID_STORE_SETTINGS');
    expect(await codeOf(() => fsDriver({ path: mnt }).check())).toBe('INVALID_STORE_SETTINGS');
    execFileSync('umount', [mnt]);
  });

  it('a good path works: check() makes the directories, disks are made inside', async () => {
    const disk = await d.createDisk('vm1-os', 64 * MiB);
    expect(disk.ref).toBe('vm1-os.qcow2');
    expect(existsSync(join(root, 'disks', 'vm1-os.qcow2'))).toBe(true);
    expect(d.qemuDrive(disk).file).toBe(join(root, 'disks', 'vm1-os.qcow2'));
    expect(await d.diskSize(disk)).toBe(64 * MiB);
  });

  const evilRefs = ['../../bait', '../bait', '/etc/passwd', '../../../../../../dev/sda', 'a/b', '..', '.', 'x\0y', 'x\ny', 'n'.repeat(300), ''];

  it('a record ref with "..", "/", NUL or too long is refused with INVALID_STORAGE_REF by every operation; nothing outside changes', async () => {
    for (const ref of evilRefs) {
      const disk = { ref, format: 'qcow2' as const };
      const image = { ref, format: 'raw' as const, virtualSize: 64 * MiB };
      expect(await codeOf(() => d.deleteDisk(disk)), `deleteDisk ${ref}`).toBe('INVALID_STORAGE_REF');
      expect(await codeOf(() => d.deleteImage(image)), `deleteImage ${ref}`).toBe('INVALID_STORAGE_REF');
      expect(await codeOf(() => d.resizeDisk(disk, 128 * MiB)), `resizeDisk ${ref}`).toBe('INVALID_STORAGE_REF');
      expect(await codeOf(() => d.diskSize(disk)), `diskSize ${ref}`).toBe('INVALID_STORAGE_REF');
      expect(await codeOf(() => d.qemuDrive(disk)), `qemuDrive ${ref}`).toBe('INVALID_STORAGE_REF');
      // A VM disk cloned from an image whose record points outside the store.
      expect(await codeOf(() => d.createDisk('vm2-os', 128 * MiB, image)), `createDisk from ${ref}`).toBe('INVALID_STORAGE_REF');
    }
    for (const id of ['../../bait', '../x', 'a/b', 'x\0']) {
      expect(await codeOf(() => d.createDisk(id, 64 * MiB)), `createDisk ${id}`).toBe('INVALID_STORAGE_REF');
    }
    expect(readFileSync(bait, 'utf8')).toBe('host file');
    expect(existsSync(join(root, 'disks', 'vm2-os.qcow2'))).toBe(false);
    expect(existsSync(join(dir, 'x.qcow2'))).toBe(false);
  });
});


// A running VM's QEMU holds its qcow2 open read-write: escaped, it can rewrite the header
// so that root follows it on the next open (QEMU at start, qemu-img resize). The driver
// reads the header itself first and refuses anything but what it made.
describe('fs storage driver: disks are root-only and checked before root opens them', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ucloud-storage-fs-disk-'));
  const root = join(dir, 'store');
  const bait = join(dir, 'bait.raw');
  let d: StorageDriver;
  let image: ImageVolume;
  let imageFile: string;
  const rebase = (disk: string, backing: string, format: string) => execFileSync('qemu-img', ['rebase', '-q', '-u', '-f', 'qcow2', '-b', backing, '-F', format, disk]);

  beforeAll(async () => {
    writeFileSync(bait, Buffer.alloc(MiB, 0x5a));
    // A store made before its directories and files were root-only.
    mkdirSync(join(root, 'images'), { recursive: true, mode: 0o755 });
    mkdirSync(join(root, 'disks'), { mode: 0o755 });
    chmodSync(join(root, 'images'), 0o755);
    chmodSync(join(root, 'disks'), 0o755);
    d = fsDriver({ path: root });
    await d.check();
    // An image imported through the real (sandboxed) conversion: a raw file with a boot signature.
    const src = join(dir, 'src.raw');
    const bytes = Buffer.alloc(4 * MiB);
    bytes[510] = 0x55;
    bytes[511] = 0xaa;
    writeFileSync(src, bytes);
    const fh = await open(src, 'r');
    try {
      image = await d.importImage('base', { fd: fh.fd, format: 'raw', virtualSize: 4 * MiB });
    } finally {
      await fh.close();
    }
    imageFile = join(root, 'images', image.ref);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('store directories are 700 and images and disks 600, all root\'s (also in a store made before)', async () => {
    for (const sub of ['images', 'disks']) expect(statSync(join(root, sub)).mode & 0o777, sub).toBe(0o700);
    const disk = await d.createDisk('m1-os', 64 * MiB, image);
    const empty = await d.createDisk('m1-hdd0', 64 * MiB);
    for (const f of [imageFile, join(root, 'disks', disk.ref), join(root, 'disks', empty.ref)]) {
      const st = statSync(f);
      expect([st.uid, st.gid, st.mode & 0o777], f).toEqual([0, 0, 0o600]);
    }
    // as an unprivileged uid (a VM's QEMU after -runas), with the parents open to traversal
    chmodSync(dir, 0o711);
    for (const f of [imageFile, join(root, 'disks', disk.ref)]) {
      const r = spawnSync('setpriv', ['--reuid=4000000', '--regid=4000000', '--clear-groups', 'head', '-c1', f], { encoding: 'utf8' });
      expect(r.status, f).not.toBe(0);
      expect(r.stderr).toMatch(/Permission denied/);
    }
  });

  it('a disk as createDisk made it passes; QEMU is given its backing image explicitly; resize keeps the header', async () => {
    const disk = await d.createDisk('m2-os', 64 * MiB, image);
    expect(disk.base).toEqual(image);
    await d.verifyDisk(disk);
    expect(d.qemuDrive(disk)).toEqual({ file: join(root, 'disks', 'm2-os.qcow2'), format: 'qcow2', backing: { file: imageFile, format: 'raw' } });
    await d.resizeDisk(disk, 128 * MiB);
    expect(await d.diskSize(disk)).toBe(128 * MiB);
    const info = await qemuImg.info(join(root, 'disks', disk.ref));
    expect([info.virtualSize, info.backingFile]).toEqual([128 * MiB, imageFile]);
    await d.verifyDisk(disk);
    // A disk of ucloud before disks were root's: the VM uid's. It is made root's again.
    const path = join(root, 'disks', disk.ref);
    chownSync(path, 4000000, 4000000);
    chmodSync(path, 0o644);
    await d.verifyDisk(disk);
    const st = statSync(path);
    expect([st.uid, st.gid, st.mode & 0o777]).toEqual([0, 0, 0o600]);
  });

  it('a rewritten header (backing file, backing format, json: spec, data file, unknown feature) is refused with DISK_TAMPERED by verify, size and resize', async () => {
    const disk = await d.createDisk('m3-os', 64 * MiB, image);
    const path = join(root, 'disks', disk.ref);
    const tampers: [string, () => void, () => void][] = [
      ['backing → a host file', () => rebase(path, bait, 'raw'), () => rebase(path, imageFile, 'raw')],
      ['backing → json: spec', () => rebase(path, `json:{"driver":"raw","file":{"driver":"file","filename":"${bait}"}}`, 'raw'), () => rebase(path, imageFile, 'raw')],
      ['backing format → qcow2', () => rebase(path, imageFile, 'qcow2'), () => rebase(path, imageFile, 'raw')],
      ['external data file bit', () => flipIncompatible(path, 1 << 2), () => flipIncompatible(path, 1 << 2)],
      ['unknown incompatible feature', () => flipIncompatible(path, 1 << 6), () => flipIncompatible(path, 1 << 6)],
    ];
    for (const [what, tamper, restore] of tampers) {
      tamper();
      expect(await codeOf(() => d.verifyDisk(disk)), what).toBe('DISK_TAMPERED');
      expect(await codeOf(() => d.diskSize(disk)), what).toBe('DISK_TAMPERED');
      expect(await codeOf(() => d.resizeDisk(disk, 256 * MiB)), what).toBe('DISK_TAMPERED');
      restore();
      await d.verifyDisk(disk);
    }
    // never resized while tampered
    expect(await d.diskSize(disk)).toBe(64 * MiB);
    // another store image is not "the image it was made from" either
    const other = { ...image, ref: 'other.raw' };
    writeFileSync(join(root, 'images', other.ref), Buffer.alloc(MiB));
    expect(await codeOf(() => d.verifyDisk({ ...disk, base: other }))).toBe('DISK_TAMPERED');
    // a disk made empty may name no backing at all
    const empty = await d.createDisk('m3-hdd0', 64 * MiB);
    rebase(join(root, 'disks', empty.ref), imageFile, 'raw');
    expect(await codeOf(() => d.verifyDisk(empty))).toBe('DISK_TAMPERED');
    // nor be replaced by a symlink
    rmSync(join(root, 'disks', empty.ref));
    symlinkSync(bait, join(root, 'disks', empty.ref));
    expect(await codeOf(() => d.verifyDisk(empty))).toBe('DISK_TAMPERED');
    expect(readFileSync(bait)).toEqual(Buffer.alloc(MiB, 0x5a));
  });
});
