import type { FastifyRequest } from 'fastify';
import { UcloudError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { hashToken } from '../managers/users.js';
import type { UserManager } from '../managers/users.js';
import { Informer } from '../store/informer.js';
import { Keys, Kinds } from '../store/keys.js';
import type { Store } from '../store/store.js';

export interface RateLimitOptions {
  /** Requests per window for a user without an override; 0: no limit for them. */
  perWindow: number;
  /** Default one minute (rate_limit_per_minute); tests shorten nothing, they count. */
  windowMs?: number;
}

/** Never limited: load balancers and `ucloud up` poll it. */
const EXEMPT = new Set(['/v1/health']);

/**
 * The parts @fastify/rate-limit is configured with. A known token is its own
 * bucket (keyed by its hash, as etcd keeps it), so one user's flood never
 * slows another; anything else (no token, a wrong one) shares its IP's bucket,
 * so inventing tokens buys no fresh buckets. The limit is the user's override
 * (`ucloud user quota NAME --rate N`) when an admin set one, read from a
 * watch-fed cache of the overrides.
 */
export function rateLimitParts(store: Store, users: UserManager, log: Logger, opts: RateLimitOptions) {
  const overrides = new Informer(store, Kinds.quota, Keys.quotas(), log);
  const rateOf = (req: FastifyRequest) => (req.user ? overrides.get(Keys.quota(req.user.name))?.value.rate : undefined);
  return {
    informer: overrides,
    options: {
      global: false,
      timeWindow: opts.windowMs ?? 60_000,
      // Runs before the authenticate hook: the user found here is kept, so the token is looked up once.
      keyGenerator: async (req: FastifyRequest): Promise<string> => {
        const m = req.headers.authorization ? /^Bearer\s+(\S+)$/i.exec(req.headers.authorization) : null;
        if (m) {
          const user = users.authenticateCached(m[1]!) ?? (await users.authenticate(m[1]!).catch(() => undefined));
          if (user) {
            req.user = user;
            return `token:${hashToken(m[1]!)}`;
          }
        }
        return `ip:${req.ip}`;
      },
      max: (req: FastifyRequest): number => {
        const own = rateOf(req);
        return typeof own === 'number' ? own : opts.perWindow;
      },
      allowList: (req: FastifyRequest): boolean => {
        if (EXEMPT.has(req.routeOptions.url ?? '')) return true;
        const own = rateOf(req);
        return own === 'unlimited' || (own === undefined && opts.perWindow === 0);
      },
      errorResponseBuilder: (_req: FastifyRequest, ctx: { max: number; ttl: number; after: string }) =>
        new UcloudError('RATE_LIMITED', `more than ${ctx.max} requests in a minute: try again in ${ctx.after}`, { details: { limit: ctx.max, retryAfterSeconds: Math.ceil(ctx.ttl / 1000) } }),
    },
  };
}
