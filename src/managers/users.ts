import { createHash, randomBytes } from 'node:crypto';
import { UcloudError } from '../common/errors.js';
import { nowIso, type Role, type User } from '../model/index.js';
import { Keys, Kinds } from '../store/keys.js';
import type { Store } from '../store/store.js';
import type { TokenCache } from './token-cache.js';

// Tokens are 256 random bits, so a plain SHA-256 is a safe at-rest form: the
// token itself is shown once and never stored.
export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export class UserManager {
  /** `tokens`: answers authentication from memory (the API); without it every check reads etcd. */
  constructor(
    private readonly store: Store,
    private readonly tokens?: TokenCache,
  ) {}

  async get(name: string): Promise<User | undefined> {
    return (await this.store.get(Kinds.user, Keys.user(name)))?.value;
  }

  async list(): Promise<User[]> {
    return (await this.store.list(Kinds.user, Keys.users())).items.map((i) => i.value).sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Creates the user and a first token; the token is returned once and only its hash is kept. */
  async create(name: string, role: Role): Promise<{ user: User; token: string }> {
    const user: User = { name, role, createdAt: nowIso() };
    const token = newToken();
    const ok = await this.store
      .txn()
      .absent(Keys.user(name))
      .put(Kinds.user, Keys.user(name), user)
      .put(Kinds.token, Keys.token(hashToken(token)), { user: name, createdAt: user.createdAt, description: 'first token' })
      .commit();
    if (!ok) throw new UcloudError('USER_EXISTS', `user "${name}" already exists`);
    return { user, token };
  }

  /** A further token for an existing user (e.g. `ucloud up` on a machine whose CLI config was lost). */
  async issueToken(name: string, description: string): Promise<string> {
    const token = newToken();
    const ok = await this.store.txn().present(Keys.user(name)).put(Kinds.token, Keys.token(hashToken(token)), { user: name, createdAt: nowIso(), description }).commit();
    if (!ok) throw new UcloudError('USER_NOT_FOUND', `user "${name}" does not exist`);
    return token;
  }

  /** The token's user from the cache alone; undefined when there is no cache or it does not know the token. */
  authenticateCached(token: string): User | undefined {
    return this.tokens?.lookup(hashToken(token));
  }

  async authenticate(token: string): Promise<User> {
    const hash = hashToken(token);
    const cached = this.tokens?.lookup(hash);
    if (cached) return cached;
    const t = await this.store.get(Kinds.token, Keys.token(hash));
    const user = t && (await this.get(t.value.user));
    if (!user) throw new UcloudError('UNAUTHENTICATED', 'the token is not valid');
    return user;
  }
}

function newToken(): string {
  return `uc_${randomBytes(32).toString('base64url')}`;
}
