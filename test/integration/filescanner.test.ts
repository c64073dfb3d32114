import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync, statSync, symlinkSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileManager } from '../../src/managers/files.js';
import { UserManager } from '../../src/managers/users.js';
import type { UserFile } from '../../src/model/index.js';
import { FileScanner } from '../../src/scanners/filescanner.js';
import { Keys, Kinds } from '../../src/store/keys.js';
import { GiB, MiB, TestCluster, until } from '../helpers/cluster.js';

/** Does this process have `path` open (the scanner hashing it)? */
const isOpenHere = (path: string) =>
  readdirSync('/proc/self/fd').some((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === path;
    } catch {
      return false;
    }
  });
/** Bytes this process has read so far (/proc/self/io). */
const readChars = () => Number(/rchar: (\d+)/.exec(readFileSync('/proc/self/io', 'utf8'))![1]);
const sha512sum = (path: string) => execFileSync('sha512sum', [path], { encoding: 'utf8' }).split(' ')[0]!;

describe('filescanner (real etcd, real files)', () => {
  let c: TestCluster;
  let files: FileManager;
  let users: UserManager;
  let base: string;
  let socket: Server | undefined;
  const logLines: string[] = [];
  const log = pino(
    { level: 'debug' },
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        logLines.push(chunk.toString());
        cb();
      },
    }),
  );
  const scanner = (opts: { intervalMs?: number; debounceMs?: number } = {}) =>
    new FileScanner(files, users, { basePath: base, intervalMs: opts.intervalMs ?? 60_000, ...(opts.debounceMs ? { debounceMs: opts.debounceMs } : {}) }, log);
  const byName = async (owner: string) => new Map((await files.list(owner)).map((f) => [f.name, f]));
  const revision = async () => (await c.store.list(Kinds.file, Keys.files())).revision;
  let s: FileScanner;

  beforeAll(async () => {
    c = await TestCluster.start();
    files = new FileManager(c.store);
    users = new UserManager(c.store);
    base = join(realpathSync(c.dir), 'files');
    for (const u of ['alice', 'bob', 'carol']) await users.create(u, 'user');
    mkdirSync(join(base, 'alice', 'sub', 'deeper'), { recursive: true });
    s = scanner();
  });
  afterAll(async () => {
    await s?.stop();
    socket?.close();
    await c?.stop();
  });

  it('records regular files (also in sub-folders) with size and sha512', async () => {
    writeFileSync(join(base, 'alice', 'a.txt'), 'hello\n');
    writeFileSync(join(base, 'alice', 'empty'), '');
    writeFileSync(join(base, 'alice', 'sub', 'b.bin'), randomBytes(3 * MiB + 17));
    writeFileSync(join(base, 'alice', 'sub', 'deeper', 'c with space.iso'), randomBytes(1000));
    const r = await s.scanOnce();
    expect(r).toMatchObject({ hashed: 4, unchanged: 0, removed: 0 });
    const got = await byName('alice');
    expect([...got.keys()]).toEqual(['a.txt', 'empty', 'sub/b.bin', 'sub/deeper/c with space.iso']);
    for (const [name, f] of got) {
      const path = join(base, 'alice', name);
      expect(f.owner).toBe('alice');
      expect(f.sha512).toBe(sha512sum(path));
      expect(f.sizeBytes).toBe(Number(execFileSync('stat', ['-c', '%s', path], { encoding: 'utf8' })));
    }
    expect(got.get('a.txt')!.sizeBytes).toBe(6);
  });

  it('a second scan reads and writes nothing; a change re-hashes only that file, keeping its id; a deletion removes the record', async () => {
    const before = await revision();
    expect(await s.scanOnce()).toEqual({ hashed: 0, unchanged: 4, removed: 0, skipped: 0 });
    expect(await revision()).toBe(before); // not a single etcd write

    const old = (await byName('alice')).get('a.txt')!;
    const path = join(base, 'alice', 'a.txt');
    writeFileSync(path, 'hello, changed\n');
    const later = new Date(Date.now() + 5000);
    utimesSync(path, later, later);
    expect(await s.scanOnce()).toMatchObject({ hashed: 1, unchanged: 3, removed: 0 });
    const now = (await byName('alice')).get('a.txt')!;
    expect(now.id).toBe(old.id);
    expect(now.sha512).toBe(sha512sum(path));
    expect(now.sha512).not.toBe(old.sha512);
    expect(now.sizeBytes).toBe(15);

    rmSync(join(base, 'alice', 'empty'));
    expect(await s.scanOnce()).toMatchObject({ hashed: 0, unchanged: 3, removed: 1 });
    expect((await byName('alice')).has('empty')).toBe(false);
  });

  it('every user gets a folder (mode 0700) from the first scan that sees the user', async () => {
    // The first scan (previous test) made the folders of the users it knew, empty ones included.
    for (const u of ['bob', 'carol']) expect(statSync(join(base, u)).isDirectory()).toBe(true);
    await users.create('gina', 'user');
    expect(existsSync(join(base, 'gina'))).toBe(false);
    const rev = await revision();
    expect(await s.scanOnce()).toMatchObject({ hashed: 0, removed: 0 });
    const st = statSync(join(base, 'gina'));
    expect(st.isDirectory()).toBe(true);
    expect(st.mode & 0o777).toBe(0o700);
    expect(readdirSync(join(base, 'gina'))).toEqual([]);
    expect(await revision()).toBe(rev); // a folder is no record
    expect(logLines.filter((l) => l.includes('user folder created') && l.includes('"user":"gina"'))).toHaveLength(1);
  });

  it('never records symlinks, sockets, FIFOs, dotfiles, uploads in progress or folders of non-users', async () => {
    const alice = join(base, 'alice');
    symlinkSync('/etc/hostname', join(alice, 'hostname-link'));
    symlinkSync('/etc', join(alice, 'etc-link'));
    symlinkSync(join(alice, 'sub'), join(alice, 'sub-link'));
    execFileSync('mkfifo', [join(alice, 'fifo')]);
    socket = createServer();
    await new Promise<void>((r) => socket!.listen(join(alice, 'sock'), r));
    writeFileSync(join(alice, '.hidden'), 'x');
    mkdirSync(join(alice, '.cache'));
    writeFileSync(join(alice, '.cache', 'inside'), 'x');
    writeFileSync(join(alice, 'upload.iso.part'), 'x');
    writeFileSync(join(alice, 'sub', 'scratch.tmp'), 'x');
    mkdirSync(join(base, 'mallory'));
    writeFileSync(join(base, 'mallory', 'evil.iso'), 'x');
    rmSync(join(base, 'carol'), { recursive: true }); // made by the first scan
    symlinkSync(alice, join(base, 'carol')); // a user's folder that is a symlink is no folder of theirs
    writeFileSync(join(base, 'stray-file'), 'x');

    const r1 = await s.scanOnce();
    const r2 = await s.scanOnce();
    for (const r of [r1, r2]) expect(r).toEqual({ hashed: 0, unchanged: 3, removed: 0, skipped: 12 });
    const all = await files.list();
    expect(all.map((f) => `${f.owner}/${f.name}`)).toEqual(['alice/a.txt', 'alice/sub/b.bin', 'alice/sub/deeper/c with space.iso']);
    // each ignored entry of the base folder is logged once, not on every scan
    for (const entry of ['mallory', 'carol', 'stray-file']) {
      expect(logLines.filter((l) => l.includes(`"entry":"${entry}"`))).toHaveLength(1);
    }
    // …and a symlink where a user's folder should be is left as it is, never replaced by a folder
    expect(readlinkSync(join(base, 'carol'))).toBe(alice);
  });

  it("removes a user's records when the user or the user's folder goes away", async () => {
    mkdirSync(join(base, 'bob'), { recursive: true });
    writeFileSync(join(base, 'bob', 'one'), '1');
    writeFileSync(join(base, 'bob', 'two'), '2');
    expect(await s.scanOnce()).toMatchObject({ hashed: 2, removed: 0 });
    expect((await files.list('bob')).length).toBe(2);
    await c.store.delete(Keys.user('bob'));
    expect(await s.scanOnce()).toMatchObject({ hashed: 0, removed: 2 });
    expect(await files.list('bob')).toEqual([]);
    await users.create('bob', 'user');
    expect(await s.scanOnce()).toMatchObject({ hashed: 2, removed: 0 });
    rmSync(join(base, 'bob'), { recursive: true });
    expect(await s.scanOnce()).toMatchObject({ hashed: 0, removed: 2 });
  });

  it('records 2000 small files in one scan; a re-scan of them is fast', async () => {
    await users.create('dave', 'user');
    const dir = join(base, 'dave', 'many');
    await mkdir(dir, { recursive: true });
    for (let i = 0; i < 2000; i += 100) {
      await Promise.all(Array.from({ length: 100 }, (_, j) => writeFile(join(dir, `f${i + j}.dat`), `file ${i + j}\n`)));
    }
    let t0 = performance.now();
    const first = await s.scanOnce();
    const firstMs = performance.now() - t0;
    expect(first).toMatchObject({ hashed: 2000, removed: 0 });
    expect((await files.list('dave')).length).toBe(2000);
    t0 = performance.now();
    const second = await s.scanOnce();
    const secondMs = performance.now() - t0;
    expect(second).toMatchObject({ hashed: 0, unchanged: 2003, removed: 0 });
    console.log(`[filescanner] 2000 files: first scan ${firstMs.toFixed(0)} ms, re-scan ${secondMs.toFixed(0)} ms`);
    expect(secondMs).toBeLessThan(3000);
  });

  it('hashes a 2 GiB file with bounded memory, and gives up a file that changes while being hashed', async () => {
    await users.create('erin', 'user');
    mkdirSync(join(base, 'erin'), { recursive: true });
    const path = join(base, 'erin', 'disk.raw');
    writeFileSync(path, '');
    truncateSync(path, 2 * GiB); // sparse: reads as zeros, costs no disk

    const rss0 = process.memoryUsage().rss;
    let peak = rss0;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    const t0 = performance.now();
    const r = await s.scanOnce();
    const ms = performance.now() - t0;
    clearInterval(sampler);
    peak = Math.max(peak, process.memoryUsage().rss);
    expect(r).toMatchObject({ hashed: 1, removed: 0 });
    const rec = (await byName('erin')).get('disk.raw')!;
    expect(rec.sizeBytes).toBe(2 * GiB);
    expect(rec.sha512).toBe(sha512sum(path));
    const growth = peak - rss0;
    console.log(`[filescanner] 2 GiB: hashed in ${ms.toFixed(0)} ms (${((2 * 1024) / (ms / 1000)).toFixed(0)} MiB/s), RSS growth ${(growth / MiB).toFixed(1)} MiB`);
    expect(growth).toBeLessThan(200 * MiB);

    // A write lands while the file is being hashed: nothing is recorded this round.
    const later = new Date(Date.now() + 10_000);
    utimesSync(path, later, later);
    const scan = s.scanOnce();
    await until('the scanner has disk.raw open', () => isOpenHere(path), 10_000, 5);
    const rchar0 = readChars();
    await until('the scanner is reading disk.raw', () => readChars() - rchar0 > 16 * MiB, 10_000, 5);
    appendFileSync(path, 'tail');
    expect(await scan).toMatchObject({ hashed: 0, skipped: 13 });
    expect((await byName('erin')).get('disk.raw')!.sha512).toBe(rec.sha512);
    // …and the next round records the settled file, keeping its id
    expect(await s.scanOnce()).toMatchObject({ hashed: 1 });
    const now = (await byName('erin')).get('disk.raw')!;
    expect(now).toMatchObject({ id: rec.id, sizeBytes: 2 * GiB + 4 });
    rmSync(path);
    expect(await s.scanOnce()).toMatchObject({ removed: 1 });
  });

  it('a restarted scanner neither duplicates nor loses records, and heals what changed while it was down', async () => {
    const before = await files.list();
    const rev = await revision();
    const fresh = scanner();
    expect(await fresh.scanOnce()).toMatchObject({ hashed: 0, removed: 0, unchanged: before.length });
    expect(await revision()).toBe(rev);
    expect(await files.list()).toEqual(before);

    // While "down": a file added, a record deleted by hand, a duplicate record written by a second scanner.
    writeFileSync(join(base, 'alice', 'while-down.txt'), 'x');
    const a = before.find((f) => f.name === 'a.txt')!;
    await files.remove(a.id);
    const b = before.find((f) => f.name === 'sub/b.bin')!;
    const dup: UserFile = { ...b, id: b.id.replace(/^./, b.id[0] === 'f' ? '0' : 'f') };
    await files.put(dup);
    const r = await scanner().scanOnce();
    expect(r).toMatchObject({ hashed: 2, removed: 1 });
    const after = await files.list();
    const keys = after.map((f) => `${f.owner}/${f.name}`);
    expect(new Set(keys).size).toBe(keys.length);
    expect(keys.length).toBe(before.length + 1);
    expect(after.find((f) => f.name === 'sub/b.bin')!.id).toBe([b.id, dup.id].sort()[0]);
    await fresh.stop();
  });

  it('start() scans by itself: a new file, and a new user folder, are picked up through fs.watch', async () => {
    await s.stop();
    s = scanner({ intervalMs: 60_000, debounceMs: 100 }); // the interval is far away: only fs.watch can trigger
    await s.start();
    await until('the first scan', async () => logLines.some((l) => l.includes('scan done')), 10_000);
    const t0 = Date.now();
    const before = logLines.length;
    writeFileSync(join(base, 'alice', 'dropped.iso'), 'new');
    const rec = await until('dropped.iso recorded', async () => (await byName('alice')).get('dropped.iso'), 10_000, 50);
    expect(rec.sha512).toBe(sha512sum(join(base, 'alice', 'dropped.iso')));
    console.log(`[filescanner] watch: a new file recorded after ${Date.now() - t0} ms`);
    // Its own reads do not wake the scanner up: the scan that recorded dropped.iso (whose write's events all came
    // before it started, after the debounce) causes no fs event. inotify reports in order, so once the event of a
    // marker written after that scan has come, every event the scan caused has come before it.
    const line = (l: string) => JSON.parse(l) as { msg: string; hashed?: number };
    const msg = (l: string) => line(l).msg;
    const recorded = (l: string, i: number) => i >= before && msg(l) === 'scan done' && line(l).hashed! > 0;
    await until('the scan that recorded it done', async () => logLines.some(recorded), 10_000, 20);
    const done = logLines.findIndex(recorded);
    const start = logLines.slice(0, done).findLastIndex((l) => msg(l) === 'scan start');
    expect(start).toBeGreaterThan(before);
    writeFileSync(join(base, 'alice', 'marker'), 'm');
    const isMarker = (l: string) => msg(l) === 'fs event' && l.includes('"file":"marker"');
    await until('the marker\'s fs event', async () => logLines.some(isMarker), 10_000, 20);
    const between = logLines.slice(start, logLines.findIndex(isMarker));
    expect(between.filter((l) => msg(l) === 'fs event')).toEqual([]);

    await users.create('frank', 'user');
    mkdirSync(join(base, 'frank'), { recursive: true });
    writeFileSync(join(base, 'frank', 'f.img'), 'f');
    await until('frank/f.img recorded', async () => (await byName('frank')).get('f.img'), 10_000, 50);
    rmSync(join(base, 'frank', 'f.img'));
    await until('frank/f.img removed', async () => !(await byName('frank')).has('f.img'), 10_000, 50);
    await s.stop();
  });
});
