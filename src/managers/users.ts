import * as crypto from 'node:crypto';
import { createHash, randomBytes } from 'node:crypto';
import { UcloudError } from '../common/errors.js';
import { parseDuration } from '../common/units.js';
import { nowIso, type Role, type Token, type TokenInfo, type User } from '../model/index.js';
import { Keys, Kinds, lastSegment } from '../store/keys.js';
import type { Store, Versioned } from '../store/store.js';
import type { TokenCache } from './token-cache.js';
import { backoff } from './usage.js';
import { TotpManager } from './user-totp.js';

// Tokens are 256 random bits, so a plain SHA-256 is a safe at-rest form: the
// token itself is shown once and never stored.
// One call and no Hash object where Node has it (20.12+; engines allow 20.9): every API request hashes its token.
const sha256Hex: (text: string) => string = crypto.hash ? (text) => crypto.hash('sha256', text, 'hex') : (text) => createHash('sha256').update(text).digest('hex');

export function hashToken(token: string): string {
  return sha256Hex(token);
}

/** A token's public id (see TokenId): derived, so tokens stored before ids existed have one too. */
export function tokenId(hash: string): string {
  return hash.slice(0, 12);
}

/** Why a stored token does not let its bearer in, or undefined when it does. */
export function tokenRefusal(token: Token | undefined, user: User | undefined, now = Date.now()): UcloudError | undefined {
  if (!token || !user) return new UcloudError('UNAUTHENTICATED', 'the token is not valid');
  if (token.expiresAt && Date.parse(token.expiresAt) <= now) return new UcloudError('TOKEN_EXPIRED', `the token expired at ${token.expiresAt}`);
  if (user.disabled) return new UcloudError('USER_DISABLED', `user "${user.name}" is disabled`);
  return undefined;
}

/** A token's expiry from a duration ("30d") or a time, whichever is given (not both); it must lie ahead. */
export function expiresAtFrom(expiresIn: string | undefined, expiresAt: string | undefined, now = Date.now()): string | undefined {
  if (expiresIn !== undefined && expiresAt !== undefined) throw new UcloudError('VALIDATION_FAILED', 'give expiresIn or expiresAt, not both');
  if (expiresIn !== undefined) {
    const ms = parseDuration(expiresIn);
    if (ms <= 0) throw new UcloudError('VALIDATION_FAILED', 'expiresIn must be longer than 0');
    return new Date(now + ms).toISOString();
  }
  if (expiresAt === undefined) return undefined;
  const at = Date.parse(expiresAt);
  if (Number.isNaN(at)) throw new UcloudError('VALIDATION_FAILED', `expiresAt "${expiresAt}" is not a time (e.g. 2027-01-31T00:00:00Z)`);
  if (at <= now) throw new UcloudError('VALIDATION_FAILED', `expiresAt ${expiresAt} has passed`);
  return new Date(at).toISOString();
}

export interface TokenOptions {
  name: string;
  expiresAt?: string;
  description?: string;
  /** Revoke the user's token of the same name in the same transaction (`ucloud up`'s own token). */
  replace?: boolean;
}

/** Tokens one user may hold at once (revoke one to make another). */
export const MAX_TOKENS_PER_USER = 50;

/** Tries of a token issue that another write to its user interrupted (each counts the tokens again), as many as a VM create's. */
const ISSUE_ATTEMPTS = 100;

/** etcd refuses a transaction with more than 128 ops; deletions go in batches below that. */
const TXN_OPS = 100;

export class UserManager {
  /** Each user's optional second factor for making tokens. */
  readonly totp: TotpManager;

  /** `tokens`: answers authentication from memory (the API); without it every check reads etcd. */
  constructor(
    private readonly store: Store,
    private readonly tokens?: TokenCache,
  ) {
    this.totp = new TotpManager(store);
  }

  async get(name: string): Promise<User | undefined> {
    return (await this.store.get(Kinds.user, Keys.user(name)))?.value;
  }

  /** Every user, by name: from the API's cache when it has listed, else from etcd. */
  async list(): Promise<User[]> {
    const users = this.tokens?.allUsers() ?? (await this.store.list(Kinds.user, Keys.users())).items.map((i) => i.value);
    return users.sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Creates the user and a first token (named `tokenName`); the token is returned once and only its hash is kept. */
  async create(name: string, role: Role, tokenName = 'first'): Promise<{ user: User; token: string }> {
    const user: User = { name, role, createdAt: nowIso() };
    const token = newToken();
    const hash = hashToken(token);
    const nameKey = Keys.tokenName(name, tokenName);
    const ok = await this.store
      .txn()
      .absent(Keys.user(name))
      .put(Kinds.user, Keys.user(name), user)
      .put(Kinds.token, Keys.token(hash), { user: name, createdAt: user.createdAt, description: 'first token', name: tokenName })
      .put(Kinds.tokenName, nameKey, { hash })
      .commit({ witness: nameKey }); // the new token's random hash under its name
    if (!ok) throw new UcloudError('USER_EXISTS', `user "${name}" already exists`);
    return { user, token };
  }

  /** Disables or enables a user; `caller` may not disable themselves, nor the last enabled admin go. */
  async setDisabled(name: string, disabled: boolean, caller: string): Promise<User> {
    if (disabled && name === caller) throw new UcloudError('USER_IS_CALLER', 'you cannot disable yourself');
    for (let attempt = 0; attempt < 20; attempt++) {
      const witness = disabled ? await this.otherAdmin(name, 'disable') : undefined;
      const cur = await this.store.get(Kinds.user, Keys.user(name));
      if (!cur) throw new UcloudError('USER_NOT_FOUND', `user "${name}" does not exist`);
      if (Boolean(cur.value.disabled) === disabled) return cur.value;
      const { disabledAt: _, ...rest } = cur.value;
      const next: User = disabled ? { ...rest, disabled: true, disabledAt: nowIso() } : { ...rest, disabled: false };
      const t = this.store.txn().unchanged(cur).put(Kinds.user, cur.key, next);
      if (witness) t.unchanged(witness);
      if (await t.commit()) return next;
    }
    throw new UcloudError('CONFLICT', `user "${name}" kept changing; try again`);
  }

  /**
   * Deletes a user with their tokens, SSH keys and second factor. Refused while they own VMs,
   * networks, images or files: those hold data or addresses someone must decide
   * about, and an orphan could never be listed by its owner again.
   */
  async delete(name: string, caller: string): Promise<void> {
    if (name === caller) throw new UcloudError('USER_IS_CALLER', 'you cannot delete yourself');
    const user = await this.store.get(Kinds.user, Keys.user(name));
    if (!user) throw new UcloudError('USER_NOT_FOUND', `user "${name}" does not exist`);
    const witness = await this.otherAdmin(name, 'delete');
    const [vms, networks, images, files] = await Promise.all([
      this.store.list(Kinds.vmName, Keys.vmNamesOf(name)),
      this.store.list(Kinds.network, Keys.networksOf(name)),
      this.store.list(Kinds.image, Keys.imagesOf(name)),
      this.store.list(Kinds.file, Keys.files()),
    ]);
    const owns = { vms: vms.items.length, networks: networks.items.length, images: images.items.length, files: files.items.filter((f) => f.value.owner === name).length };
    if (Object.values(owns).some((n) => n > 0)) {
      const what = Object.entries(owns).filter(([, n]) => n > 0).map(([k, n]) => `${n} ${k}`).join(', ');
      throw new UcloudError('USER_HAS_RESOURCES', `user "${name}" still owns ${what}`, { details: owns });
    }
    const keys = (await this.store.list(Kinds.sshKey, Keys.keysOf(name))).items;
    const totp = await this.store.get(Kinds.totp, Keys.totp(name));
    // Every counted create changes the usage record: one that lands between the check above and the
    // commit below fails the commit, so no VM, network or image outlives its owner.
    const usage = await this.store.get(Kinds.usage, Keys.usage(name));
    const deletions = [
      // A namesake made later starts from the defaults, not with this user's overrides.
      Keys.quota(name),
      ...(totp ? [totp.key] : []),
      ...(await this.tokenKeysOf(name)),
      ...keys.flatMap((k) => [k.key, Keys.keyFingerprint(name, createHash('sha256').update(k.value.fingerprint).digest('hex'))]),
    ];
    // Atomic when it fits in one transaction. Otherwise the tokens go first, so
    // no token outlives its user; the user record goes last, with what remains.
    while (deletions.length > TXN_OPS) {
      const t = this.store.txn().unchanged(user);
      for (const k of deletions.splice(0, TXN_OPS)) t.delete(k);
      if (!(await t.commit())) throw new UcloudError('CONFLICT', `user "${name}" changed meanwhile; try again`);
    }
    const t = this.store.txn().unchanged(user).delete(user.key);
    if (witness) t.unchanged(witness);
    if (usage) t.unchanged(usage).delete(usage.key);
    else t.absent(Keys.usage(name));
    for (const k of deletions) t.delete(k);
    if (!(await t.commit())) throw new UcloudError('CONFLICT', `user "${name}" changed meanwhile; try again`);
    // A token issued between the listing and the commit would otherwise wait for a namesake.
    for (const k of await this.tokenKeysOf(name)) await this.store.delete(k);
    // Their audit trail goes with them: a namesake made later must not read it.
    await this.store.deletePrefix(Keys.eventsOf(name));
  }

  /**
   * Another enabled admin, with its version, when `name` is an enabled admin
   * (else undefined); LAST_ADMIN when there is none. The write that disables
   * or deletes `name` requires it unchanged, so two admins disabling each
   * other at once cannot both succeed.
   */
  private async otherAdmin(name: string, verb: string): Promise<Versioned<User> | undefined> {
    const { items } = await this.store.list(Kinds.user, Keys.users());
    const target = items.find((u) => u.value.name === name)?.value;
    if (target?.role !== 'admin' || target.disabled) return undefined;
    const other = items.find((u) => u.value.role === 'admin' && !u.value.disabled && u.value.name !== name);
    if (!other) throw new UcloudError('LAST_ADMIN', `cannot ${verb} "${name}": it is the last enabled admin`);
    return other;
  }

  /** Every key a user's tokens occupy: the token records and their name records. */
  private async tokenKeysOf(name: string): Promise<string[]> {
    const [tokens, names] = await Promise.all([this.store.list(Kinds.token, Keys.tokens()), this.store.list(Kinds.tokenName, Keys.tokenNamesOf(name))]);
    return [...tokens.items.filter((t) => t.value.user === name).map((t) => t.key), ...names.items.map((n) => n.key)];
  }

  /**
   * A further named token for an existing user; the secret is returned once.
   * The cap is counted from etcd (the user's token names) after reading the
   * user's record, and the commit requires that record unchanged and writes it
   * again: two issues at once cannot both count one below the cap, as the later
   * commit fails and counts again.
   */
  async issueToken(user: string, opts: TokenOptions): Promise<{ token: string; info: TokenInfo }> {
    // Issues of one user serialize on the record: with n at once the last may lose n-1 times (see backoff).
    for (let attempt = 0; attempt < ISSUE_ATTEMPTS; attempt++) {
      await backoff(attempt);
      const issued = await this.tryIssueToken(user, opts);
      if (issued) return issued;
    }
    throw new UcloudError('CONFLICT', `the tokens of "${user}" kept changing meanwhile; try again`);
  }

  /** One attempt of issueToken; undefined when another write to the user came between the count and the commit. */
  private async tryIssueToken(user: string, opts: TokenOptions): Promise<{ token: string; info: TokenInfo } | undefined> {
    const owner = await this.store.get(Kinds.user, Keys.user(user));
    if (!owner) throw new UcloudError('USER_NOT_FOUND', `user "${user}" does not exist`);
    const nameKey = Keys.tokenName(user, opts.name);
    const held = await this.tokensHeld(user);
    const existing = held.names.find((n) => n.key === nameKey);
    // A name whose token has expired is free again: the new token takes it and the expired one goes.
    const old = existing && (opts.replace || held.expired.some((e) => e.name === existing)) ? existing : undefined;
    if (existing && !old) throw new UcloudError('TOKEN_NAME_TAKEN', `user "${user}" already has a token named "${opts.name}"`);
    // Each token is two keys and an entry in every API's cache: a user's loop must not fill etcd.
    // Replacing one is no further token; a replace of a name not held is a new one. At the cap,
    // expired tokens make room, those that expired first going first.
    const room = old ? 0 : held.count - MAX_TOKENS_PER_USER + 1;
    const reaped = room > 0 ? held.expired.slice(0, room) : [];
    if (reaped.length < room) {
      throw new UcloudError('TOO_MANY_TOKENS', `user "${user}" has ${MAX_TOKENS_PER_USER} tokens, the most one user may have`);
    }
    const token = newToken();
    const hash = hashToken(token);
    const record: Token = { user, createdAt: nowIso(), description: opts.description ?? '', name: opts.name, ...(opts.expiresAt ? { expiresAt: opts.expiresAt } : {}) };
    const t = this.store.txn().unchanged(owner).put(Kinds.user, owner.key, owner.value);
    if (old) t.unchanged(old).delete(Keys.token(old.value.hash));
    else t.absent(nameKey);
    for (const e of reaped) {
      if (e.name) t.unchanged(e.name).delete(e.name.key);
      t.delete(e.key);
    }
    if (await t.put(Kinds.token, Keys.token(hash), record).put(Kinds.tokenName, nameKey, { hash }).commit({ witness: nameKey })) {
      return { token, info: infoOf(hash, record) };
    }
    // Not this name's doing: another write to the user came between; the caller counts again.
    const now = await this.store.get(Kinds.tokenName, nameKey);
    if (opts.replace && now?.modRevision !== old?.modRevision) throw new UcloudError('CONFLICT', `token "${opts.name}" changed meanwhile; try again`);
    if (!opts.replace && now && now.modRevision !== old?.modRevision) throw new UcloudError('TOKEN_NAME_TAKEN', `user "${user}" already has a token named "${opts.name}"`);
    return undefined;
  }

  /**
   * The tokens `user` holds: the named by their name records in etcd (as of
   * this read, which the issue's commit then guards), and those made before
   * names existed by their records (none is made now, so the cache's view of
   * them is current); and of them the expired, the first to expire first,
   * each with the name record that holds it (none for one without a name).
   */
  private async tokensHeld(user: string): Promise<{ count: number; names: Versioned<{ hash: string }>[]; expired: { key: string; name?: Versioned<{ hash: string }> }[] }> {
    const [names, records] = await Promise.all([this.store.list(Kinds.tokenName, Keys.tokenNamesOf(user)), this.tokenRecordsOf(user)]);
    const now = Date.now();
    const expiredAt = new Map(records.map((r) => [lastSegment(r.key), r.value.expiresAt === undefined ? Infinity : Date.parse(r.value.expiresAt)]));
    const expired = [
      ...names.items.map((n) => ({ key: Keys.token(n.value.hash), name: n, at: expiredAt.get(n.value.hash) ?? Infinity })),
      ...records.filter((r) => r.value.name === undefined).map((r) => ({ key: r.key, name: undefined, at: expiredAt.get(lastSegment(r.key))! })),
    ]
      .filter((e) => e.at <= now)
      .sort((a, b) => a.at - b.at);
    return {
      count: names.items.length + records.filter((t) => t.value.name === undefined).length,
      names: names.items,
      expired: expired.map((e) => ({ key: e.key, ...(e.name ? { name: e.name } : {}) })),
    };
  }

  /** A user's token records: from the API's cache when it has listed, else from etcd. */
  private async tokenRecordsOf(user: string): Promise<Versioned<Token>[]> {
    return this.tokens?.tokensOf(user) ?? (await this.store.list(Kinds.token, Keys.tokens())).items.filter((t) => t.value.user === user);
  }

  /** A user's tokens, oldest first: ids, names and dates, never a secret. */
  async listTokens(user: string): Promise<TokenInfo[]> {
    return (await this.tokenRecordsOf(user))
      .map((t) => infoOf(lastSegment(t.key), t.value))
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
  }

  /** Revokes one of `user`'s tokens by id; another user's id answers as if it did not exist. */
  async revokeToken(user: string, id: string): Promise<void> {
    const found = (await this.store.list(Kinds.token, Keys.tokenById(id))).items.find((t) => t.value.user === user);
    if (!found) throw new UcloudError('TOKEN_NOT_FOUND', `you have no token ${id}`);
    const t = this.store.txn().unchanged(found).delete(found.key);
    if (found.value.name) {
      const n = await this.store.get(Kinds.tokenName, Keys.tokenName(user, found.value.name));
      if (n?.value.hash === lastSegment(found.key)) t.unchanged(n).delete(n.key);
    }
    if (!(await t.commit())) throw new UcloudError('CONFLICT', `token ${id} changed meanwhile; try again`);
  }

  /** Whether `token` is one of `user`'s that still lets them in. */
  async tokenValidFor(token: string, user: string): Promise<boolean> {
    return this.authenticate(token).then((u) => u.name === user, () => false);
  }

  /** The user of the token of this hash from the cache alone; undefined when there is no cache, it does not know the token, or would refuse it (the slow path then says why). */
  authenticateCached(tokenHash: string): User | undefined {
    return this.tokens?.lookup(tokenHash);
  }

  async authenticate(token: string): Promise<User> {
    return this.authenticateHash(hashToken(token));
  }

  /** `authenticate` for a token known by its hash (a console ticket keeps that, never the token). */
  async authenticateHash(hash: string): Promise<User> {
    const cached = this.tokens?.lookup(hash);
    if (cached) return cached;
    const t = (await this.store.get(Kinds.token, Keys.token(hash)))?.value;
    const user = t && (await this.get(t.user));
    const refusal = tokenRefusal(t, user);
    if (refusal) throw refusal;
    return user!;
  }
}

function infoOf(hash: string, t: Token): TokenInfo {
  return {
    id: tokenId(hash),
    user: t.user,
    ...(t.name ? { name: t.name } : {}),
    ...(t.description ? { description: t.description } : {}),
    createdAt: t.createdAt,
    ...(t.expiresAt ? { expiresAt: t.expiresAt } : {}),
  };
}

function newToken(): string {
  return `uc_${randomBytes(32).toString('base64url')}`;
}
