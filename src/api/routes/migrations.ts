import { UcloudError } from '../../common/errors.js';
import { FailoverManager } from '../../managers/failover.js';
import { MigrationManager } from '../../managers/migrations.js';
import { ErrorResponse, Vm, VmMigrateRequest, VmRecoverRequest, VmRefParams, type User } from '../../model/index.js';
import type { Api, Managers } from '../context.js';

// Live migration and recovery off a dead host: an operator's actions (like host drain), so admins only; the VM by id or by the admin's own name.

const errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse, 409: ErrorResponse };

export function migrationRoutes(api: Api, m: Managers): void {
  // Writes as the API does (the actor of its VmManager).
  const migrations = new MigrationManager(m.store, { actor: m.vms.actor });
  const failover = new FailoverManager(m.store, m.vms.actor);
  const findVm = async (user: User, ref: string): Promise<Vm> => {
    const vm = (await m.vms.findByName(user.name, ref)) ?? (/^[0-9a-f-]{36}$/.test(ref) ? await m.vms.get(ref) : undefined);
    if (!vm) throw new UcloudError('VM_NOT_FOUND', `no VM "${ref}"`);
    return vm;
  };

  api.post('/v1/vms/:ref/migrate', { config: { action: 'vm:migrate' }, schema: { operationId: 'migrateVm', params: VmRefParams, body: VmMigrateRequest, response: { 202: Vm, ...errors } } }, async (req, reply) => {
    const vm = await findVm(req.user, req.params.ref);
    const b = req.body;
    if (b.cancel) {
      if (b.to !== undefined) throw new UcloudError('VALIDATION_FAILED', 'give either to or cancel, not both');
      return reply.status(202).send(await migrations.cancel(vm.id));
    }
    return reply.status(202).send(await migrations.request(vm.id, b.to, req.user.name));
  });

  api.post('/v1/vms/:ref/recover', { config: { action: 'vm:recover' }, schema: { operationId: 'recoverVm', params: VmRefParams, body: VmRecoverRequest, response: { 202: Vm, ...errors } } }, async (req, reply) => {
    const vm = await findVm(req.user, req.params.ref);
    return reply.status(202).send(await failover.requestRecover(vm.id, req.user.name, req.body.hostIsOff === true));
  });
}
