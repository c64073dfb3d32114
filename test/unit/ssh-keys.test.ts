import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UcloudError } from '../../src/common/errors.js';
import { parseSshPublicKey } from '../../src/common/ssh-keys.js';

// Real keys from ssh-keygen; fingerprints compared with what `ssh-keygen -lf` prints.
let dir: string;
const pub: Record<string, string> = {};
const priv: Record<string, string> = {};
const lf: Record<string, { bits: number; fingerprint: string }> = {};

function keygen(name: string, args: string[]): boolean {
  const file = join(dir, name);
  try {
    execFileSync('ssh-keygen', ['-q', ...args, '-N', '', '-C', `alice@laptop ${name}`, '-f', file], { stdio: 'pipe' });
  } catch {
    return false; // e.g. a newer OpenSSH that cannot make DSA keys any more
  }
  pub[name] = readFileSync(`${file}.pub`, 'utf8');
  priv[name] = readFileSync(file, 'utf8');
  const out = execFileSync('ssh-keygen', ['-lf', `${file}.pub`], { encoding: 'utf8' }).trim();
  const [bits, fingerprint] = out.split(' ');
  lf[name] = { bits: Number(bits), fingerprint: fingerprint! };
  return true;
}

function refusal(text: string): UcloudError {
  try {
    parseSshPublicKey(text);
  } catch (err) {
    expect(err).toBeInstanceOf(UcloudError);
    expect((err as UcloudError).code).toBe('INVALID_SSH_KEY');
    return err as UcloudError;
  }
  throw new Error(`accepted: ${text.slice(0, 60)}`);
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ucloud-sshkeys-'));
  keygen('ed25519', ['-t', 'ed25519']);
  keygen('ecdsa256', ['-t', 'ecdsa', '-b', '256']);
  keygen('ecdsa384', ['-t', 'ecdsa', '-b', '384']);
  keygen('ecdsa521', ['-t', 'ecdsa', '-b', '521']);
  keygen('rsa1024', ['-t', 'rsa', '-b', '1024']);
  keygen('rsa2048', ['-t', 'rsa', '-b', '2048']);
  keygen('rsa4096', ['-t', 'rsa', '-b', '4096']);
  keygen('rsapem', ['-t', 'rsa', '-b', '2048', '-m', 'PEM']);
  keygen('dsa', ['-t', 'dsa']);
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('parseSshPublicKey accepts real keys', () => {
  it.each([
    ['ed25519', 'ssh-ed25519', 256],
    ['ecdsa256', 'ecdsa-sha2-nistp256', 256],
    ['ecdsa384', 'ecdsa-sha2-nistp384', 384],
    ['ecdsa521', 'ecdsa-sha2-nistp521', 521],
    ['rsa2048', 'ssh-rsa', 2048],
    ['rsa4096', 'ssh-rsa', 4096],
  ])('%s', (name, type, bits) => {
    const k = parseSshPublicKey(pub[name]!);
    expect(k.type).toBe(type);
    expect(k.bits).toBe(bits);
    expect(k.bits).toBe(lf[name]!.bits);
    expect(k.fingerprint).toBe(lf[name]!.fingerprint);
    expect(k.fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect(k.comment).toBe(`alice@laptop ${name}`);
    expect(k.canonical).toBe(pub[name]!.trim());
    expect(k.canonical).not.toContain('\n');
  });

  it('normalises surrounding whitespace, CRLF and tabs to one canonical line', () => {
    const [type, blob] = pub.ed25519!.trim().split(' ');
    const k = parseSshPublicKey(`\n  ${type}\t${blob}   my key  \r\n\n`);
    expect(k.canonical).toBe(`${type} ${blob} my key`);
    expect(k.comment).toBe('my key');
  });

  it('accepts a comment that mentions a private key', () => {
    const [type, blob] = pub.ed25519!.trim().split(' ');
    expect(parseSshPublicKey(`${type} ${blob} the private key is on my laptop`).comment).toBe('the private key is on my laptop');
  });

  it('accepts a key without a comment', () => {
    const [type, blob] = pub.ed25519!.trim().split(' ');
    const k = parseSshPublicKey(`${type} ${blob}`);
    expect(k.comment).toBe('');
    expect(k.canonical).toBe(`${type} ${blob}`);
    expect(k.fingerprint).toBe(lf.ed25519!.fingerprint);
  });
});

describe('parseSshPublicKey refuses', () => {
  it('empty text and garbage', () => {
    expect(refusal('').message).toMatch(/empty/);
    expect(refusal('   \n\t ').message).toMatch(/empty/);
    expect(refusal('hello world').message).toMatch(/not an OpenSSH public key/);
    expect(refusal('ssh-ed25519').message).toMatch(/not an OpenSSH public key/);
    expect(refusal('ssh-ed25519 !!!notbase64!!! c').message).toMatch(/base64/);
    expect(refusal('ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA== c').message).toMatch(/not a valid ssh-ed25519 key/);
    expect(refusal('ssh-ed25519 QUFBQQ== c').message).toMatch(/not a valid/);
  });

  it('a blob of another type than the line says', () => {
    const blob = pub.rsa2048!.split(' ')[1];
    expect(refusal(`ssh-ed25519 ${blob} x`).message).toMatch(/ssh-ed25519/);
    const ec = pub.ecdsa256!.split(' ')[1];
    expect(refusal(`ecdsa-sha2-nistp384 ${ec} x`).message).toMatch(/nistp256|not a valid/);
  });

  it('trailing bytes inside the blob', () => {
    const blob = pub.ed25519!.split(' ')[1]!;
    const padded = Buffer.concat([Buffer.from(blob, 'base64'), Buffer.from([0, 0, 0])]).toString('base64');
    refusal(`ssh-ed25519 ${padded} x`);
  });

  it('several keys in one text', () => {
    expect(refusal(`${pub.ed25519}${pub.ecdsa256}`).message).toMatch(/one public key at a time/);
    expect(refusal(`${pub.ed25519!.trim()}\n\n${pub.rsa2048!.trim()}\n`).message).toMatch(/2 lines/);
  });

  it('private keys, with a message that points to the .pub', () => {
    for (const name of ['ed25519', 'rsa2048', 'rsapem', 'ecdsa256']) {
      expect(refusal(priv[name]!).message).toMatch(/private key/);
    }
    expect(refusal('-----BEGIN OPENSSH PRIVATE KEY-----').message).toMatch(/private key/);
    const inner = priv.ed25519!.split('\n')[1]!;
    expect(refusal(`ssh-ed25519 ${inner}`).message).toMatch(/private key/);
  });

  it('RSA keys under 2048 bits', () => {
    const e = refusal(pub.rsa1024!);
    expect(e.message).toMatch(/at least 2048 bits; this one has 1024/);
    expect(e.details).toEqual({ bits: 1024 });
  });

  it('DSA keys', () => {
    // A real one when this OpenSSH can still make it; the type word decides either way.
    const text = pub.dsa ?? 'ssh-dss AAAAB3NzaC1kc3MAAACBAP8= x';
    expect(refusal(text).message).toMatch(/DSA/);
  });

  it('other types: certificates, FIDO keys, unknown words', () => {
    const blob = pub.ed25519!.split(' ')[1];
    expect(refusal(`ssh-ed25519-cert-v01@openssh.com ${blob} x`).message).toMatch(/certificates/);
    expect(refusal(`sk-ssh-ed25519@openssh.com ${blob} x`).message).toMatch(/unsupported SSH key type/);
    expect(refusal(`ssh-foo ${blob} x`).message).toMatch(/unsupported/);
  });

  it('authorized_keys options before the key', () => {
    const key = pub.ed25519!.trim();
    for (const opts of ['command="echo hi"', 'no-pty', 'from="10.0.0.0/8,fd00::/8",no-agent-forwarding', 'restrict,command="/bin/true"']) {
      expect(refusal(`${opts} ${key}`).message).toMatch(/options before the key.*ssh-ed25519/);
    }
  });

  it('control characters in the comment', () => {
    const [type, blob] = pub.ed25519!.trim().split(' ');
    refusal(`${type} ${blob} bad\u0007comment`);
  });
});
