import { Type } from 'typebox';
import { ErrorResponse, Name, Role, User } from '../../model/index.js';
import type { Api, Managers } from '../context.js';
import { listQuery, listResponses, pageFrom } from '../pages.js';

// Users: an admin creates them; the token is in the answer once and never again.

const UserCreateRequest = Type.Object({ name: Name, role: Type.Optional(Role) }, { additionalProperties: false });
const UserCreated = Type.Object({ user: User, token: Type.String() });
const errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 409: ErrorResponse };

export function userRoutes(api: Api, m: Managers): void {
  api.post('/v1/users', { config: { action: 'user:create' }, schema: { operationId: 'createUser', body: UserCreateRequest, response: { 201: UserCreated, ...errors } } }, async (req, reply) => {
    return reply.status(201).send(await m.users.create(req.body.name, req.body.role ?? 'user'));
  });

  api.get('/v1/users', { config: { action: 'user:list' }, schema: { operationId: 'listUsers', querystring: listQuery(), response: listResponses(User) } }, async (req) => {
    return pageFrom('users', await m.users.list(), (u) => u.name, req.query);
  });

  api.get('/v1/whoami', { config: { action: 'whoami:read' }, schema: { operationId: 'whoami', response: { 200: User, 401: ErrorResponse } } }, async (req) => req.user);
}
