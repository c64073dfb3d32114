import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UcloudError } from '../../src/common/errors.js';
import type { StorageDriver } from '../../src/storage/driver.js';
import { fsDriver } from '../../src/storage/drivers/fs.js';
import { storageDriver } from '../../src/storage/registry.js';
import { MiB } from '../helpers/cluster.js';

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
