// Importing a user's file can never make root read a host file: the header is
// rewritten between inspection and conversion (through the import's test-only
// pause, so the rewrite always lands in that window), on a filesystem store and
// on a real Ceph, and the image never holds the bait's bytes. Plain qcow2s that
// name other files, and files with several links, are refused with a code.

import { execFileSync, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, chownSync, copyFileSync, existsSync, linkSync, mkdirSync, readdirSync, readFileSync, realpathSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { mkdtemp, open } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/common/exec.js';
import { FileManager } from '../../src/managers/files.js';
import { ImageManager } from '../../src/managers/images.js';
import { VM_LIMITS } from '../../src/model/index.js';
import { UserManager } from '../../src/managers/users.js';
import { FileScanner } from '../../src/scanners/filescanner.js';
import { ImageScanner } from '../../src/scanners/imagescanner.js';
import { importUserFile } from '../../src/scanners/image-source.js';
import type { ImageVolume, StorageDriver } from '../../src/storage/driver.js';
import { CephDriver } from '../../src/storage/drivers/ceph.js';
import { convert as convertInSandbox } from '../../src/storage/qemu-img.js';
import { storageDriver } from '../../src/storage/registry.js';
import { RbdClient } from '../../src/storage/rbd.js';
import { Keys, Kinds } from '../../src/store/keys.js';
import { sandboxed, SANDBOX_UID } from '../../src/storage/sandbox.js';
import { CEPH_HOOK_TIMEOUT_MS, startCeph, uniquePool, type TestCeph } from '../helpers/ceph.js';
import { MiB, TestCluster, until } from '../helpers/cluster.js';
import { rejection } from '../helpers/rejection.js';

const MARK = `UCLOUD-BAIT-${randomBytes(6).toString('hex')}`;
/** A uid that is neither root nor the sandbox's: the user's upload is theirs, mode 600. */
const USER_UID = 4242;

describe('one safe import path', () => {
  let c: TestCluster;
  let dir: string;
  let aliceDir: string;
  let bait: string;
  let fs: StorageDriver;
  let ceph: TestCeph;
  let rbd: RbdClient;
  let cephDriver: CephDriver;
  const pool = uniquePool('impsafe');

  const qemuImg = (...args: string[]) => execFileSync('qemu-img', args, { stdio: 'pipe' });
  const qemuIo = (file: string, cmd: string, fmt = 'qcow2') => execFileSync('qemu-io', ['-f', fmt, '-c', cmd, file], { stdio: 'pipe' });
  /** Puts `from` into alice's folder as `name`, owned by her, mode 600. */
  const give = (from: string, name: string) => {
    const to = join(aliceDir, name);
    copyFileSync(from, to);
    chownSync(to, USER_UID, USER_UID);
    chmodSync(to, 0o600);
    return to;
  };
  /** A harmless 64 MiB qcow2 with 1 MiB of 0x5a: what inspection sees. */
  const innocent = (path: string) => {
    qemuImg('create', '-q', '-f', 'qcow2', path, '64M');
    qemuIo(path, 'write -P 0x5a 0 1M');
  };

  /** Evil headers, each naming the bait: what the conversion would see after the rewrite. */
  const evil: Record<string, (path: string) => void> = {
    'backing file': (p) => qemuImg('create', '-q', '-u', '-f', 'qcow2', '-b', bait, '-F', 'raw', p, '64M'),
    'json: backing': (p) => qemuImg('create', '-q', '-u', '-f', 'qcow2', '-b', `json:{"driver":"raw","file":{"driver":"file","filename":"${bait}"}}`, '-F', 'raw', p, '64M'),
    'external data file': (p) => {
      // Clusters allocated 1:1 in a scratch data file, then the header re-pointed at the bait.
      const scratch = `${p}.data`;
      qemuImg('create', '-q', '-f', 'qcow2', '-o', `data_file=${scratch},data_file_raw=on`, p, '64M');
      qemuIo(p, 'write -P 0x11 0 1M');
      qemuImg('amend', '-q', '-f', 'qcow2', '-o', `data_file=${bait}`, p);
    },
  };

  /** All bytes of an imported image, read as root outside any sandbox. */
  const bytesOf = async (driver: StorageDriver, vol: ImageVolume): Promise<Buffer> => {
    if (driver === fs) return readFileSync(join(dir, 'store', 'images', vol.ref));
    const out = join(dir, `export-${randomBytes(4).toString('hex')}.raw`);
    await run('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', cephDriver.rbdUri(pool, vol.ref.split('/')[1]!), out], { timeoutMs: 120_000 });
    return readFileSync(out);
  };

  beforeAll(async () => {
    c = await TestCluster.start();
    dir = realpathSync(c.dir);
    aliceDir = join(dir, 'files', 'alice');
    mkdirSync(aliceDir, { recursive: true });
    // Root's secret: 1 MiB of a recognisable line, readable by root only.
    bait = join(dir, 'bait.secret');
    writeFileSync(bait, `${MARK}\n`.repeat(Math.ceil(MiB / (MARK.length + 1))).slice(0, MiB));
    chmodSync(bait, 0o600);
    fs = await storageDriver('fs', { path: join(dir, 'store') });
    ceph = await startCeph();
    rbd = new RbdClient({ conf: ceph.conf });
    await ceph.ensurePool(pool);
    cephDriver = (await storageDriver('ceph', { pool, conf: ceph.conf, user: 'admin' })) as CephDriver;
  }, CEPH_HOOK_TIMEOUT_MS);
  afterAll(async () => {
    await rbd?.deletePool(pool).catch(() => undefined);
    await ceph?.stop();
    await c?.stop();
  });

  const drivers = () => ({ fs, ceph: cephDriver });

  for (const kind of Object.keys(evil)) {
    for (const store of ['fs', 'ceph'] as const) {
      it(`a header rewritten to name the bait (${kind}) after inspection: the ${store} image never holds its bytes`, async () => {
        const driver = drivers()[store];
        const tag = `${kind.replace(/\W+/g, '-')}-${store}`;
        const good = join(dir, `${tag}.good.qcow2`);
        const bad = join(dir, `${tag}.bad.qcow2`);
        innocent(good);
        evil[kind]!(bad);
        expect(readFileSync(bad).includes(bait)).toBe(true); // the header really names it
        const file = give(good, `${tag}.qcow2`);
        let rewritten = false;
        const result = await importUserFile({ ownerDir: aliceDir, name: `${tag}.qcow2` }, driver, `evil-${tag}`, undefined, {
          afterInspect: async () => {
            // In place (same inode, as through the user's open fd): inspection said "plain qcow2".
            writeFileSync(file, readFileSync(bad));
            rewritten = true;
          },
        }).then(
          (vol) => ({ vol }),
          (err: unknown) => ({ err: err as Error & { code?: string } }),
        );
        expect(rewritten).toBe(true);
        if ('vol' in result) {
          const bytes = await bytesOf(driver, result.vol);
          expect(bytes.length).toBe(64 * MiB);
          expect(bytes.includes(MARK)).toBe(false);
          expect(bytes.includes('UCLOUD-BAIT')).toBe(false);
          console.log(`${kind} → ${store}: imported, ${bytes.subarray(0, MiB).every((b) => b === 0) ? 'zeros' : 'no bait'} where the bait would be`);
          await driver.deleteImage(result.vol);
        } else {
          // Refused while converting: the data file is nowhere in the sandbox. Nothing is left.
          expect(result.err.code).toBe('STORAGE_FAILED');
          expect(String(result.err.message)).not.toContain(MARK);
          console.log(`${kind} → ${store}: refused (${result.err.code}: ${result.err.message})`);
        }
        if (store === 'fs') expect(readdirSync(join(dir, 'store', 'images')).filter((f) => f.includes(tag))).toEqual([]);
        else expect((await rbd.list(pool))!.filter((i) => i.includes(tag))).toEqual([]);
      }, 120_000);
    }
  }

  it('a plain qcow2 that names a backing file, a json: backing or a data file is refused with IMAGE_HAS_BACKING_FILE', async () => {
    for (const kind of Object.keys(evil)) {
      const tag = `plain-${kind.replace(/\W+/g, '-')}`;
      const path = join(dir, `${tag}.qcow2`);
      evil[kind]!(path);
      give(path, `${tag}.qcow2`);
      const err = await rejection(importUserFile({ ownerDir: aliceDir, name: `${tag}.qcow2` }, fs, tag));
      expect(err.code, kind).toBe('IMAGE_HAS_BACKING_FILE');
      expect(existsSync(join(dir, 'store', 'images', `${tag}.raw`))).toBe(false);
    }
  });

  it('imports a good qcow2 (a 0600 file of another uid) and a raw disk unchanged', async () => {
    const good = join(dir, 'fine.qcow2');
    innocent(good);
    give(good, 'fine.qcow2');
    const vol = await importUserFile({ ownerDir: aliceDir, name: 'fine.qcow2' }, fs, 'fine');
    expect(vol).toEqual({ ref: 'fine.raw', format: 'raw', virtualSize: 64 * MiB });
    await run('qemu-img', ['compare', '-q', '-f', 'qcow2', '-F', 'raw', good, join(dir, 'store', 'images', 'fine.raw')]);
    const raw = join(dir, 'disk.raw');
    qemuImg('create', '-q', '-f', 'raw', raw, '8M');
    qemuIo(raw, 'write -P 0x33 4096 1M', 'raw');
    const w = await open(raw, 'r+');
    await w.write(Buffer.from([0x55, 0xaa]), 0, 2, 510); // a boot sector's signature: a raw disk
    await w.close();
    give(raw, 'disk.raw');
    const rvol = await importUserFile({ ownerDir: aliceDir, name: 'disk.raw' }, cephDriver, 'rawdisk');
    expect(rvol.virtualSize).toBe(8 * MiB);
    await run('qemu-img', ['compare', '-q', '-f', 'raw', '-F', 'raw', raw, cephDriver.rbdUri(pool, 'img-rawdisk')]);
    await cephDriver.deleteImage(rvol);
  }, 120_000);

  it('a file with more than one link is refused at import (FILE_HARD_LINKED) and never recorded by the filescanner', async () => {
    const good = join(dir, 'linked.qcow2');
    innocent(good);
    const path = give(good, 'linked.qcow2');
    linkSync(path, join(aliceDir, 'second-name.qcow2'));
    const err = await rejection(importUserFile({ ownerDir: aliceDir, name: 'linked.qcow2' }, fs, 'linked'));
    expect(err.code).toBe('FILE_HARD_LINKED');
    expect(existsSync(join(dir, 'store', 'images', 'linked.raw'))).toBe(false);
    symlinkSync(bait, join(aliceDir, 'bait-link'));
    expect((await rejection(importUserFile({ ownerDir: aliceDir, name: 'bait-link' }, fs, 'link'))).code).toBe('FILE_REFUSED');

    const users = new UserManager(c.store);
    const files = new FileManager(c.store);
    await users.create('alice', 'user');
    const scanner = new FileScanner(files, users, { basePath: join(dir, 'files'), intervalMs: 60_000 }, pino({ level: 'silent' }));
    await scanner.scanOnce();
    const names = (await files.list('alice')).map((f) => f.name);
    expect(names).toContain('fine.qcow2'); // the scan did look at the folder
    expect(names).not.toContain('linked.qcow2');
    expect(names).not.toContain('second-name.qcow2');
    expect(names).not.toContain('bait-link');
  }, 60_000);

  it('a qcow2 declaring more than any VM disk, or more than the store has free, is refused with IMAGE_TOO_LARGE before anything is written', async () => {
    const huge = join(dir, 'huge.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', huge, String(VM_LIMITS.maxDisk + 2 ** 30));
    expect(statSync(huge).size).toBeLessThan(4 * MiB); // a tiny upload
    give(huge, 'huge.qcow2');
    expect((await rejection(importUserFile({ ownerDir: aliceDir, name: 'huge.qcow2' }, fs, 'huge'))).code).toBe('IMAGE_TOO_LARGE');
    expect(existsSync(join(dir, 'store', 'images', '.huge.raw.importing'))).toBe(false);
    // A store with 16 MiB free and a 64 MiB image (1 MiB of data: sparse, it would have "fit").
    const small = join(dir, 'small-store');
    mkdirSync(small, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', small]);
    try {
      const good = join(dir, 'roomy.qcow2');
      innocent(good);
      give(good, 'roomy.qcow2');
      const smallFs = await storageDriver('fs', { path: small });
      const err = await rejection(importUserFile({ ownerDir: aliceDir, name: 'roomy.qcow2' }, smallFs, 'roomy'));
      expect(err.code).toBe('IMAGE_TOO_LARGE');
      expect(err.message).toMatch(/free/);
      expect(readdirSync(join(small, 'images'))).toEqual([]);
    } finally {
      execFileSync('umount', [small]);
    }
  });

  /** read(2)'s number in /proc/<pid>/syscall. */
  const READ_SYSCALL = process.arch === 'arm64' ? '63' : '0';
  /** This process's gated conversion, once its sandboxed shell waits in read(2) on its stdin for the gate. */
  const gateWaiting = (): boolean => {
    const parentOf = (pid: string) => /^PPid:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
      try {
        if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('/bin/sh\0-c\0read -r _')) continue;
        let up = parentOf(pid);
        while (up && up !== '0' && up !== String(process.pid)) up = parentOf(up);
        const [nr, fd] = readFileSync(`/proc/${pid}/syscall`, 'utf8').split(' ');
        if (up === String(process.pid) && nr === READ_SYSCALL && fd === '0x0') return true;
      } catch {
        // gone meanwhile
      }
    }
    return false;
  };

  it('a conversion gated on its NBD export: qemu-img starts only once the gate opens, never if it fails', async () => {
    const good = join(dir, 'gated.qcow2');
    innocent(good);
    const sockDir = await mkdtemp(join(dir, 'gate-'));
    const src = await open(good, 'r');
    const abort = new AbortController(); // a failed step leaves no sandbox waiting at its gate
    let connections = 0;
    const server = createServer((s) => {
      connections++;
      s.destroy();
    });
    let qsd: ReturnType<typeof spawn> | undefined;
    try {
      // A gate that fails, with a server already listening: qemu-img, had it started, would have connected.
      const fake = join(sockDir, 'fake.sock');
      await new Promise<void>((resolve) => server.listen(fake, resolve));
      let fail!: (err: Error) => void;
      const failing = convertInSandbox({ fd: src.fd, format: 'qcow2' }, { nbdSocket: fake }, { startWhen: new Promise((_, reject) => (fail = reject)), signal: abort.signal });
      failing.catch(() => undefined);
      await until('the sandbox waiting at its gate', gateWaiting, 30_000, 20);
      fail(new Error('no export'));
      expect((await rejection(failing)).code).toBe('STORAGE_FAILED');
      expect(connections).toBe(0);

      // A gate that opens once the export exists (its socket did not before): the conversion goes through.
      const out = join(dir, 'gated.raw');
      qemuImg('create', '-q', '-f', 'raw', out, '64M');
      const sock = join(sockDir, 'nbd.sock');
      let go!: () => void;
      const gated = convertInSandbox({ fd: src.fd, format: 'qcow2' }, { nbdSocket: sock }, { startWhen: new Promise<void>((resolve) => (go = resolve)), signal: abort.signal });
      gated.catch(() => undefined);
      await until('the sandbox waiting at its gate', gateWaiting, 30_000, 20);
      qsd = spawn('qemu-storage-daemon', ['--blockdev', `driver=file,node-name=f,filename=${out}`, '--nbd-server', `addr.type=unix,addr.path=${sock}`, '--export', 'type=nbd,id=e,node-name=f,name=,writable=on'], { stdio: 'ignore' });
      await until('the export', () => existsSync(sock), 30_000, 20);
      go();
      await gated;
      const exited = new Promise((resolve) => qsd!.once('exit', resolve));
      qsd.kill();
      await exited;
      await run('qemu-img', ['compare', '-q', '-f', 'qcow2', '-F', 'raw', good, out]);
    } finally {
      abort.abort();
      qsd?.kill();
      server.close();
      await src.close();
    }
  }, 60_000);

  it("the sandbox's file size limit: a program handed a writable file cannot write past the size it was given", async () => {
    const out = join(dir, 'capped.out');
    writeFileSync(out, '');
    const src = await open(bait, 'r');
    const dst = await open(out, 'r+');
    try {
      const box = sandboxed(['sh', '-c', 'cat /in > /out'], { files: [{ fd: src.fd, at: '/in' }, { fd: dst.fd, at: '/out', writable: true }], maxFileSize: 4096 });
      await new Promise((resolve) => spawn(box.cmd, box.args, { stdio: box.stdio, env: {} }).on('close', resolve));
      expect(statSync(out).size).toBe(4096); // of the 1 MiB it tried to copy
    } finally {
      await src.close();
      await dst.close();
    }
  });

  it('the imagescanner runs at most import_concurrency imports at once, and every request is imported in turn', async () => {
    const images = new ImageManager(c.store);
    await images.ensureStore('conc', 'fs', { path: join(dir, 'store') });
    const good = join(dir, 'conc.qcow2');
    innocent(good);
    const names = ['c1', 'c2', 'c3', 'c4', 'c5'];
    for (const n of names) {
      give(good, `${n}.qcow2`);
      const f = { id: randomUUID(), owner: 'alice', name: `${n}.qcow2`, sizeBytes: 1024, sha512: 'a'.repeat(128), mtimeMs: Date.now(), seenAt: new Date().toISOString() };
      await c.store.put(Kinds.file, Keys.file(f.id), f);
      await images.requestFromFile('alice', n, 'conc', f, false);
    }
    let inFlight = 0;
    let most = 0;
    let held = 0;
    const scanner = new ImageScanner(c.store, images, new FileManager(c.store), {
      filesPath: join(dir, 'files'),
      importConcurrency: 2,
      // Each import is held after inspection until another runs beside it (or none is left to
      // come), so imports that may run together do overlap; a third at once would show in `most`.
      afterInspect: async () => {
        most = Math.max(most, ++inFlight);
        held++;
        await until('a second import beside this one', () => inFlight >= 2 || held >= names.length, 60_000, 20);
        inFlight--;
      },
    }, pino({ level: 'silent' }));
    await scanner.start();
    try {
      await until('all five imported', async () => (await Promise.all(names.map((n) => images.get('alice', n)))).every((i) => i?.status === 'ready'), 120_000);
    } finally {
      await scanner.stop();
    }
    expect(most).toBe(2);
    for (const n of names) {
      const img = await images.get('alice', n);
      await fs.deleteImage(img!.volume!);
      await images.removeRecord('alice', n);
    }
  }, 180_000);

  it('the sandbox: nobody with one capability, an empty filesystem but for what it is handed, no network', async () => {
    const fh = await open(bait, 'r'); // handed in as a descriptor, as the conversion gets the user's file
    try {
      const box = sandboxed(['sh', '-c', 'id -u; grep -E "^(Cap(Eff|Bnd)|NoNewPrivs)" /proc/self/status 2>&1; ls /; cat /etc/shadow 2>&1; head -c 12 /in; echo; cat /sys/class/net/*/operstate 2>&1'], {
        files: [{ fd: fh.fd, at: '/in' }],
      });
      const out = await new Promise<string>((resolve) => {
        const child = spawn(box.cmd, box.args, { stdio: box.stdio, env: {} });
        let text = '';
        child.stdout!.on('data', (b: Buffer) => (text += b.toString()));
        child.stderr!.on('data', (b: Buffer) => (text += b.toString()));
        child.on('close', () => resolve(text));
      });
      const lines = out.split('\n');
      expect(lines[0]).toBe(String(SANDBOX_UID));
      expect(out).toMatch(/No such file or directory/); // no /proc, no /etc, no /sys
      expect(out).toContain('/etc/shadow: No such file or directory');
      expect(readdirSync('/').length).toBeGreaterThan(6);
      expect(out).not.toMatch(/^(etc|var|root|home|tmp|run|proc|sys)$/m);
      expect(out).toContain(MARK.slice(0, 12)); // what it was handed, it reads
    } finally {
      await fh.close();
    }
  });
});
