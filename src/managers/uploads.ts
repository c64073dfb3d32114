import { createHash, randomBytes } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { link, lstat, open, realpath, rename, statfs, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { UcloudError } from '../common/errors.js';
import { formatSize } from '../common/units.js';
import type { UploadedFile } from '../model/index.js';
import { checkUploadName, ensureUserFolder, folderUsage, sweepParts } from './user-folder.js';

// Uploads write a user's file through the API into <files_path>/<user>/<name>.
// The bytes go straight from the request to a hidden part file, hashed on the
// way, so the API never holds more than one chunk of a file. The part file is
// created O_EXCL|O_NOFOLLOW with a random name, so nothing a user placed in the
// folder (a symlink, a hard link, a file of that name) is ever opened or
// written through; it becomes <name> only once complete, verified and fsync'd.
//
// The user may own their folder and change it under us at any moment. So every
// unlink, link and rename names <folder we built>/<random part name> or
// <folder>/<validated name>: one entry of that folder, never a path the kernel
// resolved for us (readlink of /proc/self/fd would hand root a path the user
// chose). Whether the entry is still ours is asked with fstat vs lstat.

export interface UploadOptions {
  filesPath: string;
  maxBytes: number;
  /** 0: no quota. */
  quotaBytes: number;
  /** No chunk for this long: UPLOAD_INCOMPLETE (the route cuts the connection). Also the age at which a stray part file is swept. */
  idleMs?: number;
  /** Uploads at once per user, and in all (TOO_MANY_UPLOADS beyond). */
  perUser?: number;
  total?: number;
  /** Free space kept on the filesystem beyond an announced length; default min(1 GiB, 5% of it). */
  reserveBytes?: number;
  log?: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
}

export interface UploadRequest {
  owner: string;
  name: string;
  /** This user's files quota in bytes (an admin's override, else files_quota); 0: none. Left out: the API's quotaBytes. */
  quotaBytes?: number;
  /** Replace a file of that name; without it an existing name is FILE_EXISTS. */
  replace: boolean;
  /** The Content-Length, when the client sent one. */
  length?: number;
  /** The sha512 (hex) the client says it sent; the upload fails unless it matches. */
  sha512?: string;
  body: AsyncIterable<Buffer>;
}

interface UserUploads {
  /** Part file name → bytes it holds against the quota: max(announced length, written so far). */
  parts: Map<string, number>;
  /** Net bytes uploads of this user placed since the API started; an upload counts the growth since its own folder walk. */
  placed: number;
}

const O_PART = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
const errCode = (err: unknown) => (err as NodeJS.ErrnoException | undefined)?.code;
const sameFile = (a: Stats, b: Stats | undefined) => b !== undefined && a.dev === b.dev && a.ino === b.ino;

export class FileUploads {
  private readonly users = new Map<string, UserUploads>();
  private running = 0;
  private readonly idleMs: number;
  private readonly perUser: number;
  private readonly total: number;

  constructor(private readonly opts: UploadOptions) {
    this.idleMs = opts.idleMs ?? 60_000;
    this.perUser = opts.perUser ?? 4;
    this.total = opts.total ?? 32;
  }

  get maxBytes(): number {
    return this.opts.maxBytes;
  }

  async upload(req: UploadRequest): Promise<UploadedFile> {
    const { owner, name } = req;
    checkUploadName(name);
    if (req.length !== undefined && req.length > this.opts.maxBytes) throw tooLarge(req.length, this.opts.maxBytes);

    // Reserved before any await, so uploads starting together each see the others.
    const mine = this.users.get(owner) ?? { parts: new Map<string, number>(), placed: 0 };
    if (mine.parts.size >= this.perUser) throw tooMany(`you have ${mine.parts.size} uploads running`, this.perUser);
    if (this.running >= this.total) throw tooMany(`the API has ${this.running} uploads running`, this.total);
    this.users.set(owner, mine);
    const part = `.ucloud-upload-${randomBytes(12).toString('hex')}.part`;
    mine.parts.set(part, req.length ?? 0);
    this.running++;

    let dir: string | undefined;
    let fh: FileHandle | undefined;
    /** Whether <dir>/<part> is the file we created, so ours to remove. */
    let ours = false;
    let placed = false;
    try {
      dir = await ensureUserFolder(this.opts.filesPath, owner, { createBase: false });
      const removed = await sweepParts(dir, this.idleMs, new Set(mine.parts.keys())).catch(() => []);
      if (removed.length) this.opts.log?.warn({ user: owner, parts: removed }, 'removed part files of uploads that ended with an API');
      const target = join(dir, name);

      const existing = await lstat(target).catch((err: unknown) => {
        if (errCode(err) === 'ENOENT') return undefined;
        throw err;
      });
      if (existing && (!req.replace || existing.isDirectory())) {
        throw new UcloudError('FILE_EXISTS', `you already have ${existing.isDirectory() ? 'a folder' : 'a file'} ${JSON.stringify(name)}`, existing.isDirectory() ? { hint: 'pick another name (--name)' } : {});
      }
      await this.checkFreeSpace(dir, req.length ?? 0);

      // The quota: the folder as walked now, plus what this user's uploads placed since, plus every upload of theirs in flight, checked at every chunk.
      let overQuota = (_written: number): UcloudError | undefined => undefined;
      const quota = req.quotaBytes ?? this.opts.quotaBytes;
      if (quota > 0) {
        const placedBefore = mine.placed;
        const replaced = existing?.isFile() ? existing.size : 0;
        const base = (await folderUsage(dir, new Set(mine.parts.keys()))) - replaced;
        overQuota = (written) => {
          let inFlight = 0;
          for (const n of mine.parts.values()) inFlight += n;
          const others = inFlight - (mine.parts.get(part) ?? 0);
          const used = base + (mine.placed - placedBefore) + others;
          const wanted = Math.max(written, req.length ?? 0);
          return used + wanted > quota ? quotaExceeded(wanted, used, quota) : undefined;
        };
        const refused = overQuota(0);
        if (refused) throw refused;
      }

      const partPath = join(dir, part);
      fh = await open(partPath, O_PART, 0o600).catch((err: unknown) => {
        throw storageError(err) ?? err;
      });
      // Opened O_NOFOLLOW|O_EXCL, so it is a new file; whether it sits at <dir>/<part> is asked of the entry, never of a resolved path.
      const created = await fh.stat();
      if (!sameFile(created, await lstat(partPath).catch(() => undefined))) throw folderChanged(owner);
      ours = true;

      const hash = createHash('sha512');
      let written = 0;
      for await (const chunk of idleLimited(req.body, this.idleMs)) {
        written += chunk.length;
        if (written > this.opts.maxBytes) throw tooLarge(written, this.opts.maxBytes);
        if (req.length === undefined || written > req.length) mine.parts.set(part, written);
        const refused = overQuota(written);
        if (refused) throw refused;
        hash.update(chunk);
        try {
          let off = 0;
          while (off < chunk.length) off += (await fh.write(chunk, off, chunk.length - off)).bytesWritten;
        } catch (err) {
          throw storageError(err) ?? err;
        }
      }
      if (req.length !== undefined && written !== req.length) {
        throw new UcloudError('UPLOAD_INCOMPLETE', `${written} bytes arrived of the ${req.length} announced`, { details: { received: written, announced: req.length } });
      }
      const sha512 = hash.digest('hex');
      if (req.sha512 !== undefined && req.sha512 !== sha512) {
        throw new UcloudError('CHECKSUM_MISMATCH', `the ${written} bytes that arrived have sha512 ${sha512.slice(0, 16)}…, not the ${req.sha512.slice(0, 16)}… announced`, {
          details: { received: sha512, announced: req.sha512 },
        });
      }
      await fh.sync().catch((err: unknown) => {
        throw storageError(err) ?? err;
      });
      // The user may have moved our part away and put something else there: only our own file is placed.
      if (!sameFile(created, await lstat(partPath).catch(() => undefined))) {
        ours = false;
        throw folderChanged(owner);
      }

      // Into place under its name: rename replaces atomically; link refuses a name that appeared meanwhile.
      try {
        if (req.replace) await rename(partPath, target);
        else {
          await link(partPath, target);
          await this.unlinkPartAfterLink(dir, part, target, owner);
        }
      } catch (err) {
        if (err instanceof UcloudError) throw err;
        const code = errCode(err);
        if (code === 'EEXIST' || code === 'EISDIR' || code === 'ENOTEMPTY' || code === 'ENOTDIR') {
          throw new UcloudError('FILE_EXISTS', `you already have ${code === 'EEXIST' ? 'a file' : 'a folder'} ${JSON.stringify(name)} (it appeared during the upload)`);
        }
        throw storageError(err) ?? err;
      }
      placed = true;
      mine.placed += written - (existing?.isFile() ? existing.size : 0);
      await syncDir(dir);
      return { name, sizeBytes: written, sha512 };
    } finally {
      mine.parts.delete(part);
      this.running--;
      if (mine.parts.size === 0 && this.users.get(owner) === mine) this.users.delete(owner);
      await fh?.close().catch(() => undefined);
      if (!placed && ours && dir !== undefined) {
        await unlink(join(dir, part)).catch((err: unknown) => {
          if (errCode(err) !== 'ENOENT') this.opts.log?.error({ err, user: owner, part }, 'cannot remove the part file of a failed upload; the sweep retries');
        });
      }
    }
  }

  /**
   * Deletes one file of the user's folder: the entry <folder>/<name> itself
   * (unlink never follows a symlink, and a name is one component). The
   * filescanner then drops its record. An image already imported from it is a
   * copy and stays; an import still pending fails with FILE_NOT_FOUND.
   */
  async delete(owner: string, name: string): Promise<void> {
    checkUploadName(name);
    const base = await realpath(this.opts.filesPath).catch(() => {
      throw new UcloudError('FILES_PATH_MISSING', `files_path ${this.opts.filesPath} does not exist on the API's machine`);
    });
    const dir = join(base, owner);
    const notFound = () => new UcloudError('FILE_NOT_FOUND', `you have no file ${JSON.stringify(name)}`);
    const folder = await lstat(dir).catch(() => undefined);
    if (!folder) throw notFound();
    if (!folder.isDirectory()) throw new UcloudError('USER_FOLDER_REFUSED', `the files folder of ${owner} is ${folder.isSymbolicLink() ? 'a symlink' : 'not a folder'}; nothing is deleted through it`);
    const st = await lstat(join(dir, name)).catch(() => undefined);
    if (!st) throw notFound();
    if (st.isDirectory()) throw new UcloudError('FILE_REFUSED', `${JSON.stringify(name)} is a folder; ucloud deletes only files`);
    await unlink(join(dir, name)).catch((err: unknown) => {
      if (errCode(err) === 'ENOENT') throw notFound();
      throw storageError(err) ?? err;
    });
  }

  private async checkFreeSpace(dir: string, length: number): Promise<void> {
    const fs = await statfs(dir);
    const free = fs.bavail * fs.bsize;
    const reserve = this.opts.reserveBytes ?? Math.min(1 << 30, Math.floor(fs.blocks * fs.bsize * 0.05));
    if (length + reserve > free) {
      throw new UcloudError('STORAGE_FULL', `${formatSize(length)} would not fit: the disk under files_path has ${formatSize(free)} free, of which ${formatSize(reserve)} are kept in reserve`, {
        details: { freeBytes: free, reserveBytes: reserve },
      });
    }
  }

  /** A second link left on the placed file would make the filescanner refuse it forever: retried, else the placing is undone. */
  private async unlinkPartAfterLink(dir: string, part: string, target: string, owner: string): Promise<void> {
    let last: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await unlink(join(dir, part));
        return;
      } catch (err) {
        if (errCode(err) === 'ENOENT') return;
        last = err;
      }
    }
    this.opts.log?.error({ err: last, user: owner, part }, 'cannot remove the part file after placing the upload; undoing the upload');
    await unlink(target).catch((err: unknown) => this.opts.log?.error({ err, user: owner, target }, 'cannot undo the upload either: the file has two links until the part is swept'));
    throw storageError(last) ?? new UcloudError('STORAGE_FAILED', `the upload could not be put in place: ${(last as Error).message}`);
  }
}

/** The body's chunks; UPLOAD_INCOMPLETE (details.idleMs) when none comes for `idleMs`. */
async function* idleLimited(body: AsyncIterable<Buffer>, idleMs: number): AsyncGenerator<Buffer> {
  const it = body[Symbol.asyncIterator]();
  try {
    yield* idleLimitedFrom(it, idleMs);
  } finally {
    // Released whatever way the upload ended, so the route can still read and drop the rest of a refused body.
    void Promise.resolve(it.return?.()).catch(() => undefined);
  }
}

async function* idleLimitedFrom(it: AsyncIterator<Buffer>, idleMs: number): AsyncGenerator<Buffer> {
  for (;;) {
    const next = it.next();
    // If the timer wins, the pending read fails later when the route cuts the connection: nobody waits for it.
    next.catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    const idle = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new UcloudError('UPLOAD_INCOMPLETE', `nothing arrived for ${Math.round(idleMs / 1000)}s; the upload is cut off`, { details: { idleMs } })),
        idleMs,
      );
    });
    try {
      const r = await Promise.race([next, idle]);
      if (r.done) return;
      yield r.value;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** A full, over-quota or read-only filesystem is STORAGE_FULL, whatever step met it. */
function storageError(err: unknown): UcloudError | undefined {
  const code = errCode(err);
  if (code !== 'ENOSPC' && code !== 'EDQUOT' && code !== 'EROFS') return undefined;
  const why = code === 'EROFS' ? 'is read-only' : code === 'EDQUOT' ? 'is over its disk quota' : 'is full';
  return new UcloudError('STORAGE_FULL', `the disk under files_path ${why} (${code}); nothing of the upload was kept`, { details: { errno: code }, cause: err });
}

function folderChanged(owner: string): UcloudError {
  return new UcloudError('USER_FOLDER_REFUSED', `the files folder of ${owner} changed while the upload ran; nothing is placed or removed through it`);
}

function tooMany(why: string, max: number): UcloudError {
  return new UcloudError('TOO_MANY_UPLOADS', `${why}; at most ${max} at once`, { details: { max } });
}

function tooLarge(bytes: number, max: number): UcloudError {
  return new UcloudError('FILE_TOO_LARGE', `the file is ${formatSize(bytes)} or more; uploads are at most ${formatSize(max)}`, { details: { maxBytes: max } });
}

function quotaExceeded(bytes: number, used: number, quota: number): UcloudError {
  return new UcloudError('QUOTA_EXCEEDED', `${formatSize(bytes)} more would not fit: your folder holds ${formatSize(used)} of your ${formatSize(quota)} quota`, {
    details: { usedBytes: used, quotaBytes: quota },
  });
}

/** The rename is durable only once the folder itself is on disk. */
async function syncDir(dir: string): Promise<void> {
  const d = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}
