import { createHash } from 'node:crypto';
import { UcloudError } from '../common/errors.js';
import { parseSshPublicKey } from '../common/ssh-keys.js';
import { nowIso, type SshKey } from '../model/index.js';
import { Keys, Kinds } from '../store/keys.js';
import type { Store } from '../store/store.js';

/** Owns users' SSH public keys: validated, unique by name and by fingerprint per user. */
export class KeyManager {
  constructor(private readonly store: Store) {}

  async add(owner: string, name: string, text: string): Promise<SshKey> {
    const parsed = parseSshPublicKey(text);
    const key: SshKey = { owner, name, type: parsed.type, bits: parsed.bits, fingerprint: parsed.fingerprint, publicKey: parsed.canonical, createdAt: nowIso() };
    const fp = Keys.keyFingerprint(owner, createHash('sha256').update(parsed.fingerprint).digest('hex'));
    const ok = await this.store
      .txn()
      .absent(Keys.key(owner, name))
      .absent(fp)
      .put(Kinds.sshKey, Keys.key(owner, name), key)
      .put(Kinds.alloc, fp, { owner, holder: Keys.key(owner, name) })
      .commit({ witness: Keys.key(owner, name) }); // the record, to the millisecond
    if (ok) return key;
    if (await this.get(owner, name)) throw new UcloudError('KEY_EXISTS', `you already have a key named "${name}"`);
    throw new UcloudError('KEY_EXISTS', `you already added this key (${parsed.fingerprint}) under another name`);
  }

  async get(owner: string, name: string): Promise<SshKey | undefined> {
    return (await this.store.get(Kinds.sshKey, Keys.key(owner, name)))?.value;
  }

  async list(owner: string): Promise<SshKey[]> {
    return (await this.store.list(Kinds.sshKey, Keys.keysOf(owner))).items.map((i) => i.value).sort((a, b) => a.name.localeCompare(b.name));
  }

  async delete(owner: string, name: string): Promise<void> {
    const key = await this.store.get(Kinds.sshKey, Keys.key(owner, name));
    if (!key) throw new UcloudError('KEY_NOT_FOUND', `you have no key "${name}"`);
    const fp = Keys.keyFingerprint(owner, createHash('sha256').update(key.value.fingerprint).digest('hex'));
    await this.store.txn().unchanged(key).delete(key.key).delete(fp).commit();
  }
}
