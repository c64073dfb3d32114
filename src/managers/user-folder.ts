import type { Dirent } from 'node:fs';
import { lstat, mkdir, readdir, realpath, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { UcloudError } from '../common/errors.js';

// Each user's folder <files_path>/<user>: the filescanner records what is in
// it, uploads write into it. User names are schema-checked names (no "/", no
// ".."), so join() cannot leave the base; the folder itself may be writable by
// its user on a shared host, so nothing here trusts what is inside it.

/** Names the filescanner never records: dotfiles and uploads in progress. */
export function isIgnoredName(name: string): boolean {
  const lower = name.toLowerCase();
  return name.startsWith('.') || lower.endsWith('.part') || lower.endsWith('.tmp');
}

/** The longest name one directory entry may have (Linux NAME_MAX, in bytes). */
const NAME_MAX = 255;

/**
 * An upload's name: one path component the filescanner will record under the
 * same name. Throws INVALID_FILE_NAME.
 */
export function checkUploadName(name: string): void {
  const why =
    name.length === 0
      ? 'is empty'
      : name.includes('/')
        ? 'contains "/" (uploads go straight into your folder)'
        : /[\p{Cc}\p{Cf}]/u.test(name)
          ? 'contains a NUL, control or invisible format character (such as U+202E, which reverses how the name reads)'
          : Buffer.byteLength(name) > NAME_MAX
            ? `is longer than ${NAME_MAX} bytes`
            : isIgnoredName(name)
              ? 'starts with "." or ends in .part or .tmp, which `ucloud file list` never shows'
              : Buffer.from(name).toString() !== name
                ? 'is not valid Unicode (a lone surrogate)'
                : undefined;
  if (why) throw new UcloudError('INVALID_FILE_NAME', `file name ${JSON.stringify(name)} ${why}`);
}

/**
 * The real path of `user`'s folder, made (mode 0700, owned by whoever runs
 * ucloud) when missing. USER_FOLDER_REFUSED when it is a symlink or not a
 * folder: ucloud never writes through one. `basePath` itself is made only
 * with `createBase` (`ucloud up`); an upload gets FILES_PATH_MISSING instead,
 * since a mount that is not there would otherwise fill the root filesystem.
 */
export async function ensureUserFolder(basePath: string, user: string, opts: { createBase?: boolean } = { createBase: true }): Promise<string> {
  if (opts.createBase) await mkdir(basePath, { recursive: true });
  const base = await realpath(basePath).catch((err: unknown) => {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new UcloudError('FILES_PATH_MISSING', `files_path ${basePath} does not exist on the API's machine; nothing is written`);
    throw err;
  });
  if (!(await lstat(base)).isDirectory()) throw new UcloudError('FILES_PATH_MISSING', `files_path ${basePath} is not a folder; nothing is written`);
  const dir = join(base, user);
  try {
    // Not recursive: mkdir never follows a symlink in the last component (EEXIST).
    await mkdir(dir, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const st = await lstat(dir);
  if (!st.isDirectory()) {
    throw new UcloudError('USER_FOLDER_REFUSED', `the files folder of ${user} is ${st.isSymbolicLink() ? 'a symlink' : 'not a folder'}; nothing is written through it`);
  }
  return dir;
}

/** A walk of a user's folder stops here (FOLDER_TOO_LARGE): it runs once per upload, in the API. */
export const USAGE_MAX_ENTRIES = 100_000;
export const USAGE_MAX_DEPTH = 32;

/**
 * Bytes of the regular files under `dir` (sizes as lstat says; symlinks and
 * sub-folders' own entries count nothing), and the size of `exclude` entries
 * of `dir` itself, which the caller accounts for otherwise. FOLDER_TOO_LARGE
 * beyond `limits` entries or depth, so one user's tree cannot keep the API busy.
 */
export async function folderUsage(dir: string, exclude: ReadonlySet<string> = new Set(), limits = { entries: USAGE_MAX_ENTRIES, depth: USAGE_MAX_DEPTH }): Promise<number> {
  let total = 0;
  let seen = 0;
  const stack: [string, number][] = [[dir, 0]];
  while (stack.length > 0) {
    const [d, depth] = stack.pop()!;
    let entries: Dirent[];
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch {
      continue; // gone or unreadable meanwhile
    }
    seen += entries.length;
    if (seen > limits.entries) throw new UcloudError('FOLDER_TOO_LARGE', `your folder holds more than ${limits.entries} entries; ucloud does not count them for every upload`);
    for (const e of entries) {
      const p = join(d, e.name);
      if (d === dir && exclude.has(e.name)) continue;
      if (e.isDirectory()) {
        if (depth + 1 > limits.depth) throw new UcloudError('FOLDER_TOO_LARGE', `your folder is nested more than ${limits.depth} folders deep; ucloud does not count it for every upload`);
        stack.push([p, depth + 1]);
      }
      else if (e.isFile()) total += await lstat(p).then((s) => s.size, () => 0);
    }
  }
  return total;
}

/** Exactly the part files uploads create: nothing a user names (they cannot start with ".") matches. */
export const PART_NAME = /^\.ucloud-upload-[0-9a-f]{24}\.part$/;

/**
 * Removes part files an API left behind when it was killed mid-upload: only
 * names matching PART_NAME directly in `dir`, only regular files owned by us
 * (a second link, left when an API died between link and unlink, only goes
 * with it: unlink removes this name, never the file's other one), only when unchanged for `olderThanMs` (a live upload
 * writes more often than its idle timeout) and not in `live`. Unlinks by the
 * folder path and the listed name, never through anything resolved. Returns
 * the names removed.
 */
export async function sweepParts(dir: string, olderThanMs: number, live: ReadonlySet<string> = new Set(), now = Date.now()): Promise<string[]> {
  const removed: string[] = [];
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return removed;
  }
  const uid = process.getuid?.();
  for (const e of entries) {
    if (!PART_NAME.test(e.name) || live.has(e.name) || !e.isFile()) continue;
    const st = await lstat(join(dir, e.name)).catch(() => undefined);
    if (!st?.isFile() || (uid !== undefined && st.uid !== uid) || now - st.mtimeMs < olderThanMs) continue;
    await unlink(join(dir, e.name)).then(
      () => removed.push(e.name),
      () => undefined,
    );
  }
  return removed;
}
