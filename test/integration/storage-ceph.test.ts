// The Ceph RBD storage driver against a real single-node Ceph (scripts/ceph-test-cluster.sh).

import { mkdtemp, open, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UcloudError } from '../../src/common/errors.js';
import { run } from '../../src/common/exec.js';
import { importUserFile } from '../../src/scanners/image-source.js';
import type { ImageVolume, ProgressFn } from '../../src/storage/driver.js';
import { CephDriver, cephDriver } from '../../src/storage/drivers/ceph.js';
import { RbdClient } from '../../src/storage/rbd.js';
import { CEPH_HOOK_TIMEOUT_MS, startCeph, uniquePool, type TestCeph } from '../helpers/ceph.js';
import { until } from '../helpers/cluster.js';
import { rejection } from '../helpers/rejection.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

let ceph: TestCeph;
let work: string;
let pool: string;
let rbd: RbdClient;
let driver: CephDriver;

async function codeOf(p: Promise<unknown>): Promise<string> {
  return (await rejection(p)).code;
}

/** qemu-io on an rbd: volume; returns its output (qemu-io exits 0 even when a pattern check fails). */
async function qemuIo(target: string, cmd: string, readOnly = false): Promise<string> {
  const { stdout, stderr } = await run('qemu-io', [...(readOnly ? ['-r'] : []), '-f', 'raw', '-c', cmd, target], { timeoutMs: 60_000 });
  return stdout + stderr;
}

async function expectPattern(target: string, pattern: number, offset: number, len: number): Promise<void> {
  const out = await qemuIo(target, `read -P 0x${pattern.toString(16)} ${offset} ${len}`, true);
  expect(out).not.toMatch(/verification failed|error|fail/i);
  expect(out).toMatch(/read \d+\/\d+ bytes/);
}

async function makeQcow2(path: string, size: string, writes: string[] = []): Promise<void> {
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', path, size]);
  for (const w of writes) await run('qemu-io', ['-f', 'qcow2', '-c', w, path]);
}

/** Imports a qcow2 as the imagescanner would after inspecting it: the driver gets an open descriptor. */
async function importFrom(name: string, path: string, virtualSize: number, onProgress?: ProgressFn): Promise<ImageVolume> {
  const fh = await open(path, 'r');
  try {
    return await driver.importImage(name, { fd: fh.fd, format: 'qcow2', virtualSize }, onProgress);
  } finally {
    await fh.close();
  }
}

function ms(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

beforeAll(async () => {
  const t0 = process.hrtime.bigint();
  ceph = await startCeph();
  console.log(`ceph test cluster ready after ${ms(t0).toFixed(0)} ms (conf ${ceph.conf})`);
  work = await mkdtemp(join(tmpdir(), 'ucloud-ceph-test-'));
  pool = uniquePool('storage');
  rbd = new RbdClient({ conf: ceph.conf });
  await ceph.ensurePool(pool);
  driver = cephDriver({ pool, conf: ceph.conf }) as CephDriver;
}, CEPH_HOOK_TIMEOUT_MS);

afterAll(async () => {
  try {
    if (rbd && pool) await rbd.deletePool(pool).catch((err: unknown) => console.log('could not delete test pool', err));
  } finally {
    if (work) await rm(work, { recursive: true, force: true });
    await ceph?.stop();
  }
});

describe('settings and check()', () => {
  it('refuses bad settings with INVALID_STORE_SETTINGS', () => {
    const bad: Record<string, unknown>[] = [
      {},
      { pool: '' },
      { pool: 'a/b' },
      { pool: 'x:conf=/tmp/evil' },
      { pool: 'ok', conf: 'relative/ceph.conf' },
      { pool: 'ok', conf: '/etc/ceph/a,b.conf' },
      { pool: 'ok', user: 'client.admin' },
      { pool: 'ok', user: 7 },
      { pool: 'ok', confpath: '/etc/ceph/ceph.conf' },
      { pool: 'a'.repeat(300) },
      { pool: 'ok\0' },
      { pool: '.mgr' },
      { pool: 'ok', conf: '/proc/self/environ' },
      { pool: 'ok', conf: '/etc/ceph/ceph\0.conf' },
      { pool: 'ok', conf: `/etc/${'c'.repeat(300)}.conf` },
    ];
    for (const settings of bad) {
      let code = '';
      try {
        cephDriver(settings);
      } catch (err) {
        code = (err as UcloudError).code;
      }
      expect(code, JSON.stringify(settings)).toBe('INVALID_STORE_SETTINGS');
    }
    const d = cephDriver({ pool: 'rbd' });
    expect(d.driver).toBe('ceph');
    // A ref from a record that is not pool/image (a path, an option string) is refused before any rbd call.
    for (const ref of ['../../dev/sda', 'rbd/../x', 'rbd/img:conf=/tmp/evil', 'rbd/a/b', 'rbd/\0']) {
      let code = '';
      try {
        d.qemuDrive({ ref, format: 'raw' });
      } catch (err) {
        code = (err as UcloudError).code;
      }
      expect(code, ref).toBe('INVALID_STORAGE_REF');
    }
    expect(d.capabilities).toEqual({ shared: true, cowClones: true, streamingImport: true, fencing: true });
  });

  it('passes on a reachable cluster with the pool', async () => {
    await driver.check();
  });

  it('stores added at the same moment each keep their grant on the shared client.ucloud', async () => {
    // Each grant is a read-modify-write of one client's caps: without turns, a
    // writer that read before another wrote drops that other's pool again.
    const pools = [uniquePool('race'), uniquePool('race'), uniquePool('race')];
    try {
      for (const p of pools) await ceph.ensurePool(p);
      await Promise.all(pools.map((p) => cephDriver({ pool: p, conf: ceph.conf }).check()));
      const asUcloud = new RbdClient({ conf: ceph.conf, user: 'ucloud', keyring: driver.keyring });
      for (const p of pools) expect(await asUcloud.list(p), p).toEqual([]);
    } finally {
      for (const p of pools) await rbd.deletePool(p).catch(() => undefined);
    }
  });

  it('reports a missing pool as CEPH_UNAVAILABLE and does not create it', async () => {
    const missing = uniquePool('missing');
    expect(await codeOf(cephDriver({ pool: missing, conf: ceph.conf }).check())).toBe('CEPH_UNAVAILABLE');
    expect(await rbd.poolExists(missing)).toBe(false);
  });

  it('reports an unreachable cluster as CEPH_UNAVAILABLE within the connect timeout', async () => {
    // same keyring, a mon address where nothing listens
    const deadDir = join(work, 'dead');
    await mkdir(deadDir);
    const conf = (await readFile(ceph.conf, 'utf8')).replace(/^mon_host = .*$/m, 'mon_host = [v2:127.0.0.1:9,v1:127.0.0.1:10]');
    await writeFile(join(deadDir, 'ceph.conf'), conf);
    const dead = new RbdClient({ conf: join(deadDir, 'ceph.conf'), connectTimeoutS: 2, timeoutMs: 15_000 });
    const t0 = process.hrtime.bigint();
    expect(await codeOf(dead.list(pool))).toBe('CEPH_UNAVAILABLE');
    expect(await codeOf(dead.poolExists(pool))).toBe('CEPH_UNAVAILABLE');
    expect(ms(t0)).toBeLessThan(14_000);
    expect(await codeOf(new RbdClient({ conf: join(deadDir, 'nonexistent.conf') }).list(pool))).toBe('CEPH_UNAVAILABLE');
  });
});

describe('images and copy-on-write disks', () => {
  let image: ImageVolume;
  const name = 'deb12';

  it('imports a qcow2 as a raw RBD image with a protected base snapshot', async () => {
    const src = join(work, 'small.qcow2');
    await makeQcow2(src, '64M', ['write -P 0xab 0 1M']);
    const progress: [number, number][] = [];
    image = await importFrom(name, src, 64 * MiB, (done, total) => progress.push([done, total]));
    expect(image).toEqual({ ref: `${pool}/img-${name}`, format: 'raw', virtualSize: 64 * MiB });
    const info = await rbd.info(pool, `img-${name}`);
    expect(info?.size).toBe(64 * MiB);
    expect(await rbd.snapList(pool, `img-${name}`)).toMatchObject([{ name: 'base', protected: true }]);
    expect(await rbd.list(pool)).toEqual([`img-${name}`]); // no .part left
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect(progress.at(-1)).toEqual([64 * MiB, 64 * MiB]);
    for (let i = 1; i < progress.length; i++) expect(progress[i]![0]).toBeGreaterThanOrEqual(progress[i - 1]![0]);
    await expectPattern(driver.rbdUri(pool, `img-${name}`), 0xab, 0, MiB);
  });

  it('refuses to import over an existing image', async () => {
    const src = join(work, 'small.qcow2');
    expect(await codeOf(importFrom(name, src, 64 * MiB))).toBe('IMAGE_EXISTS');
    expect(await rbd.snapList(pool, `img-${name}`)).toMatchObject([{ name: 'base', protected: true }]);
  });

  it('makes a disk as a clone of the image, grown to the asked size', async () => {
    const disk = await driver.createDisk('vm1-root', 128 * MiB, image);
    expect(disk).toEqual({ ref: `${pool}/disk-vm1-root`, format: 'raw' });
    const info = await rbd.info(pool, 'disk-vm1-root');
    expect(info?.parent).toEqual({ pool, image: `img-${name}`, snapshot: 'base' });
    expect(info?.size).toBe(128 * MiB);
    expect(await driver.diskSize(disk)).toBe(128 * MiB);
    expect(await rbd.children(pool, `img-${name}`, 'base')).toEqual([{ pool, image: 'disk-vm1-root' }]);
  });

  it("has the image's data, and the rest reads as zeros", async () => {
    const disk = driver.qemuDrive({ ref: `${pool}/disk-vm1-root`, format: 'raw' });
    await expectPattern(disk.file, 0xab, 0, MiB);
    await expectPattern(disk.file, 0, MiB, 127 * MiB);
    // byte for byte (qemu-img compare treats the longer tail as having to be zero)
    await run('qemu-img', ['compare', '-q', '-f', 'raw', '-F', 'raw', disk.file, driver.rbdUri(pool, `img-${name}`)]);
  });

  it('keeps the image unchanged when the disk is written', async () => {
    const disk = driver.qemuDrive({ ref: `${pool}/disk-vm1-root`, format: 'raw' });
    await qemuIo(disk.file, 'write -P 0xcd 0 64k');
    await expectPattern(disk.file, 0xcd, 0, 64 * 1024);
    await expectPattern(disk.file, 0xab, 64 * 1024, MiB - 64 * 1024);
    await expectPattern(driver.rbdUri(pool, `img-${name}@base`), 0xab, 0, MiB);
    await expectPattern(driver.rbdUri(pool, `img-${name}`), 0xab, 0, MiB);
    // a second disk from the same image starts from the image, not from the first disk
    const other = await driver.createDisk('vm2-root', 64 * MiB, image);
    await expectPattern(driver.qemuDrive(other).file, 0xab, 0, MiB);
    await driver.deleteDisk(other);
  });

  it('createDisk again (a restarted host agent) keeps the existing disk and its data', async () => {
    const disk = await driver.createDisk('vm1-root', 128 * MiB, image);
    expect(disk.ref).toBe(`${pool}/disk-vm1-root`);
    await expectPattern(driver.qemuDrive(disk).file, 0xcd, 0, 64 * 1024);
  });

  it('grows a disk and refuses to shrink it', async () => {
    const disk = { ref: `${pool}/disk-vm1-root`, format: 'raw' as const };
    await driver.resizeDisk(disk, 256 * MiB);
    expect((await rbd.info(pool, 'disk-vm1-root'))?.size).toBe(256 * MiB);
    await driver.resizeDisk(disk, 256 * MiB); // same size: nothing to do
    expect(await codeOf(driver.resizeDisk(disk, 200 * MiB))).toBe('DISK_SHRINK_REFUSED');
    expect(await driver.diskSize(disk)).toBe(256 * MiB);
    await expectPattern(driver.qemuDrive(disk).file, 0xcd, 0, 64 * 1024);
  });

  it('refuses a disk smaller than its image', async () => {
    expect(await codeOf(driver.createDisk('too-small', 32 * MiB, image))).toBe('DISK_SHRINK_REFUSED');
    expect(await rbd.exists(pool, 'disk-too-small')).toBe(false);
  });

  it('makes an empty disk without an image', async () => {
    const disk = await driver.createDisk('blank', 32 * MiB);
    const info = await rbd.info(pool, 'disk-blank');
    expect(info?.size).toBe(32 * MiB);
    expect(info?.parent).toBeUndefined();
    await expectPattern(driver.qemuDrive(disk).file, 0, 0, MiB);
    await driver.deleteDisk(disk);
  });

  it('fenceDisk: the client writing the disk is blocklisted and can write no more; a new client on the same machine writes', async () => {
    const disk = await driver.createDisk('fenced', 32 * MiB);
    const writer = spawn('rbd', ['--conf', ceph.conf, '--id', 'ucloud', '--keyring', driver.keyring, 'bench', '--io-type', 'write', '--io-size', '4K', '--io-total', '100G', '--io-threads', '1', disk.ref], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    writer.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // 'close', not 'exit': the process can exit before its stderr has been read to the end.
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => writer.on('close', (code, signal) => resolve({ code, signal })));
    try {
      // Writing: it holds the disk's exclusive lock, as a running QEMU does.
      await until('the writer holds the lock', async () => (await rbd.lockers(pool, 'disk-fenced')).length > 0, 30_000, 100);
      const fenced = await driver.fenceDisk(disk);
      expect(fenced.length).toBeGreaterThan(0);
      expect(await rbd.blocklisted()).toEqual(expect.arrayContaining(fenced));
      // It stops: it exits with an error, or librbd ends it outright (seen in CI: a non-zero end with nothing said).
      const end = await exited;
      expect(end.code === 0, `the fenced writer ended cleanly: ${JSON.stringify(end)}`).toBe(false);
      // When it says why, it is the blocklist, never another error.
      if (stderr.trim()) expect(stderr).toMatch(/blocklisted|transport endpoint shutdown/);
      // Only that instance: a new client writes and reads back.
      const target = driver.qemuDrive(disk).file;
      expect(await qemuIo(target, 'write -P 0x5a 0 64k')).toMatch(/wrote 65536\/65536 bytes/);
      await expectPattern(target, 0x5a, 0, 64 * 1024);
      // Nobody holds it now: nothing to fence.
      expect(await driver.fenceDisk(disk)).toEqual([]);
    } finally {
      writer.kill('SIGKILL');
      await driver.deleteDisk(disk);
    }
  }, 120_000);

  it("gives QEMU an rbd: drive with conf, ucloud's own client id and its keyring", () => {
    const drive = driver.qemuDrive({ ref: `${pool}/disk-vm1-root`, format: 'raw' });
    const keyring = join(dirname(ceph.conf), 'ceph.client.ucloud.keyring');
    expect(drive).toEqual({ file: `rbd:${pool}/disk-vm1-root:conf=${ceph.conf}:id=ucloud:keyring=${keyring}`, format: 'raw', options: { discard: 'unmap' } });
  });

  it('refuses to delete an image that disks were cloned from, then deletes disk and image', async () => {
    expect(await codeOf(driver.deleteImage(image))).toBe('IMAGE_IN_USE');
    expect(await rbd.snapList(pool, `img-${name}`)).toMatchObject([{ name: 'base', protected: true }]);
    const disk = { ref: `${pool}/disk-vm1-root`, format: 'raw' as const };
    await driver.deleteDisk(disk);
    await driver.deleteDisk(disk); // idempotent
    expect(await rbd.exists(pool, 'disk-vm1-root')).toBe(false);
    await driver.deleteImage(image);
    await driver.deleteImage(image); // idempotent
    expect(await rbd.list(pool)).toEqual([]);
  });
});

describe('failed imports leave nothing behind', () => {
  it('a nonexistent source', async () => {
    const code = await codeOf(importUserFile({ ownerDir: work, name: 'nope.qcow2' }, driver, 'ghost'));
    expect(code).toBe('FILE_NOT_FOUND');
    expect(await rbd.list(pool)).toEqual([]);
  });

  it('a qcow2 that breaks in the middle of the copy', async () => {
    // data in two clusters far apart; then point the second L1 entry at a bogus, unaligned
    // L2 table: the header is fine (qemu-img info passes), the copy fails on the way
    const src = join(work, 'corrupt.qcow2');
    await makeQcow2(src, '2G', ['write -P 0x11 0 1M', 'write -P 0x22 1536M 1M']);
    const fh = await open(src, 'r+');
    try {
      const header = Buffer.alloc(48);
      await fh.read(header, 0, 48, 0);
      const l1Offset = Number(header.readBigUInt64BE(40));
      const entry = Buffer.alloc(8);
      entry.writeBigUInt64BE(0x8000000000000000n | 0x1200n);
      await fh.write(entry, 0, 8, l1Offset + 8 * 3); // L1[3] maps 1.5 GiB with 64 KiB clusters
    } finally {
      await fh.close();
    }
    const err = await rejection(importFrom('broken', src, 2 * GiB));
    expect(err.code).toBe('STORAGE_FAILED');
    expect(err.message).toMatch(/qemu-img convert failed/); // it failed while copying into the created image
    expect(await rbd.list(pool)).toEqual([]);
  });

  it('an image left by a crashed import (no base snapshot, nobody has it open) is never cloned, and the next import replaces it', async () => {
    // what an import killed mid-conversion leaves: the image under its final name, partly written, no snapshot
    await rbd.create(pool, 'img-phoenix', 4 * MiB);
    const leftover: ImageVolume = { ref: `${pool}/img-phoenix`, format: 'raw', virtualSize: 4 * MiB };
    expect(await codeOf(driver.createDisk('phoenix-disk', 4 * MiB, leftover))).toBe('STORAGE_FAILED');
    const src = join(work, 'phoenix.qcow2');
    await makeQcow2(src, '8M', ['write -P 0x5a 0 64k']);
    const img = await importFrom('phoenix', src, 8 * MiB);
    expect(await rbd.list(pool)).toEqual(['img-phoenix']);
    expect(await rbd.snapList(pool, 'img-phoenix')).toMatchObject([{ name: 'base', protected: true }]);
    expect((await rbd.info(pool, 'img-phoenix'))?.size).toBe(8 * MiB);
    await expectPattern(driver.rbdUri(pool, 'img-phoenix'), 0x5a, 0, 64 * 1024);
    await driver.deleteImage(img);
  });
});

describe('figures (logged, not asserted)', () => {
  it('createDisk costs the same for a 1 GiB and a 10 GiB image', async () => {
    const times: Record<string, number> = {};
    for (const [label, size] of [
      ['1GiB', 1 * GiB],
      ['10GiB', 10 * GiB],
    ] as const) {
      const src = join(work, `sparse-${label}.qcow2`);
      await makeQcow2(src, String(size), ['write -P 0x42 0 4M']);
      const t0 = process.hrtime.bigint();
      const img = await importFrom(`sparse-${label.toLowerCase()}`, src, size);
      const importMs = ms(t0);
      const t1 = process.hrtime.bigint();
      const disk = await driver.createDisk(`clone-${label.toLowerCase()}`, img.virtualSize + GiB, img);
      times[label] = ms(t1);
      console.log(`image ${label} (sparse, 4 MiB data): import ${importMs.toFixed(0)} ms, createDisk (clone + grow) ${times[label]!.toFixed(0)} ms`);
      await driver.deleteDisk(disk);
      await driver.deleteImage(img);
    }
    expect(Object.keys(times)).toHaveLength(2);
  });

  it('import throughput of a ~200 MiB qcow2 vs qemu-img convert to a local file', async () => {
    const raw = join(work, 'random.raw');
    const src = join(work, 'random.qcow2');
    await run('sh', ['-c', `head -c ${200 * MiB} /dev/urandom > "$1"`, 'sh', raw]);
    await run('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, src]);
    await readFile(src); // warm the page cache for every contender

    const rate = (bytes: number, t: number) => `${((bytes / MiB) / (t / 1000)).toFixed(0)} MiB/s`;
    let t0 = process.hrtime.bigint();
    await run('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', src, join(work, 'local.raw')]);
    const localMs = ms(t0);
    await rm(join(work, 'local.raw'));

    // one copy at a time in the (RAM-backed) OSD, each checked against the source
    t0 = process.hrtime.bigint();
    const img = await importFrom('random', src, 200 * MiB);
    const importMs = ms(t0);
    await run('qemu-img', ['compare', '-q', '-f', 'raw', '-F', 'raw', driver.rbdUri(pool, 'img-random'), raw]);
    await driver.deleteImage(img);

    t0 = process.hrtime.bigint();
    await rbd.import(raw, pool, 'rbd-import-file');
    const fileMs = ms(t0);
    await rbd.remove(pool, 'rbd-import-file');

    t0 = process.hrtime.bigint();
    await rbd.import(createReadStream(raw), pool, 'rbd-import-stdin');
    const stdinMs = ms(t0);
    await run('qemu-img', ['compare', '-q', '-f', 'raw', '-F', 'raw', driver.rbdUri(pool, 'rbd-import-stdin'), raw]);
    await rbd.remove(pool, 'rbd-import-stdin');

    console.log(
      [
        `200 MiB of random data:`,
        `  qemu-img convert qcow2 → local raw file: ${localMs.toFixed(0)} ms (${rate(200 * MiB, localMs)})`,
        `  driver.importImage qcow2 → rbd (sandboxed qemu-img → NBD → qemu-storage-daemon → rbd + snapshot): ${importMs.toFixed(0)} ms (${rate(200 * MiB, importMs)})`,
        `  rbd import raw file: ${fileMs.toFixed(0)} ms (${rate(200 * MiB, fileMs)})`,
        `  rbd import - (raw on stdin): ${stdinMs.toFixed(0)} ms (${rate(200 * MiB, stdinMs)})`,
      ].join('\n'),
    );
    await rm(raw);
  });
});
