import { Type, type Static } from 'typebox';
import { Name } from './common.js';

/**
 * `POST /v1/vms/:ref/migrate`: live-migrate a running VM to host `to` (absent:
 * the scheduler picks one), or `cancel` the migration under way.
 */
export const VmMigrateRequest = Type.Object(
  {
    to: Type.Optional(Name),
    cancel: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type VmMigrateRequest = Static<typeof VmMigrateRequest>;
