import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import { UcloudError } from '../common/errors.js';
import { formatIPv6, parseIPv6 } from '../common/ipv6.js';
import type { UserManager } from '../managers/users.js';
import type { User } from '../model/index.js';
import type { Informer } from '../store/informer.js';
import { Keys, type Kinds } from '../store/keys.js';
import { tokenHashOf } from './auth.js';
import { routeOf } from './route-of.js';

/** The users' overrides (`quota/`), watch-fed: the server's, shared with the quota checks. */
export type QuotaOverrides = Informer<typeof Kinds.quota.schema>;

export interface RateLimitOptions {
  /** Requests per window for a user without an override; 0: no limit for them. */
  perWindow: number;
  /** Default one minute (rate_limit_per_minute); tests shorten nothing, they count. */
  windowMs?: number;
}

/** An IPv6 client's /64 (one host usually holds a whole /64, so its addresses are one bucket); an IPv4 address as it is. */
export function addressBucket(ip: string): string {
  if (!ip.includes(':') || ip.startsWith('::ffff:')) return ip;
  try {
    return `${formatIPv6((parseIPv6(ip) >> 64n) << 64n)}/64`;
  } catch {
    return ip;
  }
}

/** Never limited: load balancers and `ucloud up` poll it. */
const EXEMPT = new Set(['/v1/health']);

/**
 * The parts @fastify/rate-limit is configured with. A known token is its own
 * bucket (keyed by its hash, as etcd keeps it), so one user's flood never
 * slows another; anything else (no token, a wrong one) shares its IP's bucket,
 * so inventing tokens buys no fresh buckets. The limit is the user's override
 * (`ucloud user quota NAME --rate N`) when an admin set one, read from
 * `overrides`, a watch-fed cache.
 */
export function rateLimitParts(users: UserManager, overrides: QuotaOverrides, opts: RateLimitOptions) {
  const rateOf = (req: FastifyRequest) => (req.user ? overrides.get(Keys.quota(req.user.name))?.value.rate : undefined);
  return {
    options: {
      global: false,
      // Buckets kept (least recently used go first): enough that fresh addresses cannot flush a limited user's.
      cache: 100_000,
      timeWindow: opts.windowMs ?? 60_000,
      // Runs before the authenticate hook: the user found here is kept, so the token is looked up once.
      // Only the cache is asked: a token it does not know (guessed, or minted a moment ago elsewhere)
      // counts against its address, so guessing costs no etcd read until the address is limited.
      keyGenerator: (req: FastifyRequest): string => {
        if (EXEMPT.has(routeOf(req).url ?? '')) return 'exempt';
        const hash = tokenHashOf(req.raw);
        const user = hash === undefined ? undefined : users.authenticateCached(hash);
        if (user) {
          req.user = user;
          // Per user, not per token: more tokens buy no more requests.
          return `user:${user.name}`;
        }
        return `ip:${addressBucket(req.ip)}`;
      },
      max: (req: FastifyRequest): number => {
        const own = rateOf(req);
        return typeof own === 'number' ? own : opts.perWindow;
      },
      allowList: (req: FastifyRequest): boolean => {
        if (EXEMPT.has(routeOf(req).url ?? '')) return true;
        const own = rateOf(req);
        return own === 'unlimited' || (own === undefined && opts.perWindow === 0);
      },
      errorResponseBuilder: (_req: FastifyRequest, ctx: { max: number; ttl: number }) => rateLimited(ctx.max, ctx.ttl),
    },
  };
}

function rateLimited(max: number, ttlMs: number): UcloudError {
  const after = Math.ceil(ttlMs / 1000);
  return new UcloudError('RATE_LIMITED', `more than ${max} requests in a minute: try again in ${after} s`, { details: { limit: max, retryAfterSeconds: after } });
}

/** Fixed-window counts per key, the least recently used dropped past `max` keys (as @fastify/rate-limit's LocalStore). */
class WindowCounts {
  private readonly counts = new Map<string, { n: number; start: number }>();
  constructor(private readonly max: number) {}

  /** Counts one request; how many in the window so far and the ms left of it. */
  incr(key: string, windowMs: number, now: number): { current: number; ttl: number } {
    let c = this.counts.get(key);
    if (c) this.counts.delete(key);
    if (!c || c.start + windowMs <= now) c = { n: 0, start: now };
    c.n++;
    this.counts.set(key, c);
    if (this.counts.size > this.max) this.counts.delete(this.counts.keys().next().value!);
    return { current: c.n, ttl: c.start + windowMs - now };
  }

  /** How many requests the key's window holds now (none in a window that ended); counts nothing. */
  peek(key: string, windowMs: number, now: number): number {
    const c = this.counts.get(key);
    return c && c.start + windowMs > now ? c.n : 0;
  }
}

/**
 * The per-user fixed windows of callers whose token the cache knows (nearly
 * every request): the user's limit is their override or the default, and
 * requests are counted per user (keyed by name: only users are counted
 * here), not per token, so more tokens buy no more.
 * Shared by the onRequest hook and the cached reads below Fastify
 * (cached-reads.ts), so a request counts once whichever path answers it.
 */
export class UserRateLimit {
  private readonly counts = new WindowCounts(100_000);
  private readonly windowMs: number;

  constructor(
    private readonly overrides: QuotaOverrides,
    private readonly opts: RateLimitOptions,
  ) {
    this.windowMs = opts.windowMs ?? 60_000;
  }

  /** Requests per window the user may make; undefined: not limited. */
  limitOf(user: User): number | undefined {
    const own = this.overrides.get(Keys.quota(user.name))?.value.rate;
    if (own === 'unlimited' || (own === undefined && this.opts.perWindow === 0)) return undefined;
    return typeof own === 'number' ? own : this.opts.perWindow;
  }

  /** Counts one request of the user: how many in the window so far and the ms left of it. */
  count(user: User): { current: number; ttl: number } {
    return this.counts.incr(user.name, this.windowMs, Date.now());
  }

  /** Whether one more request of the user stays within `max` (a limit of 0 admits none); counts nothing. */
  admits(user: User, max: number): boolean {
    return this.counts.peek(user.name, this.windowMs, Date.now()) < max;
  }
}

/** Sets the rate-limit headers of a request, as @fastify/rate-limit sends them (`current` at most `max`: a refused request has 0 remaining). */
export function setAllowanceHeaders(set: (name: string, value: number) => void, max: number, current: number, ttlMs: number): void {
  set('x-ratelimit-limit', max);
  set('x-ratelimit-remaining', max - current);
  set('x-ratelimit-reset', Math.ceil(ttlMs / 1000));
}

/**
 * The onRequest hook: a token the cache knows (nearly every request) is counted
 * here without a promise (UserRateLimit), with the same window, limits, headers and answer as
 * @fastify/rate-limit's; anything else (no token, an unknown one, /v1/health)
 * goes to the plugin's `slow` hook, which counts it against its address. Its
 * async hook cost each request several promises, the role check included.
 */
export function rateLimitHook(users: UserManager, limits: UserRateLimit, slow: (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>) {
  return (req: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void => {
    const hash = EXEMPT.has(routeOf(req).url ?? '') ? undefined : tokenHashOf(req.raw);
    const user = hash === undefined ? undefined : users.authenticateCached(hash);
    if (!user) {
      slow(req, reply).then(() => done(), done);
      return;
    }
    req.user = user;
    const max = limits.limitOf(user);
    if (max === undefined) return done();
    const { current, ttl } = limits.count(user);
    setAllowanceHeaders((name, value) => reply.header(name, value), max, Math.min(current, max), ttl);
    if (current <= max) return done();
    reply.header('retry-after', Math.ceil(ttl / 1000));
    done(rateLimited(max, ttl));
  };
}
