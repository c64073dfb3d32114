import { Type } from 'typebox';
import { ErrorResponse, Name, Role, User, UserUpdateRequest } from '../../model/index.js';
import type { Api, Managers } from '../context.js';
import { listQuery, listResponses, pageFrom } from '../pages.js';

// Users: an admin creates, disables and deletes them; the first token is in the answer once and never again.

const UserCreateRequest = Type.Object({ name: Name, role: Type.Optional(Role) }, { additionalProperties: false });
const UserCreated = Type.Object({ user: User, token: Type.String() });
const UserRef = Type.Object({ name: Name }, { additionalProperties: false });
const errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse, 409: ErrorResponse };

export function userRoutes(api: Api, m: Managers): void {
  api.post('/v1/users', { config: { action: 'user:create' }, schema: { operationId: 'createUser', body: UserCreateRequest, response: { 201: UserCreated, ...errors } } }, async (req, reply) => {
    return reply.status(201).send(await m.users.create(req.body.name, req.body.role ?? 'user'));
  });

  api.get('/v1/users', { config: { action: 'user:list' }, schema: { operationId: 'listUsers', querystring: listQuery(), response: listResponses(User) } }, async (req) => {
    return pageFrom('users', await m.users.list(), (u) => u.name, req.query);
  });

  api.patch('/v1/users/:name', { config: { action: 'user:update' }, schema: { operationId: 'updateUser', params: UserRef, body: UserUpdateRequest, response: { 200: User, ...errors } } }, async (req) =>
    m.users.setDisabled(req.params.name, req.body.disabled, req.user.name),
  );

  api.delete('/v1/users/:name', { config: { action: 'user:delete' }, schema: { operationId: 'deleteUser', params: UserRef, response: { 204: Type.Null(), ...errors } } }, async (req, reply) => {
    await m.users.delete(req.params.name, req.user.name);
    return reply.status(204).send(null);
  });

  api.get('/v1/whoami', { config: { action: 'whoami:read' }, schema: { operationId: 'whoami', response: { 200: User, 401: ErrorResponse } } }, async (req) => req.user);
}
