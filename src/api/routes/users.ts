import { Type } from 'typebox';
import { UcloudError } from '../../common/errors.js';
import { ErrorResponse, Name, QuotaSetRequest, QuotaView, Role, User } from '../../model/index.js';
import { QuotaManager } from '../../managers/quotas.js';
import { requireAdmin } from '../auth.js';
import type { Api, Managers } from '../context.js';
import { listQuery, listResponses, pageFrom } from '../pages.js';

// Users: an admin creates them; the token is in the answer once and never again.

const UserCreateRequest = Type.Object({ name: Name, role: Type.Optional(Role) }, { additionalProperties: false });
const UserCreated = Type.Object({ user: User, token: Type.String() });
const errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 409: ErrorResponse };
const UserRef = Type.Object({ name: Name }, { additionalProperties: false });
const quotaErrors = { ...errors, 404: ErrorResponse };
/** Without a QuotaManager (tests): every limit is the default of none. */
const NO_LIMITS = { vms: 0, vcpus: 0, ram: 0, disk: 0, networks: 0, images: 0, files: 0, rate: 0 };

export function userRoutes(api: Api, m: Managers): void {
  api.post('/v1/users', { schema: { body: UserCreateRequest, response: { 201: UserCreated, ...errors } } }, async (req, reply) => {
    requireAdmin(req);
    return reply.status(201).send(await m.users.create(req.body.name, req.body.role ?? 'user'));
  });

  api.get('/v1/users', { schema: { querystring: listQuery(), response: listResponses(User) } }, async (req) => {
    requireAdmin(req);
    return pageFrom('users', await m.users.list(), (u) => u.name, req.query);
  });

  const quotas = m.quotas ?? new QuotaManager(m.store, NO_LIMITS);
  // A user sees their own quota; another user's name answers 404 as any other user's object does. An admin sees anyone's.
  api.get('/v1/users/:name/quota', { config: { action: 'user:quota-show' }, schema: { params: UserRef, response: { 200: QuotaView, ...quotaErrors } } }, async (req) => {
    if (req.user.role !== 'admin' && req.params.name !== req.user.name) throw new UcloudError('USER_NOT_FOUND', `no user "${req.params.name}"`);
    return quotas.show(req.params.name);
  });
  // Admins only (the authz table): limits, and the user's API rate.
  api.patch('/v1/users/:name/quota', { config: { action: 'user:quota-set' }, schema: { params: UserRef, body: QuotaSetRequest, response: { 200: QuotaView, ...quotaErrors } } }, async (req) =>
    quotas.set(req.params.name, req.body),
  );

  api.get('/v1/whoami', { schema: { response: { 200: User, 401: ErrorResponse } } }, async (req) => req.user);
}
