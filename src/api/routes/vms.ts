import type { ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';
import { UcloudError } from '../../common/errors.js';
import { parseSizeInRange } from '../../common/units.js';
import { checkUserData } from '../../common/user-data.js';
import { ConsoleAttachRequest, ConsoleAttachTicket, ConsoleLog, ConsoleLogQuery, VmStats, ErrorResponse, NoContent, Vm, VmListQuery, VM_LIMITS, VmCreateRequest, VmRebootRequest, VmRefParams, VmResizeRequest, VmSetRequest, type User } from '../../model/index.js';
import type { VmCache } from '../../managers/vm-cache.js';
import { tokenHashOf } from '../auth.js';
import { can } from '../authz.js';
import type { Api, Managers } from '../context.js';
import { AnswerBuffers } from '../answer-buffers.js';
import { JSON_TYPE, type CachedReads } from '../cached-reads.js';
import { cursorAfter, listResponses, PageCache, rawPageFromCache } from '../pages.js';

// VMs: users see and act on their own; an admin on all of them (by id).

const errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse, 409: ErrorResponse };

const isId = (ref: string) => /^[0-9a-f-]{36}$/.test(ref);

/** The caller's VM `ref` (name or id; an admin's any by id). Read from etcd: the routes that change it use this. */
async function findVm(m: Managers, user: User, ref: string): Promise<Vm> {
  return visible(user, ref, (await m.vms.findByName(user.name, ref)) ?? (isId(ref) ? await m.vms.get(ref) : undefined));
}

/**
 * Runs a read's `answer` from the cache: at once, with no promise, once the
 * cache has listed (lists and shows are most requests, and a promise and its
 * ticks were a measurable part of each: bench/scale); before that, once it has.
 */
function fromCache(cache: VmCache, answer: () => void): void | Promise<void> {
  if (cache.listed) return answer();
  return cache.ready().then(answer);
}

function visible(user: User, ref: string, vm: Vm | undefined): Vm {
  if (!vm || (vm.owner !== user.name && !can(user, 'vm:act-any'))) throw new UcloudError('VM_NOT_FOUND', `no VM "${ref}"`);
  return vm;
}

/** JSON text already: sent as it is, no serializer run. */
function sendJson(reply: FastifyReply, bytes: Buffer): void {
  void reply.type(JSON_TYPE).send(bytes as never);
}

/** `reads`: where the cached reads are also declared for answering below Fastify (server.ts); absent: Fastify answers them all. */
export function vmRoutes(api: Api, m: Managers, cache: VmCache, opts: { haDefault: boolean } = { haDefault: false }, reads?: CachedReads): void {
  const pages = new AnswerBuffers();
  const kept = new PageCache();
  api.post('/v1/vms', { config: { action: 'vm:create' }, schema: { operationId: 'createVm', body: VmCreateRequest, response: { 201: Vm, ...errors } } }, async (req, reply) => {
    const b = req.body;
    const userData = b.userData === undefined ? undefined : checkUserData(b.userData);
    const ramBytes = parseSizeInRange(b.ram, 'ram', VM_LIMITS.minRam, VM_LIMITS.maxRam);
    const diskBytes = parseSizeInRange(b.disk, 'disk', VM_LIMITS.minDisk, VM_LIMITS.maxDisk);
    if (ramBytes % 2 ** 20 !== 0) throw new UcloudError('INVALID_SIZE', 'ram must be a whole number of MiB');
    const hddBytes = (b.hdd ?? []).map((h, i) => parseSizeInRange(h, `hdd[${i}]`, VM_LIMITS.minDisk, VM_LIMITS.maxDisk));
    const image = await m.images.resolve(req.user, b.image);
    if (diskBytes < image.volume!.virtualSize) {
      throw new UcloudError('DISK_SMALLER_THAN_IMAGE', `disk ${b.disk} is smaller than image "${image.name}" (${image.volume!.virtualSize} bytes)`);
    }
    const names = b.networks ?? ['default'];
    if (new Set(names).size !== names.length) throw new UcloudError('VALIDATION_FAILED', 'a network is named twice');
    // Everything is checked before the user's default network may be made, so a refused request writes nothing.
    if (await m.vms.findByName(req.user.name, b.name)) throw new UcloudError('VM_NAME_TAKEN', `you already have a VM named "${b.name}"`);
    for (const n of names) if (n !== 'default') await m.networks.resolveExisting(req.user.name, n);
    const networks = [];
    for (const n of names) networks.push(await m.networks.resolve(req.user.name, n));
    const vm = await m.vms.create({
      owner: req.user.name,
      name: b.name,
      image: { store: image.store, owner: image.owner, name: image.name },
      imageCreatedAt: image.createdAt,
      cpu: b.cpu,
      ramBytes,
      diskBytes,
      ...(hddBytes.length ? { hddBytes } : {}),
      networks,
      ...(userData ? { userData } : {}),
      ...((b.ha ?? opts.haDefault) ? { ha: true } : {}),
      ...(b.display === 'vnc' ? { display: 'vnc' as const } : {}),
      ...(m.quotas ? { limits: await m.quotas.limitsOf(req.user.name) } : {}),
    });
    return reply.status(201).send(vm);
  });

  // Both from the cache (the records' JSON as kept there, checked when their
  // events arrived): ordered by owner, then name. Each is answered below
  // Fastify too (cached-reads.ts), with the route's own action and schemas,
  // when its answer is bytes the cache holds.
  /** A page of the caller's VMs (an admin's: anyone's), once the cache has listed; refusals and a bad cursor throw at once. */
  const listPage = (user: User, q: VmListQuery): ((res: ServerResponse) => Buffer) => {
    // Another user's VMs are an admin's scope: asked by a user, it is refused, not silently narrowed.
    if ((q.all === true || (q.owner !== undefined && q.owner !== user.name)) && !can(user, 'vm:list-any')) {
      throw new UcloudError('FORBIDDEN', 'only an admin lists other users\' VMs (all, owner)', { details: { action: 'vm:list-any' } });
    }
    const owner = q.owner ?? (q.all === true ? undefined : user.name);
    const filtered = q.status !== undefined || q.host !== undefined;
    const filter = { ...(q.status !== undefined ? { status: q.status } : {}), ...(q.host !== undefined ? { host: q.host } : {}) };
    // The list's name carries its scope and filter, so a cursor is good only for the list it came from.
    const list = `${owner === undefined ? 'vms' : `vms/${owner}`}${filtered ? `?${q.status ?? ''}@${q.host ?? ''}` : ''}`;
    const after = cursorAfter(list, q);
    return (res) => {
      // An unfiltered page is kept while its list is unchanged; a filtered one is made each time (its version would be the whole fleet's).
      const keep = filtered ? undefined : { pages: kept, version: cache.vmListVersion(owner) };
      return rawPageFromCache(list, q, after, (from, limit) => cache.vmPageJsonNow(owner, from, limit, filter), pages, res, keep);
    };
  };
  api.get('/v1/vms', { config: { action: 'vm:list' }, schema: { operationId: 'listVms', querystring: VmListQuery, response: listResponses(Vm) } }, (req, reply) => {
    // The refusals above and a cursor's need no cache: before its first list they are answered at once,
    // not after the wait for it (and its 503 while etcd is away).
    const page = listPage(req.user, req.query);
    return fromCache(cache, () => sendJson(reply, page(reply.raw)));
  });
  reads?.add('/v1/vms', (user, _params, q, res) => listPage(user, q as VmListQuery)(res));

  /** The caller's VM by name (or anyone's by id, for an admin) as the cache holds it: its JSON, or the record when the cache has none. */
  const shown = (user: User, ref: string): Buffer | Vm => {
    const mine = cache.shownByNameNow(user.name, ref);
    if (mine) return mine.json;
    const vm = visible(user, ref, isId(ref) ? cache.vmByIdNow(ref) : undefined);
    return cache.jsonOf(vm.id) ?? vm;
  };
  api.get('/v1/vms/:ref', { config: { action: 'vm:read' }, schema: { operationId: 'getVm', params: VmRefParams, response: { 200: Vm, ...errors } } }, (req, reply) =>
    fromCache(cache, () => {
      const answer = shown(req.user, req.params.ref);
      if (Buffer.isBuffer(answer)) sendJson(reply, answer);
      else void reply.send(answer as Vm);
    }),
  );
  reads?.add('/v1/vms/:ref', (user, params) => {
    const answer = shown(user, params.ref as string);
    return Buffer.isBuffer(answer) ? answer : undefined;
  });

  for (const action of ['start', 'stop'] as const) {
    api.post(`/v1/vms/:ref/${action}`, { config: { action: `vm:${action}` }, schema: { operationId: `${action}Vm`, params: VmRefParams, response: { 202: Vm, ...errors } } }, async (req, reply) => {
      const vm = await findVm(m, req.user, req.params.ref);
      if (vm.desired === 'deleted') throw new UcloudError('VM_BUSY', `VM "${vm.name}" is being deleted`);
      const next = await m.vms.request(vm.id, action === 'start' ? 'running' : 'stopped');
      return reply.status(202).send(next!);
    });
  }

  // ACPI first, a reset after stop_timeout (or at once with force); the VM's host does it in the same QEMU.
  api.post('/v1/vms/:ref/reboot', { config: { action: 'vm:reboot' }, schema: { operationId: 'rebootVm', params: VmRefParams, body: VmRebootRequest, response: { 202: Vm, ...errors } } }, async (req, reply) => {
    const vm = await findVm(m, req.user, req.params.ref);
    return reply.status(202).send(await m.vms.reboot(vm.id, req.user.name, req.body?.force === true));
  });

  api.post('/v1/vms/:ref/resize', { config: { action: 'vm:resize' }, schema: { operationId: 'resizeVm', params: VmRefParams, body: VmResizeRequest, response: { 202: Vm, ...errors } } }, async (req, reply) => {
    const vm = await findVm(m, req.user, req.params.ref);
    const b = req.body;
    const ramBytes = b.ram === undefined ? undefined : parseSizeInRange(b.ram, 'ram', VM_LIMITS.minRam, VM_LIMITS.maxRam);
    if (ramBytes !== undefined && ramBytes % 2 ** 20 !== 0) throw new UcloudError('INVALID_SIZE', 'ram must be a whole number of MiB');
    const next = await m.vms.resize(
      vm.id,
      {
        ...(b.disk === undefined ? {} : { diskBytes: parseSizeInRange(b.disk, 'disk', VM_LIMITS.minDisk, VM_LIMITS.maxDisk) }),
        ...(b.cpu === undefined ? {} : { cpu: b.cpu }),
        ...(ramBytes === undefined ? {} : { ramBytes }),
      },
      // The owner's quota, whoever resizes (an admin resizing another's VM too).
      await m.quotas?.limitsOf(vm.owner),
    );
    return reply.status(202).send(next);
  });

  api.patch('/v1/vms/:ref', { config: { action: 'vm:update' }, schema: { operationId: 'updateVm', params: VmRefParams, body: VmSetRequest, response: { 200: Vm, ...errors } } }, async (req) => {
    const vm = await findVm(m, req.user, req.params.ref);
    const { ha } = req.body;
    return ha === undefined ? vm : m.vms.setHa(vm.id, ha);
  });

  // The tail of the VM's console, fetched from its host (see ConsoleManager); the owner's and admins' only.
  api.get('/v1/vms/:ref/console-log', { config: { action: 'vm:console-log' }, schema: { operationId: 'getVmConsoleLog', params: VmRefParams, querystring: ConsoleLogQuery, response: { 200: ConsoleLog, ...errors, 503: ErrorResponse } } }, async (req) => {
    const vm = await findVm(m, req.user, req.params.ref);
    const text = await m.consoles.tail(vm, req.query.lines ?? 100);
    return { vm: vm.name, host: vm.host!, text };
  });

  // The VM's counters now, read by its host like the console log (see ConsoleManager); the dashboard graphs their differences.
  api.get('/v1/vms/:ref/stats', { config: { action: 'vm:stats' }, schema: { operationId: 'getVmStats', params: VmRefParams, response: { 200: VmStats, ...errors, 503: ErrorResponse } } }, async (req) => {
    const vm = await findVm(m, req.user, req.params.ref);
    return m.consoles.stats(vm);
  });

  // A ticket for the VM's interactive console; the console itself is the WebSocket at its `path` (routes/console.ts).
  api.post('/v1/vms/:ref/console', { config: { action: 'vm:console' }, schema: { operationId: 'createVmConsoleTicket', summary: "A ticket for the VM's interactive serial console, or with display vnc its VNC screen (valid 30 s, once)", params: VmRefParams, body: ConsoleAttachRequest, response: { 201: ConsoleAttachTicket, ...errors, 503: ErrorResponse } } }, async (req, reply) => {
    const vm = await findVm(m, req.user, req.params.ref);
    return reply.status(201).send(await m.consoles.attachTicket(vm, { readOnly: req.body.readOnly === true, kind: req.body.display === 'vnc' ? 'vnc' : 'serial' }, { user: req.user.name, role: req.user.role, tokenHash: tokenHashOf(req.raw) ?? '' }));
  });

  api.delete('/v1/vms/:ref', { config: { action: 'vm:delete' }, schema: { operationId: 'deleteVm', params: VmRefParams, response: { 202: Vm, 204: NoContent, ...errors } } }, async (req, reply) => {
    const vm = await findVm(m, req.user, req.params.ref);
    const next = await m.vms.request(vm.id, 'deleted');
    // No host held it: it is gone already.
    if (!next) return reply.status(204).send(null);
    return reply.status(202).send(next);
  });
}
