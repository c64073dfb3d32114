import { ErrorResponse, ListQuery, NameParams, Network, NetworkCreateRequest, NetworkRoutes, NoContent, OwnerQuery, routedVia, type NetworkRoute } from '../../model/index.js';
import type { FastifyRequest } from 'fastify';
import { authorize, can } from '../authz.js';
import type { Api, Managers } from '../context.js';
import { listResponses, pageFrom } from '../pages.js';

// Networks: each user has their own (VNI and /64 allocated here); a VM created
// without one goes on the user's "default" network.

const errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse, 409: ErrorResponse };

function ownerOf(req: FastifyRequest): string {
  const owner = (req.query as { owner?: string }).owner;
  if (owner === undefined || owner === req.user.name) return req.user.name;
  authorize(req.user, 'network:read-any');
  return owner;
}

export function networkRoutes(api: Api, m: Managers): void {
  api.post('/v1/networks', { config: { action: 'network:create' }, schema: { operationId: 'createNetwork', body: NetworkCreateRequest, response: { 201: Network, ...errors } } }, async (req, reply) =>
    reply.status(201).send(
      await m.networks.create(req.user.name, req.body.name, {
        ...(req.body.resolvers ? { resolvers: req.body.resolvers } : {}),
        ...(req.body.routed !== undefined ? { routed: req.body.routed } : {}),
        ...(m.quotas ? { limits: await m.quotas.limitsOf(req.user.name) } : {}),
      }),
    ),
  );
  api.get('/v1/networks', { config: { action: 'network:list' }, schema: { operationId: 'listNetworks', querystring: ListQuery(), response: listResponses(Network) } }, async (req) =>
    pageFrom(`networks/${req.user.name}`, await m.networks.list(req.user.name), (n) => n.name, req.query),
  );
  api.get('/v1/networks/:name', { config: { action: 'network:read' }, schema: { operationId: 'getNetwork', params: NameParams, querystring: OwnerQuery, response: { 200: Network, ...errors } } }, async (req) => (await m.networks.resolveExisting(ownerOf(req), req.params.name)).value);
  // Where to route each running VM's /128 (route_mode static: the operator's routes; bgp: what the hosts announce).
  api.get('/v1/networks/:name/routes', { config: { action: 'network:read' }, schema: { operationId: 'getNetworkRoutes', params: NameParams, querystring: OwnerQuery, response: { 200: NetworkRoutes, ...errors } } }, async (req) => {
    const net = (await m.networks.resolveExisting(ownerOf(req), req.params.name)).value;
    if (!net.routed) return { items: [] };
    const admin = can(req.user, 'network:read-any');
    const items: NetworkRoute[] = [];
    const hosts = new Map<string, string | undefined>();
    for (const vm of await m.vms.list(net.owner)) {
      const host = routedVia(vm);
      if (!host) continue;
      if (admin && !hosts.has(host)) hosts.set(host, (await m.hosts.get(host))?.address);
      const via = hosts.get(host);
      for (const nic of vm.nics ?? []) {
        if (nic.vni === net.vni) items.push({ destination: `${nic.address}/128`, vm: vm.name, host, ...(via ? { via } : {}) });
      }
    }
    return { items: items.sort((a, b) => a.destination.localeCompare(b.destination)) };
  });
  api.delete('/v1/networks/:name', { config: { action: 'network:delete' }, schema: { operationId: 'deleteNetwork', params: NameParams, response: { 204: NoContent, ...errors } } }, async (req, reply) => {
    await m.networks.delete(req.user.name, req.params.name);
    return reply.status(204).send(null);
  });
}
