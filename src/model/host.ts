import { Type, type Static } from 'typebox';
import { Bytes, Name, SizeInput, Text, Timestamp } from './common.js';

export const Resources = Type.Object(
  { cpu: Type.Integer({ minimum: 0 }), ramBytes: Bytes, diskBytes: Bytes },
  { additionalProperties: false },
);
export type Resources = Static<typeof Resources>;

const Ratio = Type.Number({ exclusiveMinimum: 0, maximum: 100 });

/** How far bookings may exceed the physical capacity, per dimension: allowed = floor(physical × ratio). */
export const AllocationRatio = Type.Object({ cpu: Ratio, ram: Ratio, disk: Ratio }, { additionalProperties: false });
export type AllocationRatio = Static<typeof AllocationRatio>;

/**
 * Registered by an admin (or `ucloud up`): the host's physical capacity and its
 * allocation ratios (src/common/capacity.ts). Records written before ratios
 * existed have none and count 1:1, as their capacity was meant.
 */
export const Host = Type.Object(
  {
    name: Name,
    address: Type.String({ maxLength: 100 }),
    capacity: Resources,
    allocationRatio: Type.Optional(AllocationRatio),
    /** Drained: no new placements, and `host drain` moves its VMs away. */
    drained: Type.Optional(Type.Boolean()),
    createdAt: Timestamp,
  },
  { additionalProperties: false },
);
export type Host = Static<typeof Host>;

/** `PATCH /v1/hosts/:name`: what to change; at least one field. */
export const HostSetRequest = Type.Object(
  {
    cpu: Type.Optional(Type.Integer({ minimum: 1, maximum: 4096, description: 'physical cores' })),
    ram: Type.Optional(SizeInput),
    disk: Type.Optional(SizeInput),
    allocationRatio: Type.Optional(Type.Object({ cpu: Type.Optional(Ratio), ram: Type.Optional(Ratio), disk: Type.Optional(Ratio) }, { additionalProperties: false })),
  },
  { additionalProperties: false },
);
export type HostSetRequest = Static<typeof HostSetRequest>;

/** `POST /v1/hosts`: a host to register. */
export const HostAddRequest = Type.Object(
  {
    name: Name,
    address: Type.Optional(Text({ minLength: 1, maxLength: 100 })),
    cpu: Type.Integer({ minimum: 1, maximum: 4096 }),
    ram: SizeInput,
    disk: SizeInput,
    /** Absent (or partly): the API's *_allocation_ratio config. */
    allocationRatio: Type.Optional(HostSetRequest.properties.allocationRatio),
  },
  { additionalProperties: false },
);
export type HostAddRequest = Static<typeof HostAddRequest>;

/** A host as `host list` shows it: its record, whether its agent is alive, and what is booked on it. */
export const HostView = Type.Object({
  ...Host.properties,
  /** The ratios in force (1:1 for a record from before ratios: LEGACY_ALLOCATION_RATIO). */
  allocationRatio: AllocationRatio,
  alive: Type.Boolean(),
  accel: Type.Optional(Type.String()),
  used: Resources,
  /** What may be booked: floor(capacity × allocationRatio). */
  allowed: Resources,
  vms: Type.Integer(),
});
export type HostView = Static<typeof HostView>;

/** Written on a lease by the running agent: it vanishes when the agent dies. */
export const HostAlive = Type.Object(
  {
    name: Name,
    pid: Type.Integer(),
    accel: Type.String(),
    since: Timestamp,
    /** The presence lease's id: this agent incarnation's fencing epoch (a VM placed here records it). */
    epoch: Type.Optional(Type.String({ maxLength: 32 })),
    /** Whether this host's fence watchdog runs (HA VMs are armed only then). */
    fence: Type.Optional(Type.Boolean()),
    /** Port of the agent's console endpoint, on the host's registered address. */
    consolePort: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
    /** The stores the agent could open; the scheduler places a VM only where its disks' stores are. Absent: all. */
    stores: Type.Optional(Type.Array(Name)),
    /** What the agent's QEMU offers: machine types, CPU models, and a signature of this host's CPU (src/common/qemu-compat.ts). */
    qemu: Type.Optional(
      Type.Object(
        {
          machines: Type.Array(Type.String({ maxLength: 64 }), { maxItems: 2000 }),
          cpuModels: Type.Array(Type.String({ maxLength: 64 }), { maxItems: 2000 }),
          hostCpu: Type.String({ maxLength: 64 }),
        },
        { additionalProperties: false },
      ),
    ),
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
