import { UcloudError } from '../../common/errors.js';
import { parseSizeInRange } from '../../common/units.js';
import { ErrorResponse, Host, HostAddRequest, HostSetRequest, HostView, ListQuery, NameParams, NoContent } from '../../model/index.js';
import type { VmCache } from '../../managers/vm-cache.js';
import type { Api, Managers } from '../context.js';
import { listResponses, pageFromCache } from '../pages.js';

// Hosts: an admin registers them and changes their capacity; everyone may see them and what is free.

const errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse, 409: ErrorResponse };
const bytes = (v: string | number, field: string) => parseSizeInRange(v, field, 0, Number.MAX_SAFE_INTEGER);

export function hostRoutes(api: Api, m: Managers, cache: VmCache): void {
  api.post('/v1/hosts', { config: { action: 'host:create' }, schema: { operationId: 'addHost', body: HostAddRequest, response: { 201: Host, ...errors } } }, async (req, reply) => {
    const b = req.body;
    const capacity = { cpu: b.cpu, ramBytes: bytes(b.ram, 'ram'), diskBytes: bytes(b.disk, 'disk') };
    return reply.status(201).send(await m.hosts.add(b.name, b.address ?? '::1', capacity, b.allocationRatio));
  });

  api.patch('/v1/hosts/:name', { config: { action: 'host:update' }, schema: { operationId: 'updateHost', params: NameParams, body: HostSetRequest, response: { 200: Host, ...errors } } }, async (req) => {
    const b = req.body;
    const ratio = b.allocationRatio ?? {};
    if (b.cpu === undefined && b.ram === undefined && b.disk === undefined && Object.keys(ratio).length === 0) {
      throw new UcloudError('VALIDATION_FAILED', 'nothing to change: give cpu, ram, disk or an allocationRatio (cpu, ram, disk)');
    }
    const capacity = {
      ...(b.cpu !== undefined ? { cpu: b.cpu } : {}),
      ...(b.ram !== undefined ? { ramBytes: bytes(b.ram, 'ram') } : {}),
      ...(b.disk !== undefined ? { diskBytes: bytes(b.disk, 'disk') } : {}),
    };
    return m.hosts.set(req.params.name, { capacity, ...(Object.keys(ratio).length ? { allocationRatio: ratio } : {}) });
  });

  // Drained: no new placements; the scheduler migrates its VMs away where they fit.
  api.post('/v1/hosts/:name/drain', { config: { action: 'host:drain' }, schema: { operationId: 'drainHost', params: NameParams, response: { 200: Host, ...errors } } }, async (req) => {
    return m.hosts.setDrained(req.params.name, true);
  });

  api.post('/v1/hosts/:name/undrain', { config: { action: 'host:drain' }, schema: { operationId: 'undrainHost', params: NameParams, response: { 200: Host, ...errors } } }, async (req) => {
    return m.hosts.setDrained(req.params.name, false);
  });

  // Only an empty host: HOST_NOT_EMPTY while any VM is booked or mirrored there.
  api.delete('/v1/hosts/:name', { config: { action: 'host:delete' }, schema: { operationId: 'removeHost', params: NameParams, response: { 204: NoContent, ...errors } } }, async (req, reply) => {
    await m.hosts.remove(req.params.name);
    return reply.status(204).send(null);
  });

  // From the cache, by name.
  api.get('/v1/hosts', { config: { action: 'host:list' }, schema: { operationId: 'listHosts', querystring: ListQuery(), response: listResponses(HostView) } }, async (req) =>
    pageFromCache('hosts', req.query, (after, limit) => cache.hostPage(after, limit)),
  );
}
