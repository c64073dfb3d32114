import { UcloudError } from '../../common/errors.js';
import { ErrorResponse, ForUserQuery, ListQuery, NoContent, TokenCreated, TokenCreateRequest, TokenIdParams, TokenInfo, TokenListFilter } from '../../model/index.js';
import { expiresAtFrom } from '../../managers/users.js';
import type { FastifyRequest } from 'fastify';
import { can } from '../authz.js';
import type { Api, Managers } from '../context.js';
import { listResponses, pageFrom } from '../pages.js';

// API tokens: each user lists, creates and revokes their own. An admin reaches
// another user's with ?user= (list and revoke only: a token is made by its owner).

const errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse, 409: ErrorResponse };

/** Whose tokens: one's own, or with ?user= an admin's pick (becomes `can(req.user, 'token:…-any')` with the authz table). */
function ownerOf(req: FastifyRequest, user: string | undefined): string {
  if (user === undefined || user === req.user.name) return req.user.name;
  if (!can(req.user, 'token:any')) throw new UcloudError('FORBIDDEN', "only an admin reaches another user's tokens");
  return user;
}

export function tokenRoutes(api: Api, m: Managers): void {
  api.get('/v1/tokens', { config: { action: 'token:list' }, schema: { operationId: 'listTokens', querystring: ListQuery(TokenListFilter), response: listResponses(TokenInfo) } }, async (req) => {
    const owner = ownerOf(req, req.query.user);
    return pageFrom(`tokens/${owner}`, await m.users.listTokens(owner), (t) => `${t.createdAt}/${t.id}`, req.query);
  });

  api.post('/v1/tokens', { config: { action: 'token:create' }, schema: { operationId: 'createToken', body: TokenCreateRequest, response: { 201: TokenCreated, ...errors } } }, async (req, reply) => {
    const expiresAt = expiresAtFrom(req.body.expiresIn, req.body.expiresAt);
    await m.users.totp.check(req.user.name, req.body.totp);
    const res = await m.users.issueToken(req.user.name, { name: req.body.name, ...(expiresAt ? { expiresAt } : {}) });
    return reply.status(201).send(res);
  });

  api.delete('/v1/tokens/:id', { config: { action: 'token:revoke' }, schema: { operationId: 'revokeToken', params: TokenIdParams, querystring: ForUserQuery, response: { 204: NoContent, ...errors } } }, async (req, reply) => {
    await m.users.revokeToken(ownerOf(req, req.query.user), req.params.id);
    return reply.status(204).send(null);
  });
}
