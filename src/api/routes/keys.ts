import { UcloudError } from '../../common/errors.js';
import { ErrorResponse, KeyAddRequest, ListQuery, NameParams, NoContent, SshKey } from '../../model/index.js';
import type { Api, Managers } from '../context.js';
import { listResponses, pageFrom } from '../pages.js';

// SSH keys: each user manages their own; VMs get their owner's keys from the metadata server.

const errors = { 400: ErrorResponse, 401: ErrorResponse, 404: ErrorResponse, 409: ErrorResponse };

export function keyRoutes(api: Api, m: Managers): void {
  api.post('/v1/keys', { config: { action: 'key:create' }, schema: { operationId: 'addKey', body: KeyAddRequest, response: { 201: SshKey, ...errors } } }, async (req, reply) =>
    reply.status(201).send(await m.keys.add(req.user.name, req.body.name, req.body.publicKey)),
  );
  api.get('/v1/keys', { config: { action: 'key:list' }, schema: { operationId: 'listKeys', querystring: ListQuery(), response: listResponses(SshKey) } }, async (req) =>
    pageFrom(`keys/${req.user.name}`, await m.keys.list(req.user.name), (k) => k.name, req.query),
  );
  api.get('/v1/keys/:name', { config: { action: 'key:read' }, schema: { operationId: 'getKey', params: NameParams, response: { 200: SshKey, ...errors } } }, async (req) => {
    const k = await m.keys.get(req.user.name, req.params.name);
    if (!k) throw new UcloudError('KEY_NOT_FOUND', `you have no key "${req.params.name}"`);
    return k;
  });
  api.delete('/v1/keys/:name', { config: { action: 'key:delete' }, schema: { operationId: 'deleteKey', params: NameParams, response: { 204: NoContent, ...errors } } }, async (req, reply) => {
    await m.keys.delete(req.user.name, req.params.name);
    return reply.status(204).send(null);
  });
}
