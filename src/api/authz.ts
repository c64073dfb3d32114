import type { FastifyRequest, RouteOptions } from 'fastify';
import { UcloudError } from '../common/errors.js';
import type { Role, User } from '../model/index.js';
import { routeOf } from './route-of.js';

/**
 * Who may do what: the one table of roles × actions. Every route names its
 * action in `config.action`; a route that names none, or one missing here,
 * makes the server refuse to start (default deny). `anyone` needs no token.
 *
 * What a role allows is the *kind* of operation; which objects it reaches is
 * the managers' and lookups' business: a user's lookups see only their own
 * objects (and public images), so another user's object answers 404, not 403.
 * The `…:any` actions are the scope extensions a handler asks for with `can()`
 * (an admin's `?all=true`, `?owner=`).
 */
export const PERMISSIONS = {
  'health:read': ['anyone'],
  'openapi:read': ['anyone'],
  /** The dashboard's static files (docs/web.md): public, like a login page; every call the page makes needs a token. */
  'web:read': ['anyone'],
  /** The console WebSocket: its ticket (from `vm:console`) is the credential, sent as its first message. */
  'console:attach': ['anyone'],
  'whoami:read': ['user', 'admin'],
  /** A user's events are those of their own objects; an admin's `all`/`owner` reach everyone's (checked in the route). */
  'event:list': ['user', 'admin'],
  'event:stream': ['user', 'admin'],
  'event:read-any': ['admin'],

  'vm:create': ['user', 'admin'],
  'vm:list': ['user', 'admin'],
  'vm:list-any': ['admin'],
  /** An admin reaches any user's VM by its id. */
  'vm:act-any': ['admin'],
  'vm:read': ['user', 'admin'],
  'vm:start': ['user', 'admin'],
  'vm:stop': ['user', 'admin'],
  'vm:reboot': ['user', 'admin'],
  'vm:resize': ['user', 'admin'],
  'vm:update': ['user', 'admin'],
  'vm:console-log': ['user', 'admin'],
  'vm:stats': ['user', 'admin'],
  /** A ticket for the VM's interactive console. */
  'vm:console': ['user', 'admin'],
  'vm:delete': ['user', 'admin'],
  'vm:migrate': ['admin'],
  'vm:recover': ['admin'],

  'host:create': ['admin'],
  'host:list': ['user', 'admin'],
  'host:update': ['admin'],
  'host:drain': ['admin'],
  'host:delete': ['admin'],

  'image:create': ['user', 'admin'],
  'image:list': ['user', 'admin'],
  'image:read': ['user', 'admin'],
  'image:delete': ['user', 'admin'],
  'image:delete-any': ['admin'],
  'image-store:create': ['admin'],
  'image-store:list': ['user', 'admin'],
  'storage-driver:list': ['user', 'admin'],

  'file:list': ['user', 'admin'],
  'file:upload': ['user', 'admin'],
  'file:delete': ['user', 'admin'],

  'key:create': ['user', 'admin'],
  'key:list': ['user', 'admin'],
  'key:read': ['user', 'admin'],
  'key:delete': ['user', 'admin'],

  'network:create': ['user', 'admin'],
  'network:list': ['user', 'admin'],
  'network:read': ['user', 'admin'],
  'network:read-any': ['admin'],
  'network:delete': ['user', 'admin'],

  'user:create': ['admin'],
  'user:list': ['admin'],
  'user:update': ['admin'],
  'user:delete': ['admin'],
  /** A user reads their own quota; `…-any`: an admin anyone's. */
  'user:quota-show': ['user', 'admin'],
  'user:quota-show-any': ['admin'],
  'user:quota-set': ['admin'],

  'token:list': ['user', 'admin'],
  'token:create': ['user', 'admin'],
  'token:revoke': ['user', 'admin'],
  /** An admin lists and revokes another user's tokens (`?user=`). */
  'token:any': ['admin'],
  'totp:read': ['user', 'admin'],
  'totp:enable': ['user', 'admin'],
  'totp:disable': ['user', 'admin'],
  /** An admin turns off another user's second factor (a lost phone). */
  'totp:disable-any': ['admin'],
} as const satisfies Record<string, readonly (Role | 'anyone')[]>;

export type Action = keyof typeof PERMISSIONS;

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route's entry in PERMISSIONS. */
    action?: Action;
    /** The body is a stream the handler reads itself (uploads): no whole-body deadline. */
    streamsBody?: boolean;
  }
}

const allowed = (action: Action): readonly string[] => PERMISSIONS[action];

export function isAction(a: unknown): a is Action {
  return typeof a === 'string' && Object.hasOwn(PERMISSIONS, a);
}

/** True when the action needs no token. */
export function isPublic(action: Action | undefined): boolean {
  return action !== undefined && allowed(action).includes('anyone');
}

/** Whether `user` may do `action` (a scope extension inside a route: `vm:list-any`). */
export function can(user: User, action: Action): boolean {
  return allowed(action).includes(user.role);
}

/** Throws FORBIDDEN unless `user` may do `action`. */
export function authorize(user: User, action: Action): void {
  if (!can(user, action)) throw new UcloudError('FORBIDDEN', `a ${user.role} may not do ${action}`, { details: { action } });
}

/** onRoute: a route without a known action is a programming error, caught when the server is built. */
export function requireDeclaredAction(route: RouteOptions): void {
  // HEAD routes Fastify adds for each GET carry the GET's config.
  const action = (route.config as { action?: unknown } | undefined)?.action;
  if (!isAction(action)) {
    throw new Error(`route ${String(route.method)} ${route.url} declares no action from src/api/authz.ts (config.action = ${JSON.stringify(action)})`);
  }
}

/** The action of the route a request matched; undefined for a request that matched none (404). */
export function actionOf(req: FastifyRequest): Action | undefined {
  return (routeOf(req).config as { action?: Action } | undefined)?.action;
}
