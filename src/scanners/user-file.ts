import { constants, type Stats } from 'node:fs';
import { open, readlink, type FileHandle } from 'node:fs/promises';
import { UcloudError } from '../common/errors.js';

/**
 * The one way ucloud (root) opens a file in a user's folder, for the
 * filescanner and for imports alike: the user controls that folder, so every
 * step assumes the path may be swapped under us.
 *
 * - O_NOFOLLOW: a symlink swapped in fails (ELOOP); O_NONBLOCK: a FIFO swapped
 *   in cannot hang the open;
 * - fstat of what was opened: a regular file with exactly one link (a hard link
 *   would make another path's file, perhaps one the user cannot read, theirs);
 * - the kernel's own path of the descriptor (/proc/self/fd) must be `expected`,
 *   the real path of <folder>/<name>: a parent folder swapped for a symlink
 *   between a walk and the open is caught; without /proc, the inode the caller
 *   saw (`seen`) must match instead.
 *
 * Fails with FILE_NOT_FOUND (gone), FILE_REFUSED (symlink, not a regular file,
 * not that path) or FILE_HARD_LINKED; the caller closes the handle it gets.
 */
export async function openUserFile(expected: string, name: string, seen?: { dev: number; ino: number }): Promise<{ fh: FileHandle; stat: Stats }> {
  let fh: FileHandle;
  try {
    fh = await open(expected, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new UcloudError('FILE_NOT_FOUND', `file ${JSON.stringify(name)} is gone`);
    if (code === 'ELOOP' || code === 'ENXIO') throw new UcloudError('FILE_REFUSED', `file ${JSON.stringify(name)} is ${code === 'ELOOP' ? 'a symlink' : 'not a regular file'}`);
    throw err;
  }
  try {
    const stat = await fh.stat();
    if (!stat.isFile()) throw new UcloudError('FILE_REFUSED', `file ${JSON.stringify(name)} is not a regular file`);
    if (!(await isExpected(fh, stat, expected, seen))) throw new UcloudError('FILE_REFUSED', `file ${JSON.stringify(name)} is not a file in your folder`);
    if (stat.nlink > 1) {
      throw new UcloudError('FILE_HARD_LINKED', `file ${JSON.stringify(name)} has ${stat.nlink} hard links; only files with one are read`, { details: { links: stat.nlink } });
    }
    return { fh, stat };
  } catch (err) {
    await fh.close();
    throw err;
  }
}

async function isExpected(fh: FileHandle, st: Stats, expected: string, seen?: { dev: number; ino: number }): Promise<boolean> {
  try {
    return (await readlink(`/proc/self/fd/${fh.fd}`)) === expected;
  } catch {
    return seen !== undefined && st.dev === seen.dev && st.ino === seen.ino;
  }
}
