import { Type } from 'typebox';
import { ErrorResponse, Name, Network, NetworkCreateRequest } from '../../model/index.js';
import type { Api, Managers } from '../context.js';
import { listQuery, listResponses, pageFrom } from '../pages.js';

// Networks: each user has their own (VNI and /64 allocated here); a VM created
// without one goes on the user's "default" network.

const NetRef = Type.Object({ name: Name }, { additionalProperties: false });
const errors = { 400: ErrorResponse, 401: ErrorResponse, 404: ErrorResponse, 409: ErrorResponse };

export function networkRoutes(api: Api, m: Managers): void {
  api.post('/v1/networks', { schema: { body: NetworkCreateRequest, response: { 201: Network, ...errors } } }, async (req, reply) =>
    reply.status(201).send(await m.networks.create(req.user.name, req.body.name, { ...(req.body.resolvers ? { resolvers: req.body.resolvers } : {}), ...(req.body.routed !== undefined ? { routed: req.body.routed } : {}) })),
  );
  api.get('/v1/networks', { schema: { querystring: listQuery(), response: listResponses(Network) } }, async (req) =>
    pageFrom(`networks/${req.user.name}`, await m.networks.list(req.user.name), (n) => n.name, req.query),
  );
  api.get('/v1/networks/:name', { schema: { params: NetRef, response: { 200: Network, ...errors } } }, async (req) => (await m.networks.resolveExisting(req.user.name, req.params.name)).value);
  api.delete('/v1/networks/:name', { schema: { params: NetRef, response: { 204: Type.Null(), ...errors } } }, async (req, reply) => {
    await m.networks.delete(req.user.name, req.params.name);
    return reply.status(204).send(null);
  });
}
