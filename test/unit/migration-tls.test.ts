import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UcloudError } from '../../src/common/errors.js';
import { makeHostCerts } from '../../src/host/migration/pki.js';
import { addTlsCreds, checkTlsAgreement, checkTlsDir, migrationErrorCode, nbdClientTls, sweepStagedTls, TLS_CREDS_ID, TLS_FILES, tlsParameters } from '../../src/host/migration/tls.js';
import type { QmpExecutor } from '../../src/host/qemu/index.js';

const codeOf = async (p: Promise<unknown> | (() => unknown)) => {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    return err instanceof UcloudError ? err.code : String(err);
  }
  return 'no error';
};

describe('migration TLS: PKI and the agent-side checks', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ucloud-mtls-unit-'));
  const ca = join(dir, 'ca');
  const hv2 = join(dir, 'hv2');

  beforeAll(async () => {
    await makeHostCerts({ caDir: ca, host: 'hv2', address: '2001:db8::2', outDir: hv2, days: 30 });
  }, 60_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('makes a CA once and host certificates it signs, naming the host and its address, keys mode 600', async () => {
    for (const f of Object.values(TLS_FILES)) expect(statSync(join(hv2, f)).isFile()).toBe(true);
    for (const f of [TLS_FILES.serverKey, TLS_FILES.clientKey]) expect(statSync(join(hv2, f)).mode & 0o777).toBe(0o600);
    expect(statSync(join(ca, 'ca-key.pem')).mode & 0o777).toBe(0o600);
    const verify = execFileSync('openssl', ['verify', '-CAfile', join(ca, 'ca-cert.pem'), join(hv2, TLS_FILES.serverCert), join(hv2, TLS_FILES.clientCert)]).toString();
    expect(verify).toMatch(/server-cert\.pem: OK[\s\S]*client-cert\.pem: OK/);
    const text = (f: string) => execFileSync('openssl', ['x509', '-in', join(hv2, f), '-noout', '-text']).toString();
    expect(text(TLS_FILES.serverCert)).toMatch(/DNS:hv2, IP Address:2001:DB8:0:0:0:0:0:2/i);
    expect(text(TLS_FILES.serverCert)).toContain('TLS Web Server Authentication');
    expect(text(TLS_FILES.clientCert)).toContain('TLS Web Client Authentication');
    // A second host: same CA, not a new one.
    const caBefore = statSync(join(ca, 'ca-cert.pem')).mtimeMs;
    const r = await makeHostCerts({ caDir: ca, host: 'hv3', address: '2001:db8::3', outDir: join(dir, 'hv3'), days: 30 });
    expect(r.caCreated).toBe(false);
    expect(statSync(join(ca, 'ca-cert.pem')).mtimeMs).toBe(caBefore);
  }, 60_000);

  it('refuses what is not a host name or an IPv6 address', async () => {
    expect(await codeOf(makeHostCerts({ caDir: ca, host: 'hv2', address: '192.0.2.1', outDir: join(dir, 'x') }))).toBe('VALIDATION_FAILED');
    expect(await codeOf(makeHostCerts({ caDir: ca, host: 'bad name', address: '2001:db8::9', outDir: join(dir, 'x') }))).toBe('INVALID_NAME');
  });

  it('keeps host files already in --out unless --force, builds beside it, and never writes into the CA directory', async () => {
    const out = join(dir, 'hv4');
    await makeHostCerts({ caDir: ca, host: 'hv4', address: '2001:db8::4', outDir: out, days: 30 });
    const key = () => readFileSync(join(out, TLS_FILES.serverKey), 'utf8');
    const before = key();
    expect(await codeOf(makeHostCerts({ caDir: ca, host: 'hv4', address: '2001:db8::4', outDir: out, days: 30 }))).toBe('HOST_CERTS_EXIST');
    expect(key()).toBe(before);
    await makeHostCerts({ caDir: ca, host: 'hv4', address: '2001:db8::4', outDir: out, days: 30, force: true });
    expect(key()).not.toBe(before);
    expect(statSync(join(out, TLS_FILES.serverKey)).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir).filter((n) => n.includes('ucloud-certs'))).toEqual([]); // no staging left beside it
    // --out = --ca-dir (however spelled): refused before anything is written.
    const caFiles = readdirSync(ca).sort();
    expect(await codeOf(makeHostCerts({ caDir: ca, host: 'hv5', address: '2001:db8::5', outDir: `${ca}/`, days: 30 }))).toBe('VALIDATION_FAILED');
    expect(await codeOf(makeHostCerts({ caDir: ca, host: 'hv5', address: '2001:db8::5', outDir: join(ca, '..', 'ca'), days: 30 }))).toBe('VALIDATION_FAILED');
    expect(readdirSync(ca).sort()).toEqual(caFiles);
  }, 60_000);

  it('stages QEMU\'s copies under the run directory for a non-root QEMU, and sweeps leftovers', async () => {
    const run = join(dir, 'run');
    mkdirSync(run, { mode: 0o755 });
    chmodSync(dir, 0o755); // passable down to <run_dir>, as /run/ucloud is
    const stageDir = join(run, 'migration-tls');
    // A "QEMU" that runs as the VM's uid (libuv sets it before exec, and spawn returns after exec).
    const qemu = spawn('sleep', ['60'], { stdio: 'ignore', uid: 65534, gid: 65534 });
    try {
      let seen: { dir: string; owner: number; files: string[] } | undefined;
      const qmp = {
        execute: <T>(cmd: string, args?: Record<string, unknown>) => {
          if (cmd === 'object-add') {
            const d = String(args?.dir);
            seen = { dir: d, owner: statSync(d).uid, files: readdirSync(d).sort() };
          }
          return Promise.resolve(undefined as T);
        },
      } as QmpExecutor;
      await addTlsCreds(qmp, { dir: hv2, stageDir }, 'client', qemu.pid!);
      expect(seen?.dir.startsWith(`${stageDir}/ucloud-migration-tls-`)).toBe(true);
      expect(seen?.owner).toBe(65534);
      expect(seen?.files).toEqual([TLS_FILES.ca, TLS_FILES.clientCert, TLS_FILES.clientKey].sort());
      expect(existsSync(seen!.dir)).toBe(false); // removed right after object-add
      expect(statSync(stageDir).mode & 0o777).toBe(0o711);
    } finally {
      qemu.kill();
    }
    // A crashed agent's leftovers: all of them under the run directory; in /tmp only old ones (another agent may be staging there).
    mkdirSync(join(stageDir, 'ucloud-migration-tls-left'));
    const oldTmp = mkdtempSync(join(tmpdir(), 'ucloud-migration-tls-'));
    const newTmp = mkdtempSync(join(tmpdir(), 'ucloud-migration-tls-'));
    utimesSync(oldTmp, new Date(Date.now() - 3_600_000), new Date(Date.now() - 3_600_000));
    try {
      expect(await sweepStagedTls(stageDir)).toBeGreaterThanOrEqual(2);
      expect(readdirSync(stageDir)).toEqual([]);
      expect([existsSync(oldTmp), existsSync(newTmp)]).toEqual([false, true]);
    } finally {
      rmSync(newTmp, { recursive: true, force: true });
    }
  });

  it('checkTlsDir passes a complete directory and names what a partial one lacks', async () => {
    await checkTlsDir(hv2);
    const partial = join(dir, 'hv3');
    unlinkSync(join(partial, TLS_FILES.clientKey));
    const err = await checkTlsDir(partial).then(
      () => undefined,
      (e: unknown) => e as UcloudError,
    );
    expect(err?.code).toBe('MIGRATION_TLS_FILES_MISSING');
    expect(err?.message).toContain('client-key.pem');
    expect(err?.message).not.toContain('server-key.pem');
    expect(await codeOf(checkTlsDir(join(dir, 'nowhere')))).toBe('MIGRATION_TLS_FILES_MISSING');
  });

  it('makes the creds object in QEMU with verify-peer, replacing an earlier one', async () => {
    const calls: [string, unknown][] = [];
    const qmp: QmpExecutor = {
      execute: <T>(cmd: string, args?: Record<string, unknown>) => {
        calls.push([cmd, args]);
        return Promise.resolve(undefined as T);
      },
    } as QmpExecutor;
    // This test runs as root: a QEMU that is root reads the directory itself.
    expect(await addTlsCreds(qmp, { dir: hv2 }, 'server', process.pid)).toBe(TLS_CREDS_ID);
    expect(calls).toEqual([
      ['object-del', { id: TLS_CREDS_ID }],
      ['object-add', { 'qom-type': 'tls-creds-x509', id: TLS_CREDS_ID, endpoint: 'server', dir: hv2, 'verify-peer': true }],
    ]);
  });

  it('migrate parameters, NBD client options, error codes and the agreement check', () => {
    expect(tlsParameters(TLS_CREDS_ID, '2001:db8::2')).toEqual({ 'tls-creds': TLS_CREDS_ID, 'tls-hostname': '2001:db8::2' });
    expect(tlsParameters(undefined)).toEqual({ 'tls-creds': '' });
    expect(nbdClientTls(TLS_CREDS_ID, '2001:db8::2')).toEqual({ 'tls-creds': TLS_CREDS_ID, 'tls-hostname': '2001:db8::2' });
    expect(nbdClientTls(undefined, '2001:db8::2')).toEqual({});
    expect(migrationErrorCode('Cannot write to TLS channel: Input/output error')).toBe('MIGRATION_TLS_FAILED');
    expect(migrationErrorCode('Certificate does not match the hostname hv9')).toBe('MIGRATION_TLS_FAILED');
    expect(migrationErrorCode('Unable to write to socket: Connection reset by peer')).toBe('MIGRATION_FAILED');
    expect(migrationErrorCode(undefined)).toBe('MIGRATION_FAILED');
    checkTlsAgreement({ dir: hv2 }, true, 'hv2');
    checkTlsAgreement(undefined, undefined, 'hv2');
    expect(() => checkTlsAgreement({ dir: hv2 }, undefined, 'hv2')).toThrow(/listens without TLS/);
    expect(() => checkTlsAgreement(undefined, true, 'hv2')).toThrow(/migration_tls is off here/);
    try {
      checkTlsAgreement(undefined, true, 'hv2');
    } catch (err) {
      expect((err as UcloudError).code).toBe('MIGRATION_TLS_MISMATCH');
    }
  });
});
