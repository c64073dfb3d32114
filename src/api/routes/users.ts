import { UcloudError } from '../../common/errors.js';
import { ErrorResponse, ListQuery, NameParams, NoContent, QuotaSetRequest, QuotaView, User, UserCreated, UserCreateRequest, UserUpdateRequest } from '../../model/index.js';
import { QuotaManager } from '../../managers/quotas.js';
import { can } from '../authz.js';
import type { Api, Managers } from '../context.js';
import { listResponses, pageFrom } from '../pages.js';

// Users: an admin creates, disables and deletes them; the first token is in the answer once and never again.

const errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse, 409: ErrorResponse };
/** Without a QuotaManager (tests): every limit is the default of none. */
const NO_LIMITS = { vms: 0, vcpus: 0, ram: 0, disk: 0, networks: 0, images: 0, files: 0, rate: 0 };

export function userRoutes(api: Api, m: Managers): void {
  api.post('/v1/users', { config: { action: 'user:create' }, schema: { operationId: 'createUser', body: UserCreateRequest, response: { 201: UserCreated, ...errors } } }, async (req, reply) => {
    return reply.status(201).send(await m.users.create(req.body.name, req.body.role ?? 'user'));
  });

  api.get('/v1/users', { config: { action: 'user:list' }, schema: { operationId: 'listUsers', querystring: ListQuery(), response: listResponses(User) } }, async (req) => {
    return pageFrom('users', await m.users.list(), (u) => u.name, req.query);
  });

  api.patch('/v1/users/:name', { config: { action: 'user:update' }, schema: { operationId: 'updateUser', params: NameParams, body: UserUpdateRequest, response: { 200: User, ...errors } } }, async (req) =>
    m.users.setDisabled(req.params.name, req.body.disabled, req.user.name),
  );

  api.delete('/v1/users/:name', { config: { action: 'user:delete' }, schema: { operationId: 'deleteUser', params: NameParams, response: { 204: NoContent, ...errors } } }, async (req, reply) => {
    await m.users.delete(req.params.name, req.user.name);
    return reply.status(204).send(null);
  });

  const quotas = m.quotas ?? new QuotaManager(m.store, NO_LIMITS);
  // A user sees their own quota; another user's name answers 404 as any other user's object does. An admin sees anyone's.
  api.get('/v1/users/:name/quota', { config: { action: 'user:quota-show' }, schema: { operationId: 'getUserQuota', params: NameParams, response: { 200: QuotaView, ...errors } } }, async (req) => {
    if (req.params.name !== req.user.name && !can(req.user, 'user:quota-show-any')) throw new UcloudError('USER_NOT_FOUND', `no user "${req.params.name}"`);
    return quotas.show(req.params.name);
  });
  // Admins only (the authz table): limits, and the user's API rate.
  api.patch('/v1/users/:name/quota', { config: { action: 'user:quota-set' }, schema: { operationId: 'setUserQuota', params: NameParams, body: QuotaSetRequest, response: { 200: QuotaView, ...errors } } }, async (req) =>
    quotas.set(req.params.name, req.body),
  );


  api.get('/v1/whoami', { config: { action: 'whoami:read' }, schema: { operationId: 'whoami', response: { 200: User, 401: ErrorResponse } } }, async (req) => req.user);
}
