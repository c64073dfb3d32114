import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import { UcloudError } from '../common/errors.js';
import type { User } from '../model/index.js';
import { hashToken, type UserManager } from '../managers/users.js';
import { actionOf, authorize, can, isPublic, type Action } from './authz.js';

/** The token of `Authorization: Bearer <token>`, if the request carries one. */
export function bearerToken(req: IncomingMessage): string | undefined {
  const header = req.headers.authorization;
  return header ? /^Bearer\s+(\S+)$/i.exec(header)?.[1] : undefined;
}

const kLastAuthorization = Symbol('ucloud.lastAuthorization');
type RememberingSocket = Socket & { [kLastAuthorization]?: { header: string; hash: string } };

/**
 * The hash of the request's bearer token (what etcd and the token cache key
 * tokens by). A keep-alive client sends the same header on every request of a
 * connection, and hashing it was a tenth of a cached read's time: the last
 * header and its hash are kept on the connection, compared whole, and gone
 * with it.
 */
export function tokenHashOf(req: IncomingMessage): string | undefined {
  const header = req.headers.authorization;
  if (!header) return undefined;
  const socket = req.socket as RememberingSocket | null;
  const last = socket?.[kLastAuthorization];
  if (last?.header === header) return last.hash;
  const token = bearerToken(req);
  if (token === undefined) return undefined;
  const hash = hashToken(token);
  if (socket) socket[kLastAuthorization] = { header, hash };
  return hash;
}

/**
 * The caller of a request the token cache can answer for, if their role allows
 * `action` (undefined: no role check, bench/api's contract-off server); undefined for anything else (no token, one the cache does not know,
 * a role that may not), which the full path then authenticates, or refuses, as
 * any request. For the cached reads answered below Fastify (cached-reads.ts).
 */
export function cachedCaller(users: UserManager, req: IncomingMessage, action: Action | undefined): User | undefined {
  const hash = tokenHashOf(req);
  const user = hash === undefined ? undefined : users.authenticateCached(hash);
  return user && (action === undefined || can(user, action)) ? user : undefined;
}

/**
 * The one place requests that reach Fastify are authenticated and authorized
 * (the cached reads answered before it admit only what this would admit:
 * cachedCaller above, the same cache and the same role check): every route but
 * the public ones needs `Authorization: Bearer <token>`, and its user's role
 * must allow the route's declared action (src/api/authz.ts). A token the
 * cache knows is checked without a promise (most requests); any other goes to
 * etcd. A path no route matches needs a token too, so an anonymous caller
 * learns nothing about which routes exist.
 *
 * `authorize: false` is for bench/api only: it still authenticates but skips the
 * role check, to measure what the check costs. Never set by a daemon.
 */
export function authenticate(users: UserManager, opts: { authorize?: boolean } = {}) {
  const check = opts.authorize !== false;
  return (req: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction): void => {
    const declared = actionOf(req);
    if (isPublic(declared)) return done();
    const action = check ? declared : undefined;
    // The rate limit already found the token's user: only the role is left to check.
    if (req.user) {
      try {
        if (action) authorize(req.user, action);
      } catch (err) {
        return done(err as Error);
      }
      return done();
    }
    const hash = tokenHashOf(req.raw);
    if (hash === undefined) return done(new UcloudError('UNAUTHENTICATED', 'this request needs a bearer token'));
    const admit = (user: User): void => {
      req.user = user;
      if (action) authorize(user, action);
    };
    const cached = users.authenticateCached(hash);
    if (cached) {
      try {
        admit(cached);
      } catch (err) {
        return done(err as Error);
      }
      return done();
    }
    users
      .authenticateHash(hash)
      .then(admit)
      .then(
        () => done(),
        (err: Error) => done(err),
      );
  };
}
