import type { Logger } from '../common/logger.js';
import type { Token, User } from '../model/index.js';
import { tokenRefusal } from './users.js';
import { Informer } from '../store/informer.js';
import { Keys, Kinds, lastSegment } from '../store/keys.js';
import type { Store, Versioned } from '../store/store.js';

/**
 * Tokens and users held in memory for the API's authentication, fed by
 * watches: every request checks its token, and two etcd reads per request
 * would cap the API far below what a route can serve. A revoked token or a
 * deleted user leaves the cache with its watch event; a token the cache does
 * not know yet (issued a moment ago through another API process) is looked up
 * in etcd by the caller, so a new token is never refused.
 */
export class TokenCache {
  private readonly tokens: Informer<typeof Kinds.token.schema>;
  private readonly users: Informer<typeof Kinds.user.schema>;

  /**
   * Tokens by hash and users by name, kept beside the informers' maps (keyed
   * `token/<hash>`, `user/<name>`): a request's check then builds and hashes no
   * key string; it is on every request (bench/scale).
   */
  private readonly byHash = new Map<string, Token>();
  private readonly byName = new Map<string, User>();

  constructor(store: Store, log: Logger) {
    this.tokens = new Informer(store, Kinds.token, Keys.tokens(), log, { indexes: { user: (t) => t.user } });
    this.users = new Informer(store, Kinds.user, Keys.users(), log, { indexes: { role: (u) => u.role } });
    mirror(this.tokens, this.byHash);
    mirror(this.users, this.byName);
  }

  /** The prefixes it caches, for read-your-writes (a request that issued a token waits for it here). */
  get informers(): Informer<never>[] {
    return [this.tokens, this.users] as unknown as Informer<never>[];
  }

  async start(): Promise<void> {
    await Promise.all([this.tokens.start(), this.users.start()]);
  }

  async stop(): Promise<void> {
    await Promise.all([this.tokens.stop(), this.users.stop()]);
  }

  /** Every user, from memory; undefined until synced (the caller reads etcd). */
  allUsers(): User[] | undefined {
    return this.users.synced ? this.users.values() : undefined;
  }

  /** Every admin's name; undefined until synced. */
  admins(): string[] | undefined {
    if (!this.users.synced) return undefined;
    return this.users.byIndex('role', 'admin').map((u) => u.value.name);
  }

  /**
   * A user's token records; undefined until synced (the caller reads etcd).
   * A list is then the user's tokens, not a read of every user's: a write
   * through this API waits for the cache to show it before it answers.
   */
  tokensOf(user: string): Versioned<Token>[] | undefined {
    return this.tokens.synced ? this.tokens.byIndex('user', user) : undefined;
  }

  /**
   * The token's user; undefined when the cache does not know the token (or is
   * not synced yet), or when it would refuse it: expired (checked now, not when
   * the record arrived) or its user disabled. The caller then reads etcd, which
   * says why with the error's code.
   */
  lookup(tokenHash: string): User | undefined {
    if (!this.tokens.synced || !this.users.synced) return undefined;
    const t = this.byHash.get(tokenHash);
    const user = t && this.byName.get(t.user);
    return tokenRefusal(t, user) ? undefined : user;
  }
}

/** Keeps `into` equal to the informer's records, keyed by their keys' last segment (the hash, the name). */
function mirror<V>(informer: { on(e: 'change', f: (key: string) => void): unknown; get(key: string): { value: V } | undefined }, into: Map<string, V>): void {
  informer.on('change', (key) => {
    const v = informer.get(key)?.value;
    if (v === undefined) into.delete(lastSegment(key));
    else into.set(lastSegment(key), v);
  });
}
