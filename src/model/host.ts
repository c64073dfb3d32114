import { Type, type Static } from 'typebox';
import { Bytes, Name, Timestamp } from './common.js';

export const Resources = Type.Object(
  { cpu: Type.Integer({ minimum: 0 }), ramBytes: Bytes, diskBytes: Bytes },
  { additionalProperties: false },
);
export type Resources = Static<typeof Resources>;

/** Registered by an admin (or `ucloud up`); the capacity the scheduler may hand out. */
export const Host = Type.Object(
  { name: Name, address: Type.String({ maxLength: 100 }), capacity: Resources, createdAt: Timestamp },
  { additionalProperties: false },
);
export type Host = Static<typeof Host>;

/** Written on a lease by the running agent: it vanishes when the agent dies. */
export const HostAlive = Type.Object(
  {
    name: Name,
    pid: Type.Integer(),
    accel: Type.String(),
    since: Timestamp,
    /** Port of the agent's console endpoint, on the host's registered address. */
    consolePort: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
  },
  { additionalProperties: false },
);
export type HostAlive = Static<typeof HostAlive>;

/**
 * What is booked on a host, one entry per VM. Placement and release change it in
 * the same compare-and-swap transaction as the VM record, so it can never drift
 * from the VMs or be overbooked by concurrent schedulers.
 */
export const HostAllocation = Type.Object(
  { vms: Type.Record(Type.String(), Resources) },
  { additionalProperties: false },
);
export type HostAllocation = Static<typeof HostAllocation>;
