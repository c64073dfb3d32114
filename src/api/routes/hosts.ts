import { Type } from 'typebox';
import { parseSizeInRange } from '../../common/units.js';
import { ErrorResponse, Host, Name, Resources, SizeInput, Text } from '../../model/index.js';
import { requireAdmin } from '../auth.js';
import type { Api, Managers } from '../context.js';

// Hosts: an admin registers them; everyone may see them and what is free.

const HostAddRequest = Type.Object(
  {
    name: Name,
    address: Type.Optional(Text({ minLength: 1, maxLength: 100 })),
    cpu: Type.Integer({ minimum: 1, maximum: 4096 }),
    ram: SizeInput,
    disk: SizeInput,
  },
  { additionalProperties: false },
);
const HostView = Type.Object({
  ...Host.properties,
  alive: Type.Boolean(),
  accel: Type.Optional(Type.String()),
  used: Resources,
  vms: Type.Integer(),
});
const errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 409: ErrorResponse };

export function hostRoutes(api: Api, m: Managers): void {
  api.post('/v1/hosts', { schema: { body: HostAddRequest, response: { 201: Host, ...errors } } }, async (req, reply) => {
    requireAdmin(req);
    const b = req.body;
    const capacity = {
      cpu: b.cpu,
      ramBytes: parseSizeInRange(b.ram, 'ram', 0, Number.MAX_SAFE_INTEGER),
      diskBytes: parseSizeInRange(b.disk, 'disk', 0, Number.MAX_SAFE_INTEGER),
    };
    return reply.status(201).send(await m.hosts.add(b.name, b.address ?? '::1', capacity));
  });

  api.get('/v1/hosts', { schema: { response: { 200: Type.Array(HostView), ...errors } } }, async () => m.hosts.list());
}
