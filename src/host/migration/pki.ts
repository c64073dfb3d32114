// The cluster's migration PKI, made with openssl (the one place ucloud runs
// it): one CA the operator keeps, and per host a server certificate naming
// the host and its underlay address (what a source checks) and a client
// certificate (what a destination demands), in the file names QEMU's
// tls-creds-x509 reads. `ucloud host certs` is its command line.

import { chmod, copyFile, mkdir, mkdtemp, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { UcloudError } from '../../common/errors.js';
import { run } from '../../common/exec.js';
import { TLS_FILES } from './tls.js';

/** The CA's private key beside its ca-cert.pem, in the CA directory only (never copied to a host). */
export const CA_KEY = 'ca-key.pem';

export interface HostCertsOptions {
  /** Where the cluster CA is (ca-cert.pem, ca-key.pem); made there if absent. */
  caDir: string;
  /** The host's name (a DNS SAN and the subject CN). */
  host: string;
  /** Its underlay IPv6 address (an IP SAN): what the source's tls-hostname names. */
  address: string;
  /** Where the host's five files go (its migration_tls_dir, or a directory to copy there). */
  outDir: string;
  /** Validity of the host certificates (and of a CA made now, ten times as long). */
  days?: number;
  /** Replace host files already in `outDir` (default: refuse with HOST_CERTS_EXIST). */
  force?: boolean;
}

export interface HostCertsResult {
  caCreated: boolean;
  files: string[];
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

async function openssl(args: string[]): Promise<void> {
  await run('openssl', args, { timeoutMs: 60_000 });
}

/** Makes the cluster CA in `caDir` unless it is there; true if made now. */
export async function ensureCa(caDir: string, days: number): Promise<boolean> {
  const cert = join(caDir, TLS_FILES.ca);
  const key = join(caDir, CA_KEY);
  if (await exists(cert)) {
    if (!(await exists(key))) throw new UcloudError('VALIDATION_FAILED', `${caDir} holds ${TLS_FILES.ca} but not ${CA_KEY}: pass the directory of the CA that signs host certificates`);
    return false;
  }
  await mkdir(caDir, { recursive: true, mode: 0o700 });
  await openssl(['req', '-x509', ...EC_KEY, '-keyout', key, '-out', cert, '-days', String(days), '-subj', '/O=ucloud/CN=ucloud migration CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  await chmod(key, 0o600);
  await chmod(cert, 0o644);
  return true;
}

/** A key and a certificate signed by the CA in `caDir`, with the extensions QEMU's checks want. */
async function issue(caDir: string, subject: string, ext: string[], keyOut: string, certOut: string, days: number, work: string): Promise<void> {
  const csr = join(work, 'req.csr');
  const extFile = join(work, 'ext.cnf');
  await writeFile(extFile, `${ext.join('\n')}\n`);
  await openssl(['req', '-new', ...EC_KEY, '-keyout', keyOut, '-out', csr, '-subj', subject]);
  await chmod(keyOut, 0o600);
  await openssl(['x509', '-req', '-in', csr, '-CA', join(caDir, TLS_FILES.ca), '-CAkey', join(caDir, CA_KEY), '-set_serial', `0x${randomBytes(16).toString('hex')}`, '-days', String(days), '-extfile', extFile, '-out', certOut]);
  await chmod(certOut, 0o644);
}

/**
 * Makes the cluster CA if needed and host `host`'s server and client
 * certificates, written with ca-cert.pem into `outDir` (keys mode 0600).
 */
export async function makeHostCerts(o: HostCertsOptions): Promise<HostCertsResult> {
  if (isIP(o.address) !== 6) throw new UcloudError('VALIDATION_FAILED', `--address must be the host's IPv6 address, got "${o.address}"`);
  if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i.test(o.host)) throw new UcloudError('INVALID_NAME', `--host must be a host name, got "${o.host}"`);
  const days = o.days ?? 825;
  if (!Number.isInteger(days) || days < 1) throw new UcloudError('VALIDATION_FAILED', `--days must be a whole number of days, got ${days}`);
  // The CA key must never sit beside a host's keys (that directory is copied to the host).
  const real = (p: string) => realpath(p).catch(() => resolve(p));
  if ((await real(o.outDir)) === (await real(o.caDir))) {
    throw new UcloudError('VALIDATION_FAILED', `--out ${o.outDir} is the CA directory: the host's files (copied to the host) must not share a directory with ${CA_KEY}; leave --out out (<ca-dir>/<host>) or name another directory`);
  }
  const present: string[] = [];
  for (const f of Object.values(TLS_FILES)) if (await exists(join(o.outDir, f))) present.push(f);
  if (present.length && !o.force) throw new UcloudError('HOST_CERTS_EXIST', `${o.outDir} already holds ${present.join(', ')}`, { details: { dir: o.outDir, present } });
  const caCreated = await ensureCa(o.caDir, days * 10);
  // Built beside outDir and renamed in: a failure half-way leaves the old files whole.
  const outDir = resolve(o.outDir);
  await mkdir(dirname(outDir), { recursive: true, mode: 0o700 });
  const staged = await mkdtemp(join(dirname(outDir), `.${basename(outDir)}.ucloud-certs-`));
  const work = await mkdtemp(join(tmpdir(), 'ucloud-certs-'));
  try {
    const san = `subjectAltName=DNS:${o.host},IP:${o.address}`;
    const leaf = ['basicConstraints=critical,CA:FALSE', 'keyUsage=digitalSignature,keyEncipherment'];
    await issue(o.caDir, `/O=ucloud/CN=${o.host}`, [...leaf, 'extendedKeyUsage=serverAuth', san], join(staged, TLS_FILES.serverKey), join(staged, TLS_FILES.serverCert), days, work);
    await issue(o.caDir, `/O=ucloud/CN=${o.host}`, [...leaf, 'extendedKeyUsage=clientAuth', san], join(staged, TLS_FILES.clientKey), join(staged, TLS_FILES.clientCert), days, work);
    await copyFile(join(o.caDir, TLS_FILES.ca), join(staged, TLS_FILES.ca));
    await chmod(join(staged, TLS_FILES.ca), 0o644);
    if (await exists(outDir)) for (const f of Object.values(TLS_FILES)) await rename(join(staged, f), join(outDir, f));
    else await rename(staged, outDir); // mkdtemp's 0700 comes along
  } finally {
    await rm(work, { recursive: true, force: true });
    await rm(staged, { recursive: true, force: true });
  }
  return { caCreated, files: Object.values(TLS_FILES).map((f) => join(o.outDir, f)) };
}
