import { randomBytes } from 'node:crypto';
import { link, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { UcloudError } from './errors.js';

// A secret kept in a root-only file (one line, mode 600): the etcd password that
// `ucloud up` generates once and every daemon reads. `key` names the config key
// that points at the file, for the messages.

/** Only the owner may read it: whoever reads the password is etcd's root. */
async function checkMode(file: string, key: string): Promise<void> {
  const st = await stat(file);
  if (!st.isFile()) throw new UcloudError('INVALID_CONFIG', `${key} ${file} is not a regular file`);
  if (st.mode & 0o077) {
    throw new UcloudError('INVALID_CONFIG', `${key} ${file} may be read by others (mode ${(st.mode & 0o777).toString(8)})`, { hint: `chmod 600 ${file}` });
  }
}

/** Reads a secret file; ETCD_AUTH_REQUIRED when it cannot be read, INVALID_CONFIG when it is readable by others or not one line. */
export async function readSecretFile(file: string, key: string): Promise<string> {
  let text: string;
  try {
    await checkMode(file, key);
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (err instanceof UcloudError) throw err;
    throw new UcloudError('ETCD_AUTH_REQUIRED', `cannot read ${key} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const secret = text.replace(/\r?\n$/, '');
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
  if (!secret || /[\0-\x1f\x7f]/.test(secret)) throw new UcloudError('INVALID_CONFIG', `${key} ${file} must hold one line: the secret`);
  return secret;
}

/**
 * Reads the secret in `file`, or generates one into it the first time (mode 600,
 * in a directory created root-only). Two concurrent callers end up with the same one.
 */
export async function ensureSecretFile(file: string, key: string): Promise<string> {
  const exists = await stat(file).then(
    () => true,
    (e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return false;
      throw e;
    },
  );
  if (exists) return readSecretFile(file, key);
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `${randomBytes(32).toString('base64url')}\n`, { mode: 0o600 });
  try {
    // link() never replaces: if another caller won the race, its secret stays and ours is dropped.
    await link(tmp, file).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') throw e;
    });
  } finally {
    await rm(tmp, { force: true });
  }
  return readSecretFile(file, key);
}
