// TLS for live-migration streams (migration_tls): each QEMU of a migration
// gets a tls-creds-x509 object made from this host's certificates, the
// destination as the server that demands a client certificate the cluster CA
// signed (verify-peer), the source as the client that checks the
// destination's certificate names the address it connects to (tls-hostname).
// The same object secures the NBD export of a disk copy.
//
// QEMU reads the files when the object is made, over QMP, long after it has
// dropped to the VM's own uid (-runas), so it cannot read the root-only keys
// in migration_tls_dir: the files it needs are copied into a directory only
// that uid can read, for the moment of object-add, and removed right after
// (the keys then live in that QEMU's memory only, as they must to be used).
// That directory is made under <run_dir>/migration-tls (root's, 0711: others
// may pass through, not list) when every directory above it lets the VM's uid
// pass; otherwise under the system's temporary directory. The agent sweeps
// leftovers of a crash at start (sweepStagedTls).

import { constants } from 'node:fs';
import { access, chmod, chown, copyFile, lstat, mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { UcloudError } from '../../common/errors.js';
import { objectAdd, objectDel, type MigrationParameters, type QmpExecutor } from '../qemu/index.js';

/** QEMU's own file names in a tls-creds-x509 directory. */
export const TLS_FILES = {
  ca: 'ca-cert.pem',
  serverCert: 'server-cert.pem',
  serverKey: 'server-key.pem',
  clientCert: 'client-cert.pem',
  clientKey: 'client-key.pem',
} as const;

export type TlsEndpoint = 'server' | 'client';

const ENDPOINT_FILES: Record<TlsEndpoint, readonly string[]> = {
  server: [TLS_FILES.ca, TLS_FILES.serverCert, TLS_FILES.serverKey],
  client: [TLS_FILES.ca, TLS_FILES.clientCert, TLS_FILES.clientKey],
};

/** The id of the creds object in a migrating QEMU (one per QEMU: a source is only ever a client, a destination a server). */
export const TLS_CREDS_ID = 'ucloud-migration-tls';

/** Migration TLS as configured on this host; undefined where migration_tls is off. */
export interface MigrationTls {
  /** migration_tls_dir */
  dir: string;
  /** Where QEMU's copies are staged (`<run_dir>/migration-tls`); absent or not passable: the system's temporary directory. */
  stageDir?: string;
}

const STAGE_PREFIX = 'ucloud-migration-tls-';

/** True when a process of any uid may pass through `dir` and every directory above it. */
async function passable(dir: string): Promise<boolean> {
  for (let d = resolve(dir); ; d = dirname(d)) {
    const st = await stat(d).catch(() => undefined);
    if (!st || !(st.mode & 0o001)) return false;
    if (d === dirname(d)) return true;
  }
}

/** The parent of staged copies: stageDir (made root's, 0711) when passable, else tmpdir(). */
async function stagingParent(tls: MigrationTls): Promise<string> {
  if (!tls.stageDir) return tmpdir();
  if (!(await passable(dirname(tls.stageDir)))) return tmpdir();
  await mkdir(tls.stageDir, { recursive: true, mode: 0o711 });
  await chmod(tls.stageDir, 0o711);
  return tls.stageDir;
}

/**
 * Removes staged copies a crashed agent left: every one in `stageDir`, and
 * those in the temporary directory older than `tmpAgeMs` (another agent on
 * the machine may be staging there right now). Returns how many went.
 */
export async function sweepStagedTls(stageDir: string | undefined, tmpAgeMs = 10 * 60_000): Promise<number> {
  let removed = 0;
  for (const [parent, minAge] of [...(stageDir ? [[stageDir, 0] as const] : []), [tmpdir(), tmpAgeMs] as const]) {
    const names = await readdir(parent).catch(() => [] as string[]);
    for (const name of names.filter((n) => n.startsWith(STAGE_PREFIX))) {
      const st = await lstat(join(parent, name)).catch(() => undefined);
      if (!st || Date.now() - st.mtimeMs < minAge) continue;
      await rm(join(parent, name), { recursive: true, force: true });
      removed++;
    }
  }
  return removed;
}

/**
 * Fails with MIGRATION_TLS_FILES_MISSING unless all five files are in `dir`
 * and readable: checked when the agent starts, so a host with TLS on but no
 * certificates never takes part in a migration that would fail half-way.
 */
export async function checkTlsDir(dir: string): Promise<void> {
  const missing: string[] = [];
  for (const f of Object.values(TLS_FILES)) {
    try {
      await access(join(dir, f), constants.R_OK);
    } catch {
      missing.push(f);
    }
  }
  if (missing.length) {
    throw new UcloudError('MIGRATION_TLS_FILES_MISSING', `migration_tls is on but ${dir} lacks (or cannot read) ${missing.join(', ')}`, { details: { dir, missing } });
  }
}

/** The real and effective uid of process `pid` (its QEMU after -runas). */
async function uidOf(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const m = /^Uid:\s+\d+\s+(\d+)/m.exec(status);
  if (!m) throw new UcloudError('MIGRATION_TLS_FAILED', `cannot tell which uid QEMU ${pid} runs as`);
  return Number(m[1]);
}

/**
 * Makes the creds object in the QEMU with pid `pid` (replacing one an earlier
 * attempt left, so renewed certificates count) and returns its id.
 */
export async function addTlsCreds(qmp: QmpExecutor, tls: MigrationTls, endpoint: TlsEndpoint, pid: number): Promise<string> {
  const uid = await uidOf(pid);
  let dir = tls.dir;
  let staged: string | undefined;
  try {
    if (uid !== 0) {
      staged = await mkdtemp(join(await stagingParent(tls), STAGE_PREFIX));
      for (const f of ENDPOINT_FILES[endpoint]) {
        const to = join(staged, f);
        await copyFile(join(tls.dir, f), to);
        await chown(to, uid, uid);
      }
      // mkdtemp made it 0700: now only that uid (and root) may enter it.
      await chown(staged, uid, uid);
      dir = staged;
    }
    await objectDel(qmp, TLS_CREDS_ID).catch(() => undefined);
    try {
      await objectAdd(qmp, 'tls-creds-x509', TLS_CREDS_ID, { endpoint, dir, 'verify-peer': true });
    } catch (err) {
      throw new UcloudError('MIGRATION_TLS_FAILED', `QEMU refused the migration certificates in ${tls.dir} (${endpoint}): ${err instanceof Error ? err.message : String(err)}`);
    }
    return TLS_CREDS_ID;
  } finally {
    if (staged) await rm(staged, { recursive: true, force: true });
  }
}

/**
 * The migrate parameters for TLS: on the source `hostname` is what the
 * destination's certificate must name (its underlay address); off, they
 * clear what an earlier migration of the same QEMU may have set.
 */
export function tlsParameters(credsId: string | undefined, hostname?: string): Pick<MigrationParameters, 'tls-creds' | 'tls-hostname'> {
  if (!credsId) return { 'tls-creds': '' };
  return { 'tls-creds': credsId, ...(hostname ? { 'tls-hostname': hostname } : {}) };
}

/** Options of a `blockdev-add` nbd client (the source's disk-copy target) that make it speak TLS. */
export function nbdClientTls(credsId: string | undefined, hostname: string): Record<string, unknown> {
  return credsId ? { 'tls-creds': credsId, 'tls-hostname': hostname } : {};
}

/** The error code of a migration QEMU says failed with `desc`: MIGRATION_TLS_FAILED for a TLS refusal. */
export function migrationErrorCode(desc: string | undefined): 'MIGRATION_TLS_FAILED' | 'MIGRATION_FAILED' {
  return desc && /\bTLS\b|certificate|handshake|gnutls/i.test(desc) ? 'MIGRATION_TLS_FAILED' : 'MIGRATION_FAILED';
}

/** Refuses a migration whose two ends disagree on TLS, before a byte of the guest is sent. */
export function checkTlsAgreement(here: MigrationTls | undefined, destinationTls: boolean | undefined, destination: string | undefined): void {
  if (Boolean(here) === Boolean(destinationTls)) return;
  throw new UcloudError(
    'MIGRATION_TLS_MISMATCH',
    here ? `migration_tls is on here but destination ${destination ?? '?'} listens without TLS` : `destination ${destination ?? '?'} listens with TLS but migration_tls is off here`,
  );
}
