import sshpk from 'sshpk';
import { UcloudError } from './errors.js';

// One OpenSSH public key, as a user pastes it from ~/.ssh/id_*.pub, checked
// strictly: the text must be exactly `type base64 [comment]`, the blob must
// decode to a key of that type with nothing left over, and the key must be
// strong enough to log in to a VM with.
//
// Refused, each with INVALID_SSH_KEY and a message saying why:
// - empty text, garbage, several keys (one key per text: each has a name);
// - private keys (PEM `-----BEGIN …`, `PRIVATE KEY`, the openssh-key-v1 blob,
//   or anything sshpk reads as a private key) — the message says to send the .pub;
// - DSA (ssh-dss: OpenSSH ≥ 7.0 refuses it), RSA under 2048 bits, certificates,
//   FIDO (sk-*) keys and other types outside the list below;
// - authorized_keys options before the key (`command="…" ssh-ed25519 …`,
//   `from=…`, `no-pty …`). A stored key is copied into every VM of its owner
//   (authorized_keys, cloud-init's OpenStack/EC2/NoCloud shapes, which carry
//   a bare key); options would either be dropped silently by some of those
//   paths or let a key string restrict or run commands the user never sees in
//   `ucloud key list`. A bare key is the one shape every consumer reads the same.

export type SshKeyType =
  | 'ssh-ed25519'
  | 'ecdsa-sha2-nistp256'
  | 'ecdsa-sha2-nistp384'
  | 'ecdsa-sha2-nistp521'
  | 'ssh-rsa';

export interface SshPublicKey {
  type: SshKeyType;
  /** Key size: 256 for ed25519, the curve size for ECDSA, the modulus size for RSA. */
  bits: number;
  /** `SHA256:<base64, no padding>`, as `ssh-keygen -lf` prints it. */
  fingerprint: string;
  /** The comment after the key ('' when there is none). */
  comment: string;
  /** `type base64 comment` on one line (without a trailing space when there is no comment). */
  canonical: string;
}

const KEY_TYPES: readonly string[] = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'ssh-rsa'];
const MIN_RSA_BITS = 2048;
const MAX_RSA_BITS = 16384; // ssh-keygen's own upper limit
const MAX_TEXT = 16 * 1024;
const MAX_COMMENT = 1024;
/** Anything that looks like the key-type word of an OpenSSH public key line. */
const TYPE_WORD = /(?:^|[\s,"])((?:ssh|ecdsa|sk)-[a-z0-9@.-]+)[ \t]+[A-Za-z0-9+/]{20,}/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
// "openssh-key-v1\0" (the private key container) in base64, as it starts a blob.
const OPENSSH_PRIVATE_MAGIC = 'b3BlbnNzaC1rZXktdjE';

function refuse(message: string, details?: Record<string, unknown>): never {
  throw new UcloudError('INVALID_SSH_KEY', message, details ? { details } : {});
}

function isPrivateKey(text: string): boolean {
  if (/-----BEGIN|PRIVATE KEY|PuTTY-User-Key-File/.test(text) || text.includes(OPENSSH_PRIVATE_MAGIC)) return true;
  try {
    sshpk.parsePrivateKey(text, 'auto');
    return true;
  } catch {
    return false;
  }
}

function sshTypeOf(key: sshpk.Key): string {
  if (key.type === 'ed25519') return 'ssh-ed25519';
  if (key.type === 'ecdsa') return `ecdsa-sha2-${key.curve}`;
  if (key.type === 'rsa') return 'ssh-rsa';
  if (key.type === 'dsa') return 'ssh-dss';
  return key.type;
}

/**
 * Parses and checks one OpenSSH public key line. Throws UcloudError
 * INVALID_SSH_KEY with a message that says what is wrong.
 */
export function parseSshPublicKey(text: string): SshPublicKey {
  if (typeof text !== 'string' || text.trim() === '') refuse('the SSH public key is empty');
  if (text.length > MAX_TEXT) refuse(`the SSH public key is too long (over ${MAX_TEXT} characters)`);
  if (isPrivateKey(text)) refuse('this is a private key: give the public key (the .pub file), and keep the private one secret');

  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  if (lines.length > 1) refuse(`the text holds ${lines.length} lines: give one public key at a time`);
  const line = lines[0]!.trim();
  if (/\p{Cc}/u.test(line.replace(/\t/g, ' '))) refuse('the SSH public key contains control characters');

  const m = /^(\S+)[ \t]+(\S+)(?:[ \t]+(.*))?$/.exec(line);
  const word = m?.[1] ?? line;
  if (!m || !/^(?:ssh|ecdsa|sk)-/.test(word)) {
    const found = TYPE_WORD.exec(line);
    if (found) {
      refuse(`authorized_keys options before the key are not accepted: remove everything before "${found[1]}" and give the bare public key`);
    }
    refuse('not an OpenSSH public key: expected a line like "ssh-ed25519 AAAA… comment"');
  }
  const [, type, blob, rawComment] = m;
  if (type === 'ssh-dss') refuse('DSA keys are not accepted (OpenSSH disabled them): use ed25519, ecdsa or rsa of 2048 bits or more');
  if (type!.includes('-cert-')) refuse('SSH certificates are not accepted: give the plain public key');
  if (!KEY_TYPES.includes(type!)) refuse(`unsupported SSH key type ${JSON.stringify(type)}: use ed25519, ecdsa or rsa of 2048 bits or more`);
  if (!BASE64.test(blob!) || blob!.length % 4 !== 0) refuse('the key data is not valid base64');

  let key: sshpk.Key;
  try {
    key = sshpk.parseKey(`${type} ${blob}`, 'ssh');
  } catch (err) {
    refuse(`the key data is not a valid ${type} key`, { reason: err instanceof Error ? err.message : String(err) });
  }
  // sshpk tolerates trailing bytes after the key; a strict reader does not.
  if (key.toBuffer('rfc4253').toString('base64') !== blob) refuse(`the key data is not a valid ${type} key (extra or malformed bytes)`);
  const actual = sshTypeOf(key);
  if (actual !== type) refuse(`the key says ${type} but its data is a ${actual} key`);

  const bits = key.size;
  if (type === 'ssh-rsa' && bits < MIN_RSA_BITS) refuse(`RSA keys need at least ${MIN_RSA_BITS} bits; this one has ${bits}`, { bits });
  if (type === 'ssh-rsa' && bits > MAX_RSA_BITS) refuse(`RSA keys have at most ${MAX_RSA_BITS} bits; this one has ${bits}`, { bits });

  const comment = (rawComment ?? '').trim();
  if (comment.length > MAX_COMMENT) refuse(`the key comment is too long (over ${MAX_COMMENT} characters)`);
  return {
    type: type as SshKeyType,
    bits,
    fingerprint: key.fingerprint('sha256').toString(),
    comment,
    canonical: comment ? `${type} ${blob} ${comment}` : `${type} ${blob}`,
  };
}
