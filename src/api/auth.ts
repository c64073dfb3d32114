import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import { UcloudError } from '../common/errors.js';
import type { UserManager } from '../managers/users.js';

/**
 * Every route but /v1/health needs `Authorization: Bearer <token>`. A token
 * the cache knows is checked without a promise (most requests); any other
 * goes to etcd.
 */
export function authenticate(users: UserManager) {
  return (req: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction): void => {
    if (req.routeOptions.config && (req.routeOptions.config as { public?: boolean }).public) return done();
    // The rate limit already found the token's user.
    if (req.user) return done();
    const header = req.headers.authorization;
    const m = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
    if (!m) return done(new UcloudError('UNAUTHENTICATED', 'this request needs a bearer token'));
    const cached = users.authenticateCached(m[1]!);
    if (cached) {
      req.user = cached;
      return done();
    }
    users.authenticate(m[1]!).then(
      (user) => {
        req.user = user;
        done();
      },
      (err: Error) => done(err),
    );
  };
}

export function requireAdmin(req: FastifyRequest): void {
  if (req.user.role !== 'admin') throw new UcloudError('FORBIDDEN', 'only an admin can do this');
}
