import { lstat, realpath, statfs } from 'node:fs/promises';
import { basename, dirname, join, posix, resolve } from 'node:path';
import { UcloudError } from '../common/errors.js';

// What keeps a storage driver inside its store. Store settings come from an
// admin's API request and refs from etcd records: neither may make ucloud (as
// root) create, read or delete anything outside the store's own directory.

/** Kernel pseudo-filesystems: no store there (a recursive mkdir under /proc never ends, /dev holds the host's disks). */
const FORBIDDEN_ROOTS = ['/proc', '/sys', '/dev'];

/** statfs magic numbers of the pseudo-filesystems, wherever they are mounted (e.g. a bind mount of /proc). */
const PSEUDO_FS: Record<number, string> = {
  0x9fa0: 'proc',
  0x62656572: 'sysfs',
  0x1cd1: 'devpts',
  0x27e0eb: 'cgroup',
  0x63677270: 'cgroup2',
  0x64626720: 'debugfs',
  0x74726163: 'tracefs',
  0x73636673: 'securityfs',
  0xcafe4a11: 'bpf',
  0x62656570: 'configfs',
  0x6165676c: 'pstore',
  0xde5e81e4: 'efivarfs',
};

export const PATH_MAX_BYTES = 4096;
export const NAME_MAX_BYTES = 255;

// eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
const CONTROL = /[\0-\x1f\x7f]/;

function bad(key: string, message: string, value: unknown): UcloudError {
  const shown = typeof value === 'string' && value.length > 80 ? `${JSON.stringify(value.slice(0, 80))}…` : JSON.stringify(value);
  return new UcloudError('INVALID_STORE_SETTINGS', `${key} ${message}, got ${shown}`, { details: { setting: key } });
}

function under(path: string, root: string): boolean {
  return path === root || path.startsWith(`${root}/`);
}

/**
 * Checks a directory setting without touching the filesystem: a string, absolute,
 * at most 4096 bytes, each component at most 255 and none "." or "..", no control
 * characters, not "/" and not under /proc, /sys or /dev. Returns it normalised.
 */
export function checkStorePath(key: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') throw bad(key, 'must be an absolute directory path', value);
  if (CONTROL.test(value)) throw bad(key, 'must not hold control characters (or NUL)', value);
  if (!value.startsWith('/')) throw bad(key, 'must be an absolute path', value);
  if (Buffer.byteLength(value) > PATH_MAX_BYTES) throw bad(key, `must be at most ${PATH_MAX_BYTES} bytes`, value);
  const parts = value.split('/').filter(Boolean);
  if (parts.some((p) => p === '.' || p === '..')) throw bad(key, 'must not contain "." or ".." components', value);
  if (parts.some((p) => Buffer.byteLength(p) > NAME_MAX_BYTES)) throw bad(key, `must not have a component longer than ${NAME_MAX_BYTES} bytes`, value);
  const path = posix.normalize(value).replace(/\/$/, '') || '/';
  if (path === '/') throw bad(key, 'must be a directory of its own, not /', value);
  const root = FORBIDDEN_ROOTS.find((r) => under(path, r));
  if (root) throw bad(key, `must not be under ${root}`, value);
  return path;
}

/**
 * The second half, which reads (never writes) the filesystem: the deepest part of
 * `path` that exists, with its symlinks resolved, must not lead under /proc, /sys
 * or /dev, nor sit on a kernel pseudo-filesystem mounted elsewhere.
 */
export async function checkStorePathTarget(key: string, path: string): Promise<void> {
  let existing = path;
  let rest = '';
  for (;;) {
    try {
      await lstat(existing);
      break;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOTDIR') throw bad(key, `has a part that is not a directory (${existing})`, path);
      if (code !== 'ENOENT') return; // unreadable: check() reports it with its fix
      rest = rest ? join(basename(existing), rest) : basename(existing);
      existing = dirname(existing);
    }
  }
  const real = join(await realpath(existing), rest);
  const root = FORBIDDEN_ROOTS.find((r) => under(real, r));
  if (root) throw bad(key, `leads under ${root} (through ${real})`, path);
  const fs = PSEUDO_FS[(await statfs(await realpath(existing))).type];
  if (fs) throw bad(key, `is on the kernel's ${fs} filesystem`, path);
}

/**
 * The path of volume `ref` in `dir`. A ref comes from a record, so it is checked
 * to be one plain name inside `dir`: letters, digits, "_", "-", "." (not "." or
 * ".."), at most 255 bytes — no "/", NUL or control characters.
 */
export function volumePath(dir: string, ref: unknown): string {
  if (typeof ref !== 'string' || !/^[A-Za-z0-9_.][A-Za-z0-9_.-]*$/.test(ref) || ref === '.' || ref === '..' || Buffer.byteLength(ref) > NAME_MAX_BYTES) {
    const shown = typeof ref === 'string' ? ref.slice(0, 300) : ref;
    throw new UcloudError('INVALID_STORAGE_REF', `not a volume name in this store: ${JSON.stringify(shown)}`, { details: { ref: shown } });
  }
  const path = resolve(dir, ref);
  // Belt and braces: whatever the name rules say, the result is directly inside dir.
  if (dirname(path) !== resolve(dir)) throw new UcloudError('INVALID_STORAGE_REF', `volume ${JSON.stringify(ref)} is not inside ${dir}`, { details: { ref } });
  return path;
}
