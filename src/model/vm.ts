import { Type, type Static } from 'typebox';
import { Bytes, ErrorInfo, ImageRef, ListQuery, Name, SizeInput, Timestamp, Uuid, VmRef } from './common.js';
import { VmNic } from './network.js';

export const VmDesired = Type.Union([Type.Literal('running'), Type.Literal('stopped'), Type.Literal('deleted')]);
export type VmDesired = Static<typeof VmDesired>;

export const VmStatus = Type.Union([
  Type.Literal('pending'),
  Type.Literal('scheduled'),
  Type.Literal('creating'),
  Type.Literal('starting'),
  Type.Literal('running'),
  Type.Literal('migrating'),
  Type.Literal('stopping'),
  Type.Literal('stopped'),
  Type.Literal('deleting'),
  Type.Literal('error'),
]);
export type VmStatus = Static<typeof VmStatus>;

/** `GET /v1/vms` filters: `all` and another `owner` are an admin's; `status` and `host` narrow any list. */
export const VmListFilter = {
  all: Type.Optional(Type.Boolean({ description: 'every user\'s VMs (admins)' })),
  owner: Type.Optional(Name),
  status: Type.Optional(VmStatus),
  host: Type.Optional(Name),
};
/** `GET /v1/vms`'s query: a page (limit, cursor) and the filters above. */
export const VmListQuery = ListQuery(VmListFilter);
export type VmListQuery = Static<typeof VmListQuery>;

/** `/:ref`: a VM by name or id. */
export const VmRefParams = Type.Object({ ref: VmRef }, { additionalProperties: false });

export const VmDisk = Type.Object(
  {
    name: Type.String(),
    store: Name,
    ref: Type.String(),
    format: Type.Union([Type.Literal('raw'), Type.Literal('qcow2')]),
    sizeBytes: Bytes,
    /** A full copy with no backing image (made by a live migration's disk copy): the OS disk no longer names the image it was made from. */
    standalone: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type VmDisk = Static<typeof VmDisk>;

export const VmQemu = Type.Object(
  {
    pid: Type.Integer(),
    qmpSocket: Type.String(),
    serialLog: Type.String(),
    accel: Type.String(),
    startedAt: Timestamp,
    /** The versioned machine type QEMU runs (e.g. pc-i440fx-7.2): a migration's destination must run the same. */
    machine: Type.Optional(Type.String({ maxLength: 40 })),
    /** The CPU model QEMU runs (cpu_model when it first started, e.g. Nehalem-v1): a migration's destination must offer the same. */
    cpu: Type.Optional(Type.String({ maxLength: 64 })),
  },
  { additionalProperties: false },
);
export type VmQemu = Static<typeof VmQemu>;

/**
 * Where a migration is (src/model/vm-lifecycle.ts has who moves it on):
 * requested (booked on both hosts) → preparing (destination setting up) →
 * listening (destination's incoming QEMU published its port) → transferring
 * (source runs QMP migrate) → completed | failed | cancelled (final: the
 * sub-record moves to `lastMigration` in the transaction that settles the
 * bookings).
 */
export const MigrationPhase = Type.Union([
  Type.Literal('requested'),
  Type.Literal('preparing'),
  Type.Literal('listening'),
  Type.Literal('transferring'),
  Type.Literal('completed'),
  Type.Literal('failed'),
  Type.Literal('cancelled'),
]);
export type MigrationPhase = Static<typeof MigrationPhase>;

/** What QEMU reported for a finished migration. */
export const MigrationFigures = Type.Object(
  {
    totalMs: Type.Integer({ minimum: 0 }),
    downtimeMs: Type.Integer({ minimum: 0 }),
    setupMs: Type.Optional(Type.Integer({ minimum: 0 })),
    ramBytes: Bytes,
    diskBytes: Type.Optional(Bytes),
    mbps: Type.Optional(Type.Number({ minimum: 0 })),
  },
  { additionalProperties: false },
);
export type MigrationFigures = Static<typeof MigrationFigures>;

export const VmMigration = Type.Object(
  {
    id: Uuid,
    source: Name,
    /** Absent until the scheduler picks one (`vm migrate` without `--to`). */
    destination: Type.Optional(Name),
    phase: MigrationPhase,
    /** RAM only (every disk on a shared store), or disks copied live too. */
    mode: Type.Union([Type.Literal('shared'), Type.Literal('copy')]),
    /** The destination's incoming QEMU: its underlay address and ephemeral ports (migration, NBD for disk copy). */
    address: Type.Optional(Type.String({ maxLength: 100 })),
    port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
    nbdPort: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
    /** The destination listens with TLS (its migration_tls is on): a source must send over TLS too, or not at all. */
    tls: Type.Optional(Type.Boolean()),
    /** Mode copy: the volumes the destination made for the VM's disks (new refs, standalone); they become `disks` when the host flips. */
    disks: Type.Optional(Type.Array(VmDisk, { maxItems: 9 })),
    /** The destination QEMU, which becomes the VM's `qemu` when the host flips. */
    destinationQemu: Type.Optional(VmQemu),
    /** Set by `vm migrate --cancel`: the source cancels and settles it as cancelled. */
    cancel: Type.Optional(Type.Boolean()),
    requestedBy: Name,
    startedAt: Timestamp,
    updatedAt: Timestamp,
    /** Progress while transferring, then the final figures. */
    progress: Type.Optional(
      Type.Object(
        // Mode copy: the disks first (diskBytes of diskTotalBytes mirrored), then RAM.
        { ramBytes: Bytes, ramTotalBytes: Bytes, mbps: Type.Number({ minimum: 0 }), diskBytes: Type.Optional(Bytes), diskTotalBytes: Type.Optional(Bytes) },
        { additionalProperties: false },
      ),
    ),
    figures: Type.Optional(MigrationFigures),
    error: Type.Optional(ErrorInfo),
  },
  { additionalProperties: false },
);
export type VmMigration = Static<typeof VmMigration>;

/** A VM's graphical display: none (serial console only) or a VGA screen served over VNC on a unix socket on its host. */
export const VmDisplay = Type.Union([Type.Literal('none'), Type.Literal('vnc')]);
export type VmDisplay = Static<typeof VmDisplay>;

/**
 * One record per VM: the user's intent (`desired`, bumped `generation`) and what
 * the system observed (`status`, `host`, `error`, `qemu`). `observedGeneration`
 * tells whether the host has acted on the latest intent, so a failed start is not
 * retried in a loop but is retried when the user asks again.
 */
export const Vm = Type.Object(
  {
    id: Uuid,
    name: Name,
    owner: Name,
    /** The image's store, owner and name (`owner` is absent in VMs made before image names were per owner). */
    image: Type.Object({ store: Name, owner: Type.Optional(Name), name: Name }, { additionalProperties: false }),
    cpu: Type.Integer({ minimum: 1 }),
    ramBytes: Bytes,
    diskBytes: Bytes,
    /** Sizes of extra empty disks (`--hdd`), made on the same store as the OS disk. */
    hddBytes: Type.Optional(Type.Array(Bytes, { maxItems: 8 })),
    desired: VmDesired,
    generation: Type.Integer({ minimum: 1 }),
    observedGeneration: Type.Integer({ minimum: 0 }),
    status: VmStatus,
    host: Type.Optional(Name),
    reason: Type.Optional(Type.String()),
    error: Type.Optional(ErrorInfo),
    disks: Type.Array(VmDisk),
    nics: Type.Optional(Type.Array(VmNic, { maxItems: 8 })),
    qemu: Type.Optional(VmQemu),
    /** The migration under way (status `migrating`); the VM is booked on both hosts meanwhile. */
    migration: Type.Optional(VmMigration),
    /** The last migration that ended, whichever way. */
    lastMigration: Type.Optional(VmMigration),
    /**
     * High availability (user intent): when its host dies, the VM is fenced
     * there and started on another host (docs/architecture.md, "HA and
     * fencing"). Absent: ha_default.
     */
    ha: Type.Optional(Type.Boolean()),
    /** A graphical display (`vnc`: a VGA card whose screen is reached through a console ticket of kind vnc); absent: none. Set at creation, never changed. */
    display: Type.Optional(VmDisplay),
    /** Observed by the host: its fence watchdog knows this VM is HA (it kills its QEMU when the agent goes silent); only an armed VM is restarted elsewhere. */
    haArmed: Type.Optional(Type.Boolean()),
    /** The presence lease of the host incarnation the VM was placed with (its fencing epoch); only that incarnation's writes land. */
    epoch: Type.Optional(Type.String({ maxLength: 32 })),
    /** Set when the VM was moved off (or marked on) a dead host: from where, when, why. */
    lastFailover: Type.Optional(
      Type.Object(
        {
          from: Name,
          at: Timestamp,
          code: Type.String({ maxLength: 64 }),
          restarted: Type.Boolean(),
          /** The dead host's storage clients revoked before the restart (Ceph: blocklisted instances), as `store client`. */
          fenced: Type.Optional(Type.Array(Type.String({ maxLength: 200 }), { maxItems: 64 })),
          /** Unplaced, its storage not fenced yet: the scheduler places it once it is (`fenced` then says what). */
          fencePending: Type.Optional(Type.Boolean()),
          /** The admin who recovered the VM (`vm recover`); absent for an HA failover. */
          recoveredBy: Type.Optional(Name),
        },
        { additionalProperties: false },
      ),
    ),
    /**
     * An admin asked for this HOST_DEAD VM to start on another host (`vm recover`);
     * the scheduler does it, storage fenced first, while its host is still dead.
     * `hostIsOff`: the admin vouched the host is off where a store cannot fence.
     */
    recover: Type.Optional(Type.Object({ by: Name, at: Timestamp, hostIsOff: Type.Optional(Type.Boolean()) }, { additionalProperties: false })),
    /**
     * A reboot the user asked for (`vm reboot`, user intent): the VM's host presses the
     * ACPI power button, resets the guest once it powered off (or after stop_timeout
     * when it did not), and keeps the same QEMU. `force`: reset at once. Acted on once per `id`.
     */
    reboot: Type.Optional(Type.Object({ id: Uuid, by: Name, at: Timestamp, force: Type.Optional(Type.Boolean()) }, { additionalProperties: false })),
    /** Observed by the host: the last reboot request it settled, and how (VmRebootMode). */
    lastReboot: Type.Optional(Type.Object({ id: Uuid, mode: Type.Union([Type.Literal('acpi'), Type.Literal('reset'), Type.Literal('start'), Type.Literal('failed')]), at: Timestamp, error: Type.Optional(ErrorInfo) }, { additionalProperties: false })),
    /** Whether the VM has user-data; its text is kept under a key of its own (VmUserData), never in this record. */
    hasUserData: Type.Optional(Type.Boolean()),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  },
  { additionalProperties: false },
);
export type Vm = Static<typeof Vm>;

/**
 * A VM's cloud-init user-data, under a key of its own (`user-data/<vm id>`): it
 * may hold secrets and is up to 16 KiB, so it stays out of the VM record that
 * every cache and watch carries. Written with the VM, deleted with it.
 */
export const VmUserData = Type.Object({ vmId: Uuid, owner: Name, text: Type.String() }, { additionalProperties: false });
export type VmUserData = Static<typeof VmUserData>;

/** Points a (owner, name) pair at a VM id; created in the same transaction as the VM so names stay unique. */
export const VmName = Type.Object({ id: Uuid }, { additionalProperties: false });
export type VmName = Static<typeof VmName>;

/**
 * A VM under the image its disk comes from (`image-vm/…/<vm id>`), written and
 * deleted with the VM record: an image delete finds the image's VMs by one
 * prefix instead of reading every VM.
 */
export const ImageVm = Type.Object({ owner: Name, name: Name }, { additionalProperties: false });
export type ImageVm = Static<typeof ImageVm>;

export const VM_LIMITS = {
  maxCpu: 64,
  minRam: 32 * 2 ** 20,
  maxRam: 1024 * 2 ** 30,
  minDisk: 2 ** 20,
  maxDisk: 64 * 2 ** 40,
} as const;

export const VmCreateRequest = Type.Object(
  {
    name: Name,
    image: ImageRef,
    cpu: Type.Integer({ minimum: 1, maximum: VM_LIMITS.maxCpu }),
    ram: SizeInput,
    disk: SizeInput,
    hdd: Type.Optional(Type.Array(SizeInput, { maxItems: 8 })),
    /** Networks to attach, one NIC each; none: the user's network "default", made on first use. */
    networks: Type.Optional(Type.Array(Name, { maxItems: 8 })),
    /** cloud-init user-data (cloud-config, script or MIME multipart): UTF-8, no NUL, at most 16384 bytes (checked by the API with codes of its own: common/user-data.ts). */
    userData: Type.Optional(Type.String()),
    /** High availability: restarted on another host when its host dies (default: the cluster's ha_default). */
    ha: Type.Optional(Type.Boolean()),
    /** `vnc`: a VGA display, shown by the dashboard's Screen (noVNC) through a console ticket; default none. Fixed for the VM's life. */
    display: Type.Optional(VmDisplay),
  },
  { additionalProperties: false },
);
export type VmCreateRequest = Static<typeof VmCreateRequest>;

/** Disks only grow; CPU and RAM change only while the VM is stopped. */
export const VmResizeRequest = Type.Object(
  {
    disk: Type.Optional(SizeInput),
    cpu: Type.Optional(Type.Integer({ minimum: 1, maximum: VM_LIMITS.maxCpu })),
    ram: Type.Optional(SizeInput),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type VmResizeRequest = Static<typeof VmResizeRequest>;

/** `POST /v1/vms/:ref/reboot` (the body may be left out): ACPI first, a reset after stop_timeout; `force`: reset at once. */
export const VmRebootRequest = Type.Object({ force: Type.Optional(Type.Boolean({ description: 'reset at once, without asking the guest' })) }, { additionalProperties: false });
export type VmRebootRequest = Static<typeof VmRebootRequest>;

/** `PATCH /v1/vms/:ref`: settings that change without a restart. */
export const VmSetRequest = Type.Object({ ha: Type.Optional(Type.Boolean()) }, { additionalProperties: false, minProperties: 1 });
export type VmSetRequest = Static<typeof VmSetRequest>;

/** `vm recover`: `hostIsOff`, the admin vouches the dead host is powered off (needed where a store cannot fence). */
export const VmRecoverRequest = Type.Object({ hostIsOff: Type.Optional(Type.Boolean()) }, { additionalProperties: false });
export type VmRecoverRequest = Static<typeof VmRecoverRequest>;
