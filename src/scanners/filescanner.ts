import { Serial } from '../common/serial.js';
import { randomUUID, createHash } from 'node:crypto';
import { watch, type Dirent, type FSWatcher, type Stats } from 'node:fs';
import { lstat, mkdir, readdir, realpath, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { UcloudError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import type { FileManager } from '../managers/files.js';
import type { UserManager } from '../managers/users.js';
import { nowIso, type UserFile } from '../model/index.js';
import { isIgnoredName, PART_NAME, sweepParts } from '../managers/user-folder.js';
import { openUserFile } from './user-file.js';

// Tracks the files users put under <basePath>/<user>/…: one `file/<uuid>` record
// per regular file with its size and sha512. Level-triggered: every scan compares
// the directory tree with the records in etcd and closes the gap, so a scanner
// that restarts (or a record deleted by hand) neither duplicates nor loses files.
//
// Security: the scanner usually runs as root over folders users write into. It
// never follows a symlink (files or directories), and opens files only through
// openUserFile (user-file.ts): a regular file with one link, which /proc/self/fd
// confirms is <basePath>/<user>/<name>, so a directory swapped for a symlink
// mid-scan cannot make it read another path. Files with several hard links are
// never recorded.

export interface FileScannerOptions {
  /** One folder per user: <basePath>/<user>/… */
  basePath: string;
  /** A full scan runs this often, whatever fs.watch reports. */
  intervalMs: number;
  /** Quiet time after an fs.watch event before the early scan (default 250 ms). */
  debounceMs?: number;
  /** Files hashed at once (default 2): bounds open fds and disk contention. */
  hashConcurrency?: number;
  /** Upload part files unchanged this long are left by a stopped API and removed (upload_idle_timeout; default 60 s). */
  partMaxAgeMs?: number;
}

export interface ScanReport {
  /** Files (re)hashed and written to etcd. */
  hashed: number;
  /** Files whose size and mtime match their record: not read, not written. */
  unchanged: number;
  /** Records deleted: the file, its folder or its user is gone (or a duplicate record). */
  removed: number;
  /**
   * Entries not recorded this round: folders of non-users, symlinks, sockets,
   * FIFOs, devices, files with several hard links, dotfiles, *.part / *.tmp,
   * names too long, files that changed while being hashed or could not be read.
   */
  skipped: number;
}

const MAX_NAME = 1024; // UserFile.name's schema limit
const CHUNK = 1 << 20;
/** While hashing, re-check the file this often so a file being written is given up early. */
const RECHECK_BYTES = 64 * CHUNK;

interface Found {
  owner: string;
  name: string;
  /** <realpath of base>/<owner>/<name>: also what /proc/self/fd must say once it is open. */
  path: string;
  sizeBytes: number;
  mtimeMs: number;
  dev: number;
  ino: number;
}

type HashResult = { sha512: string; sizeBytes: number; mtimeMs: number } | 'changed' | 'gone' | 'refused' | 'hard-linked';

class AbortedError extends Error {
  constructor() {
    super('the file scanner is stopping');
  }
}

const keyOf = (owner: string, name: string) => `${owner}/${name}`;
const errCode = (err: unknown) => (err as NodeJS.ErrnoException | undefined)?.code;

/** At most `n` holders at once. */
class Semaphore {
  private waiting: (() => void)[] = [];
  constructor(private free: number) {}

  async use<T>(fn: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((r) => this.waiting.push(r));
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    }
  }
}

export class FileScanner {
  private readonly debounceMs: number;
  private readonly hashSlots: Semaphore;
  private readonly abort = new AbortController();
  /** Scans run one after another, whoever asks (the loop, fs.watch, a caller of scanOnce). */
  private readonly scans = new Serial();
  private started = false;
  private stopped = false;
  private loop: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private firstEventAt = 0;
  /** Watched directory → its watcher and the inode it was made for (a folder re-created needs a new watch). */
  private readonly watchers = new Map<string, { watcher: FSWatcher; ino: number }>();
  private watchFailureLogged = false;
  /** Base-dir entries already reported as skipped, so each is logged once. */
  private readonly reported = new Set<string>();
  /** User folders whose last walk saw an upload part file: swept after the walk. */
  private readonly partsSeen = new Set<string>();

  constructor(
    private readonly files: FileManager,
    private readonly users: UserManager,
    private readonly opts: FileScannerOptions,
    private readonly log: Logger,
  ) {
    this.debounceMs = opts.debounceMs ?? 250;
    this.hashSlots = new Semaphore(Math.max(1, opts.hashConcurrency ?? 2));
  }

  /**
   * Starts the first scan at once (without waiting for it: a first scan of a
   * large tree can take long), then scans every `intervalMs`, and earlier when
   * fs.watch sees a change in the base folder or a user's folder.
   */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.kick();
  }

  /** Stops the timers and watchers, abandons a hash in progress, and waits for the current scan to end. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.debounce);
    for (const { watcher } of this.watchers.values()) watcher.close();
    this.watchers.clear();
    this.abort.abort();
    await this.loop;
    await this.scans.idle();
  }

  /** One full scan; waits for a scan already running to end first (never two at once). */
  scanOnce(): Promise<ScanReport> {
    return this.scans.run(() => this.scan());
  }

  // ---- scheduling -------------------------------------------------------

  private kick(): void {
    if (this.stopped || !this.started) return;
    if (this.loop) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.loop = (async () => {
      do {
        this.again = false;
        const t0 = Date.now();
        this.log.debug('scan start');
        try {
          const r = await this.scanOnce();
          const changed = r.hashed + r.removed > 0;
          this.log[changed ? 'info' : 'debug']({ ...r, ms: Date.now() - t0 }, 'scan done');
        } catch (err) {
          if (!(err instanceof AbortedError)) this.log.error({ err }, 'scan failed');
        }
      } while (this.again && !this.stopped);
    })().finally(() => {
      this.loop = undefined;
      if (!this.stopped) this.timer = setTimeout(() => this.kick(), this.opts.intervalMs);
    });
  }

  /** Debounced: a burst of events (a copy of many files) makes one scan, at the latest 4 debounces after the first event. */
  private onFsEvent(dir: string, type: string, file: string | null): void {
    if (this.stopped) return;
    // What woke the scanner, for whoever wonders why it scanned (and for the test that it never wakes itself).
    this.log.debug({ dir, file, type }, 'fs event');
    const now = Date.now();
    if (!this.debounce) this.firstEventAt = now;
    clearTimeout(this.debounce);
    const wait = Math.max(0, Math.min(this.debounceMs, this.firstEventAt + 4 * this.debounceMs - now));
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      this.kick();
    }, wait);
  }

  /** Watches exactly `dirs` (path → inode); non-recursive, so sub-folders are left to the interval. */
  private syncWatchers(dirs: Map<string, number>): void {
    if (this.stopped || !this.started) return; // a bare scanOnce() watches nothing
    for (const [path, w] of this.watchers) {
      if (dirs.get(path) !== w.ino) {
        w.watcher.close();
        this.watchers.delete(path);
      }
    }
    for (const [path, ino] of dirs) {
      if (this.watchers.has(path)) continue;
      try {
        const watcher = watch(path, { persistent: false }, (type, file) => this.onFsEvent(path, type, file));
        watcher.on('error', (err) => {
          this.log.debug({ err, path }, 'watch ended; it is renewed by the next scan');
          watcher.close();
          if (this.watchers.get(path)?.watcher === watcher) this.watchers.delete(path);
        });
        this.watchers.set(path, { watcher, ino });
      } catch (err) {
        // e.g. ENOSPC: out of inotify watches. The interval still finds everything.
        if (!this.watchFailureLogged) this.log.warn({ err, path }, 'cannot watch a folder; changes are found by the periodic scan only');
        this.watchFailureLogged = true;
      }
    }
  }

  // ---- the scan ---------------------------------------------------------

  private async scan(): Promise<ScanReport> {
    const signal = this.abort.signal;
    if (signal.aborted) throw new AbortedError();
    const report: ScanReport = { hashed: 0, unchanged: 0, removed: 0, skipped: 0 };
    const [userList, records] = await Promise.all([this.users.list(), this.files.list()]);
    const userNames = new Set(userList.map((u) => u.name));

    // The records, by owner/name. Two records for one file (two scanners racing
    // once) are healed: the first by id is kept, by every scanner alike.
    const byKey = new Map<string, UserFile>();
    const duplicates: UserFile[] = [];
    for (const r of [...records].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))) {
      const k = keyOf(r.owner, r.name);
      if (byKey.has(k)) duplicates.push(r);
      else byKey.set(k, r);
    }

    let base: string;
    let baseStat: Stats;
    let entries: Dirent[];
    try {
      base = await realpath(this.opts.basePath);
      baseStat = await lstat(base);
      entries = await readdir(base, { withFileTypes: true });
    } catch (err) {
      // A missing or unreadable base folder is more likely a mount problem than
      // every user deleting every file: keep the records.
      this.log.warn({ err, path: this.opts.basePath }, 'cannot read the files folder; no record is removed');
      return report;
    }

    const found: Found[] = [];
    /** Files and folders we could not look at this round: their records stay as they are. */
    const keep = new Set<string>();
    const keepPrefixes: string[] = [];
    const watchDirs = new Map<string, number>([[base, baseStat.ino]]);
    const seenEntries = new Set<string>();

    for (const e of entries) {
      seenEntries.add(e.name);
      const why = !e.isDirectory() ? (e.isSymbolicLink() ? 'a symlink' : 'not a folder') : !userNames.has(e.name) ? 'no such user' : undefined;
      if (why) {
        report.skipped++;
        if (!this.reported.has(e.name)) {
          this.reported.add(e.name);
          this.log.warn({ entry: e.name, reason: why }, 'ignoring an entry of the files folder');
        }
        continue;
      }
      this.reported.delete(e.name);
      const dir = join(base, e.name);
      try {
        const st = await lstat(dir);
        if (!st.isDirectory()) continue; // replaced meanwhile; its records go when it is really gone
        watchDirs.set(dir, st.ino);
      } catch {
        continue;
      }
      await this.walk(e.name, dir, found, report, keep, keepPrefixes, signal);
      if (this.partsSeen.delete(dir)) {
        // A killed API's part files would count against the user's quota forever.
        const swept = await sweepParts(dir, this.opts.partMaxAgeMs ?? 60_000).catch(() => []);
        if (swept.length) this.log.warn({ owner: e.name, parts: swept }, 'removed part files of uploads that ended with an API');
      }
    }
    for (const name of this.reported) if (!seenEntries.has(name)) this.reported.delete(name);

    // Every user has a folder, so a newcomer can upload or copy files at once
    // (mode 0700: only ucloud reads it; an operator may chown it to a login).
    // Not recursive: mkdir never follows a symlink put in its place.
    for (const user of userNames) {
      if (seenEntries.has(user)) continue;
      try {
        await mkdir(join(base, user), { mode: 0o700 });
        this.log.info({ user, path: join(base, user) }, 'user folder created');
      } catch (err) {
        if (errCode(err) !== 'EEXIST') this.log.warn({ err, user }, 'cannot create a user folder');
      }
    }

    // Which files need (re)hashing: new ones, and those whose size or mtime moved.
    const present = new Set<string>(keep);
    const todo: Found[] = [];
    for (const f of found) {
      const k = keyOf(f.owner, f.name);
      present.add(k);
      const rec = byKey.get(k);
      if (rec && rec.sizeBytes === f.sizeBytes && rec.mtimeMs === f.mtimeMs) report.unchanged++;
      else todo.push(f);
    }

    // Hash at most hashConcurrency files at once; etcd writes overlap a little more.
    let next = 0;
    let failed = false;
    const worker = async () => {
      while (next < todo.length && !signal.aborted && !failed) {
        const f = todo[next++]!;
        const k = keyOf(f.owner, f.name);
        let res: HashResult;
        try {
          res = await this.hashSlots.use(() => hashFile(f, signal));
        } catch (err) {
          if (err instanceof AbortedError) return;
          this.log.warn({ err, owner: f.owner, name: f.name }, 'cannot hash a file; trying again next scan');
          report.skipped++;
          continue;
        }
        if (res === 'gone') {
          present.delete(k);
          continue;
        }
        if (res === 'changed' || res === 'refused' || res === 'hard-linked') {
          if (res === 'refused') this.log.warn({ owner: f.owner, name: f.name, code: 'FILE_REFUSED' }, 'not a regular file inside the folder when opened; not recorded');
          if (res === 'hard-linked') this.log.warn({ owner: f.owner, name: f.name, code: 'FILE_HARD_LINKED' }, 'the file has more than one hard link; not recorded');
          report.skipped++;
          continue;
        }
        const rec = byKey.get(k);
        const file: UserFile = { id: rec?.id ?? randomUUID(), owner: f.owner, name: f.name, ...res, seenAt: nowIso() };
        try {
          await this.files.put(file);
        } catch (err) {
          failed = true;
          throw err;
        }
        byKey.set(k, file);
        report.hashed++;
      }
    };
    // allSettled: a failed write ends the scan only once no worker is still running.
    const settled = await Promise.allSettled(Array.from({ length: 8 }, worker));
    if (signal.aborted) throw new AbortedError();
    for (const s of settled) if (s.status === 'rejected') throw s.reason;

    // Records of files, folders and users that are gone.
    const gone = [...duplicates];
    for (const [k, rec] of byKey) {
      if (!present.has(k) && !keepPrefixes.some((p) => k.startsWith(p))) gone.push(rec);
    }
    for (let i = 0; i < gone.length; i += 16) {
      await Promise.all(gone.slice(i, i + 16).map((rec) => this.files.remove(rec.id)));
      report.removed += Math.min(16, gone.length - i);
    }

    this.syncWatchers(watchDirs);
    return report;
  }

  /** Collects the regular files under one user's folder; never follows a symlink. */
  private async walk(owner: string, userDir: string, found: Found[], report: ScanReport, keep: Set<string>, keepPrefixes: string[], signal: AbortSignal): Promise<void> {
    const stack = [''];
    while (stack.length > 0) {
      if (signal.aborted) throw new AbortedError();
      const rel = stack.pop()!;
      let entries: Dirent[];
      try {
        entries = await readdir(rel ? join(userDir, rel) : userDir, { withFileTypes: true });
      } catch (err) {
        const code = errCode(err);
        if (code === 'ENOENT' || code === 'ENOTDIR') continue; // gone meanwhile: so are its files
        this.log.warn({ err, owner, folder: rel || '.' }, 'cannot read a folder; its records are kept');
        keepPrefixes.push(rel ? keyOf(owner, `${rel}/`) : `${owner}/`);
        continue;
      }
      for (const e of entries) {
        const name = rel ? `${rel}/${e.name}` : e.name;
        // readdir's types come from lstat-like d_type (Node lstat()s when the
        // filesystem does not say): a symlink is never a directory or a file here.
        if (isIgnoredName(e.name) || (!e.isDirectory() && !e.isFile())) {
          if (!rel && PART_NAME.test(e.name)) this.partsSeen.add(userDir);
          report.skipped++;
          continue;
        }
        if (e.isDirectory()) {
          stack.push(name);
          continue;
        }
        if (name.length > MAX_NAME) {
          report.skipped++;
          continue;
        }
        const path = join(userDir, name);
        let st: Stats;
        try {
          st = await lstat(path);
        } catch (err) {
          if (errCode(err) !== 'ENOENT') keep.add(keyOf(owner, name));
          continue;
        }
        if (!st.isFile()) {
          report.skipped++;
          continue;
        }
        if (st.nlink > 1) {
          // A hard link may name a file the user cannot read (FILE_HARD_LINKED): never recorded, and a record goes.
          report.skipped++;
          continue;
        }
        found.push({ owner, name, path, sizeBytes: st.size, mtimeMs: st.mtimeMs, dev: st.dev, ino: st.ino });
      }
    }
  }
}

/**
 * sha512 of one file, streamed 1 MiB at a time whatever the file's size.
 * 'changed' when the file moved while being read, 'gone' when it vanished,
 * 'refused' when what the path leads to is not that regular file.
 */
async function hashFile(f: Found, signal: AbortSignal): Promise<HashResult> {
  let fh: FileHandle;
  let before: Stats;
  try {
    ({ fh, stat: before } = await openUserFile(f.path, f.name, f));
  } catch (err) {
    if (!(err instanceof UcloudError)) throw err;
    if (err.code === 'FILE_NOT_FOUND') return 'gone';
    if (err.code === 'FILE_HARD_LINKED') return 'hard-linked';
    return 'refused';
  }
  try {
    // A read loop over two reused buffers (the next read runs while the current
    // chunk is hashed): memory stays at 2 MiB whatever the file's size, and the fd
    // stays ours (a ReadStream closes it when done, and the last fstat below must
    // see the very file that was read).
    const hash = createHash('sha512');
    const bufs = [Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK)] as const;
    let which = 0;
    let bytes = 0;
    let recheckAt = RECHECK_BYTES;
    let pending: Promise<{ bytesRead: number }> | undefined = fh.read(bufs[0], 0, CHUNK, 0);
    try {
      for (;;) {
        const { bytesRead } = await pending!;
        pending = undefined;
        if (bytesRead === 0) break;
        const chunk = bufs[which]!.subarray(0, bytesRead);
        bytes += bytesRead;
        which ^= 1;
        pending = fh.read(bufs[which]!, 0, CHUNK, bytes);
        hash.update(chunk);
        if (signal.aborted) throw new AbortedError();
        if (bytes >= recheckAt) {
          // Give up early on a file still being written instead of reading all of it.
          recheckAt += RECHECK_BYTES;
          if (!sameVersion(before, await fh.stat())) return 'changed';
        }
      }
    } finally {
      await pending?.catch(() => undefined); // never close the fd under a read in flight
    }
    if (bytes !== before.size || !sameVersion(before, await fh.stat())) return 'changed';
    return { sha512: hash.digest('hex'), sizeBytes: before.size, mtimeMs: before.mtimeMs };
  } finally {
    await fh.close();
  }
}

/** Size, mtime and ctime: a write, a truncate or a touch back to the old mtime all move one of them. */
function sameVersion(a: Stats, b: Stats): boolean {
  return a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs;
}

