import type { FastifyRequest } from 'fastify';
import { UcloudError } from '../common/errors.js';
import type { UserManager } from '../managers/users.js';

/** Every route but /v1/health needs `Authorization: Bearer <token>`. */
export function authenticate(users: UserManager) {
  return async (req: FastifyRequest): Promise<void> => {
    if (req.routeOptions.config && (req.routeOptions.config as { public?: boolean }).public) return;
    const header = req.headers.authorization;
    const m = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
    if (!m) throw new UcloudError('UNAUTHENTICATED', 'this request needs a bearer token');
    req.user = await users.authenticate(m[1]!);
  };
}

export function requireAdmin(req: FastifyRequest): void {
  if (req.user.role !== 'admin') throw new UcloudError('FORBIDDEN', 'only an admin can do this');
}
