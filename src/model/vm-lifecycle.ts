import { isDeepStrictEqual } from 'node:util';
import { UcloudError } from '../common/errors.js';
import type { MigrationPhase, Vm, VmMigration, VmStatus } from './vm.js';

/**
 * Who writes a VM record. Every write names one (stageVmWrite), and the tables
 * below say which moves each may make: a host only for the VMs it runs (or
 * receives by migration), the scheduler placement and a drain's moves, the API
 * the user's intent. `reader`: a daemon that only reads VMs (metadata) and may
 * write none.
 */
export type VmActor = { kind: 'api' } | { kind: 'scheduler' } | { kind: 'host'; name: string; epoch?: () => string | undefined } | { kind: 'reader' };

export const API_ACTOR: VmActor = { kind: 'api' };
export const SCHEDULER_ACTOR: VmActor = { kind: 'scheduler' };
export const READER_ACTOR: VmActor = { kind: 'reader' };
/** A host's agent; `epoch`: its presence lease now (its fencing epoch), undefined while it has none. */
export function hostActor(name: string, epoch?: () => string | undefined): VmActor {
  return epoch ? { kind: 'host', name, epoch } : { kind: 'host', name };
}

/** A row's "from" before the record exists, and a move's "to" when it is deleted. */
export type VmFrom = VmStatus | 'new';
export type VmTo = VmStatus | 'deleted';
/** `host`: the VM's own host (`vm.host`). */
export type VmRole = 'api' | 'scheduler' | 'host';

export const VM_STATUSES: readonly VmStatus[] = ['pending', 'scheduled', 'creating', 'starting', 'running', 'migrating', 'stopping', 'stopped', 'deleting', 'error'];

/** What a host's agent moves its VMs between while it creates, starts, stops, watches and deletes them. */
const HOST_MOVES: readonly VmStatus[] = ['creating', 'starting', 'running', 'stopping', 'stopped', 'error', 'deleting'];

/**
 * Status moves and who may make them. Same status → same status is a field
 * update. Guards beyond the table (vmWriteRefusal): the API and the scheduler
 * change statuses of unplaced VMs only (but running → migrating); only the
 * scheduler sets a host (pending → scheduled) and only a migration's source
 * changes it (the settle); a record is deleted only once `desired` is deleted;
 * migrating ↔ running follows MIGRATION_PHASES.
 */
export const VM_TRANSITIONS: Readonly<Record<VmFrom, Partial<Record<VmTo, readonly VmRole[]>>>> = (() => {
  const t: Record<VmFrom, Partial<Record<VmTo, VmRole[]>>> = Object.fromEntries([['new', {}], ...VM_STATUSES.map((s) => [s, {}])]);
  const allow = (from: VmFrom, to: VmTo, ...roles: VmRole[]) => {
    const row = t[from];
    row[to] = [...new Set([...(row[to] ?? []), ...roles])];
  };
  allow('new', 'pending', 'api');
  // Placed: the host acts on the intent; the API records intent (same status); the scheduler tells a drained host's VM why it stays.
  for (const from of ['scheduled', 'creating', 'starting', 'running', 'stopping', 'stopped', 'error'] as const) {
    allow(from, from, 'api', 'host');
    for (const to of HOST_MOVES) allow(from, to, 'host');
  }
  allow('running', 'running', 'scheduler');
  // Failover (failoverRefusal): a VM on a dead host is marked error (HOST_DEAD), or, HA, unplaced to start elsewhere.
  for (const from of ['scheduled', 'creating', 'starting', 'running', 'stopping', 'stopped', 'error'] as const) allow(from, 'error', 'scheduler');
  // Unplaced: the API settles the intent at once (vm start/stop/delete); the scheduler places, or says why not,
  // any VM without a host that is asked to run (a record from an older writer may have any status).
  for (const from of ['pending', 'stopped', 'error'] as const) {
    allow(from, 'pending', 'api');
    allow(from, 'stopped', 'api');
    allow(from, 'deleting', 'api');
  }
  for (const from of VM_STATUSES) {
    if (from === 'migrating' || from === 'deleting') continue;
    allow(from, 'pending', 'scheduler');
    allow(from, 'scheduled', 'scheduler');
  }
  allow('deleting', 'deleting', 'api', 'host');
  allow('deleting', 'deleted', 'api', 'scheduler', 'host');
  // The scheduler removes a deleted VM whose host is dead, whatever that host last wrote.
  for (const from of VM_STATUSES) if (from !== 'migrating') allow(from, 'deleted', 'scheduler');
  // Live migration: requested by the API (or a drain), settled by the source (or the scheduler when no destination was found).
  allow('running', 'migrating', 'api', 'scheduler');
  allow('migrating', 'migrating', 'api', 'scheduler', 'host');
  allow('migrating', 'running', 'scheduler', 'host');
  return t;
})();

/** A migration's roles: the two hosts by name, the API (request, cancel flag), the scheduler (destination, a drain's moves). */
export type MigrationRole = 'api' | 'scheduler' | 'source' | 'destination';

/**
 * Phase moves of `vm.migration` and who may make them. A final phase
 * (completed, failed, cancelled) is written in place or straight into
 * `lastMigration` by the settle (status back to running, `migration` removed).
 * Same phase: field updates (progress, address); the API's only write is the
 * cancel flag.
 */
export const MIGRATION_PHASES: Readonly<Record<MigrationPhase, Partial<Record<MigrationPhase, readonly MigrationRole[]>>>> = {
  requested: { requested: ['api', 'scheduler'], preparing: ['destination'], failed: ['destination', 'source', 'scheduler'], cancelled: ['source', 'scheduler'] },
  preparing: { preparing: ['api', 'destination'], listening: ['destination'], failed: ['destination', 'source', 'scheduler'], cancelled: ['source'] },
  listening: { listening: ['api', 'destination'], transferring: ['source'], failed: ['destination', 'source', 'scheduler'], cancelled: ['source'] },
  transferring: { transferring: ['api', 'source'], completed: ['source'], failed: ['source', 'scheduler'], cancelled: ['source'] },
  completed: { completed: ['source'] },
  failed: { failed: ['source'], cancelled: ['source'] },
  cancelled: { cancelled: ['source'], failed: ['source'] },
};

const FINAL: readonly MigrationPhase[] = ['completed', 'failed', 'cancelled'];

/** What the destination host may change in a migration: its readiness, where it listens, its QEMU. */
const DESTINATION_FIELDS: readonly (keyof VmMigration)[] = ['phase', 'address', 'port', 'nbdPort', 'tls', 'disks', 'destinationQemu', 'error', 'progress', 'updatedAt'];

export function actorName(actor: VmActor): string {
  return actor.kind === 'host' ? `host ${actor.name}` : actor.kind;
}

function roleOf(actor: VmActor, vm: Vm | undefined): VmRole | undefined {
  if (actor.kind === 'api' || actor.kind === 'scheduler') return actor.kind;
  if (actor.kind === 'host' && vm?.host !== undefined && vm.host === actor.name) return 'host';
  return undefined;
}

function migrationRoleOf(actor: VmActor, prev: Vm): MigrationRole | undefined {
  if (actor.kind === 'api' || actor.kind === 'scheduler') return actor.kind;
  if (actor.kind !== 'host') return undefined;
  if (actor.name === prev.host) return 'source';
  if (actor.name === prev.migration?.destination) return 'destination';
  return undefined;
}

function sameExcept<T extends object>(a: T, b: T, keys: readonly (keyof T)[]): boolean {
  const strip = (o: T) => {
    const c = { ...o };
    for (const k of keys) delete c[k];
    return c;
  };
  return isDeepStrictEqual(strip(a), strip(b));
}

/**
 * Why `actor` may not write `next` over `prev` (undefined: it may). `prev`
 * undefined: a new record; `next` undefined: the record is deleted.
 */
export function vmWriteRefusal(prev: Vm | undefined, next: Vm | undefined, actor: VmActor): string | undefined {
  if (actor.kind === 'reader') return 'this process only reads VMs';
  const from: VmFrom = prev?.status ?? 'new';
  const to: VmTo = next?.status ?? 'deleted';
  if (!prev && !next) return 'nothing to write';
  // A rewrite of the record as it is (repairing its mirrors) changes nothing.
  if (prev && next && isDeepStrictEqual(prev, next)) {
    if (actor.kind !== 'host' || (prev.host === actor.name || prev.migration?.destination === actor.name)) return undefined;
    return `host ${actor.name} neither runs nor receives it`;
  }
  // Its QEMU is built with it (and a migration's two ends must build the same machine).
  if (prev && next && next.display !== prev.display) return 'a VM’s display is set when it is made';
  if (prev && actor.kind === 'host' && prev.host === actor.name) {
    const why = epochRefusal(prev, next, actor);
    if (why) return why;
  }
  if (next?.recover && !isDeepStrictEqual(next.recover, prev?.recover) && !(actor.kind === 'api' && prev?.status === 'error' && prev.error?.code === 'HOST_DEAD' && next.status === 'error')) {
    return 'only the API asks for a recovery, of a VM left on a dead host';
  }
  if (next?.reboot && !isDeepStrictEqual(next.reboot, prev?.reboot) && !(actor.kind === 'api' && prev?.status === 'running' && prev.desired === 'running' && to === 'running')) {
    return 'only the API asks for a reboot, of a running VM';
  }
  if (prev?.reboot && !next?.reboot && next) return 'a reboot request stays on the record (the host settles it in lastReboot)';
  if (next?.lastReboot && !isDeepStrictEqual(next.lastReboot, prev?.lastReboot) && !(actor.kind === 'host' && next.host === actor.name && next.lastReboot.id === next.reboot?.id)) {
    return 'only the VM’s host settles a reboot, the one asked for';
  }
  if (prev?.migration || next?.migration || from === 'migrating' || to === 'migrating') return migrationRefusal(prev, next, actor, from, to);
  const role = roleOf(actor, prev ?? next);
  if (!role) return actor.kind === 'host' ? `host ${actor.name} does not run it${prev?.host ? ` (it runs on ${prev.host})` : ''}` : 'not this actor’s move';
  const allowed = VM_TRANSITIONS[from][to];
  if (!allowed?.includes(role)) return `${from} → ${to} is not a move the ${role === 'host' ? 'VM’s host' : role} makes`;
  if (!next) {
    if (prev!.desired !== 'deleted') return `it is asked to be ${prev!.desired}, not deleted`;
    return role === 'api' && prev!.host !== undefined ? `its host ${prev!.host} deletes it` : undefined;
  }
  if (!prev) return next.host === undefined ? undefined : 'a new VM has no host';
  if (role === 'scheduler' && (next.desired !== prev.desired || next.generation !== prev.generation)) return 'the scheduler does not change what the user asked for';
  if (role === 'scheduler' && to === 'scheduled') return prev.host === undefined && next.host !== undefined ? undefined : 'placing sets the host of a VM that has none';
  if (role === 'scheduler' && prev.host !== undefined && (next.host === undefined || to === 'error')) return failoverRefusal(prev, next);
  if (role === 'host' && (next.generation !== prev.generation || (next.desired !== prev.desired && !(prev.desired === 'running' && next.desired === 'stopped')))) {
    return 'a host records what it sees; the one intent it changes is a VM that stopped by itself (running → stopped)';
  }
  if (next.host !== prev.host) return `${role === 'host' ? 'a host' : `the ${role}`} does not change a VM’s host but by migration`;
  if (role !== 'host' && from !== to && prev.host !== undefined) return `the ${role} changes the status of a VM only before it is placed; ${prev.host} acts on its intent`;
  return undefined;
}

/**
 * Fencing: a VM placed on a host records the incarnation of that host's agent
 * it was placed with or last written by (`epoch`, its presence lease). A host
 * writes its VMs only while it holds a lease (an agent whose lease may have
 * ended, frozen or cut off, has none until it is announced again), and every
 * write carries the lease it holds (stampEpoch): a new incarnation takes over
 * what its host holds, while the scheduler, which acts only on VMs whose epoch
 * is not their host's, loses that race to the compare-and-swap or wins it
 * first. A settle that moves the VM away drops the epoch (the destination
 * stamps its own).
 */
function epochRefusal(prev: Vm, next: Vm | undefined, actor: Extract<VmActor, { kind: 'host' }>): string | undefined {
  const mine = actor.epoch?.();
  if (mine === undefined) return prev.epoch === undefined && next?.epoch === undefined ? undefined : `host ${actor.name} is fenced: its presence lease may have ended (it writes again once announced on a new one)`;
  if (!next) return undefined;
  if (next.host !== prev.host) return next.epoch === undefined ? undefined : 'a VM that moves leaves its epoch behind';
  return next.epoch === mine ? undefined : `host ${actor.name} writes with its own presence lease (${mine}), not ${next.epoch ?? 'none'}`;
}

/** `next` as `actor` writes it: a host's write of a VM that stays on it carries the host's current presence lease. */
export function stampEpoch(prev: Vm | undefined, next: Vm, actor: VmActor): Vm {
  if (actor.kind !== 'host' || next.host !== actor.name || prev?.host !== actor.name) return next;
  const mine = actor.epoch?.();
  return mine === undefined || next.epoch === mine ? next : { ...next, epoch: mine };
}

/**
 * The scheduler's moves of a VM off a dead host, each recorded in
 * `lastFailover`: an armed HA VM is unplaced (its booking released in the
 * same transaction) to start elsewhere; any other is marked error HOST_DEAD
 * where it is, for its host to take back or an admin to recover.
 */
function failoverRefusal(prev: Vm, next: Vm): string | undefined {
  // A recovery the scheduler will not do (nothing to fence, and the admin did not vouch the host is off): dropped, with why.
  if (prev.recover && !next.recover && sameExcept(prev, next, ['recover', 'reason', 'updatedAt'])) return undefined;
  const f = next.lastFailover;
  if (!f || f.from !== prev.host || isDeepStrictEqual(f, prev.lastFailover)) return 'the scheduler moves a placed VM only off a dead host, recording it (lastFailover)';
  if (next.desired !== prev.desired || next.generation !== prev.generation || next.ha !== prev.ha) return 'the scheduler does not change what the user asked for';
  if (f.restarted) {
    const recovered = prev.recover !== undefined && prev.status === 'error' && prev.error?.code === 'HOST_DEAD' && f.recoveredBy === prev.recover.by;
    if (prev.haArmed !== true && !recovered) return 'only an armed HA VM, or one an admin recovers, is restarted elsewhere';
    if (next.recover !== undefined) return 'a recovered VM’s request is done';
    if (next.host !== undefined || next.status !== 'pending' || next.epoch !== undefined || next.qemu !== undefined || next.haArmed !== undefined) return 'a failed-over VM is unplaced: pending, no host, epoch, QEMU or arming';
    return undefined;
  }
  if (next.host !== prev.host || next.status !== 'error' || next.error?.code !== 'HOST_DEAD' || next.epoch !== prev.epoch) return 'a VM left on a dead host is marked error HOST_DEAD where it is';
  return undefined;
}

function migrationRefusal(prev: Vm | undefined, next: Vm | undefined, actor: VmActor, from: VmFrom, to: VmTo): string | undefined {
  if (!prev || !next) return from === 'migrating' ? 'a migrating VM is not deleted' : 'a new VM does not migrate';
  if (next.status === 'migrating' && !next.migration) return 'a migrating VM has its migration record';
  if (next.migration && next.status !== 'migrating') return 'a VM with a migration under way is migrating';
  const pm = prev.migration;
  const nm = next.migration;
  const allowed = VM_TRANSITIONS[from][to];
  if (!pm) {
    // Start: running → migrating, phase requested, from where it runs.
    if (!nm) {
      // A record left migrating without its migration (written by hand, or by an older writer): its host puts it back.
      return roleOf(actor, prev) === 'host' && to === 'running' && next.host === prev.host ? undefined : 'a migrating VM without its migration record is settled by its host only';
    }
    const role = roleOf(actor, prev);
    if (!role || !allowed?.includes(role)) return `${from} → ${to} is not a move the ${role ?? actorName(actor)} makes`;
    if (nm.phase !== 'requested') return `a migration starts as requested, not ${nm.phase}`;
    if (nm.source !== prev.host || next.host !== prev.host) return 'a migration starts from the host the VM runs on';
    if (prev.desired !== 'running' || next.desired !== 'running' || next.generation !== prev.generation) return 'only a VM asked to run migrates';
    if (nm.cancel) return 'a migration does not start cancelled';
    if (nm.disks !== undefined || !isDeepStrictEqual(next.disks, prev.disks)) return 'a migration starts with the VM’s disks as they are; only its destination names copies';
    return undefined;
  }
  const role = migrationRoleOf(actor, prev);
  if (!role) return actor.kind === 'host' ? `host ${actor.name} is neither the source nor the destination` : 'not this actor’s move';
  if (nm) {
    if (nm.id !== pm.id) return 'one migration at a time: settle the one under way first';
    const roles = MIGRATION_PHASES[pm.phase][nm.phase];
    if (!roles?.includes(role)) return `migration ${pm.phase} → ${nm.phase} is not a move the ${role} makes`;
    if (next.host !== prev.host || next.desired !== prev.desired) return 'a migrating VM keeps its host and intent until settled';
    if (nm.source !== pm.source || (pm.destination !== undefined && nm.destination !== pm.destination)) return 'a migration keeps its source and destination';
    if (pm.cancel && !nm.cancel) return 'a cancel is not taken back';
    if (role === 'api') return sameExcept(prev, next, ['migration', 'updatedAt']) && sameExcept(pm, nm, ['cancel', 'updatedAt']) ? undefined : 'the API only asks a migration to cancel';
    if (role === 'scheduler') return pm.destination === undefined && nm.destination !== undefined && sameExcept(pm, nm, ['destination', 'updatedAt']) ? undefined : 'the scheduler only picks the destination of a migration that has none';
    if (nm.destination === undefined) return 'a host moves on a migration that has its destination';
    if (!isDeepStrictEqual(nm.disks, pm.disks)) {
      const why = role === 'destination' ? diskCopiesRefusal(prev, pm, nm) : 'only the destination names the disk copies';
      if (why) return why;
    }
    if (role === 'destination') {
      // The receiving host does not run the VM yet: it only reports how its end gets ready.
      if (!sameExcept(prev, next, ['migration', 'updatedAt'])) return 'the destination writes only its migration fields';
      return sameExcept(pm, nm, DESTINATION_FIELDS) ? undefined : `the destination writes only ${DESTINATION_FIELDS.join(', ')} of a migration`;
    }
    // The source keeps a host's guards: it records what it sees, not what the user asked for.
    if (next.generation !== prev.generation || next.owner !== prev.owner) return 'a host records what it sees, not what the user asked for';
    if (!isDeepStrictEqual(next.disks, prev.disks)) return 'a migrating VM keeps its disks until the settle';
    return undefined;
  }
  // The settle: back to running, the record moved to lastMigration.
  const last = next.lastMigration;
  if (to !== 'running') return `a migration settles to running, not ${to}`;
  if (!allowed?.includes(role === 'scheduler' ? 'scheduler' : 'host')) return `${from} → ${to} is not a move the ${role} makes`;
  if (!last || last.id !== pm.id || !FINAL.includes(last.phase)) return 'the settle keeps the migration as lastMigration, completed, failed or cancelled';
  const roles = MIGRATION_PHASES[pm.phase][last.phase];
  if (!roles?.includes(role) || role === 'destination' || role === 'api') return `settling a ${pm.phase} migration as ${last.phase} is not the ${role}’s move`;
  // A migration whose source host died cannot be settled by it: the scheduler fails it (HOST_DEAD), never completes it.
  if (role === 'scheduler' && pm.destination !== undefined && !(last.phase === 'failed' && last.error?.code === 'HOST_DEAD')) return 'the scheduler settles only a migration that found no destination, or one whose source host is dead (failed, HOST_DEAD)';
  const host = last.phase === 'completed' ? pm.destination : prev.host;
  if (next.host !== host) return last.phase === 'completed' ? `a completed migration moves the VM to ${pm.destination}` : 'a migration that did not complete leaves the VM where it was';
  if (next.desired !== prev.desired) return 'settling a migration keeps the intent';
  // A completed disk copy: the VM runs on the destination's copies; any other settle keeps the disks it had.
  const disks = last.phase === 'completed' && pm.mode === 'copy' ? pm.disks : prev.disks;
  if (!disks || !isDeepStrictEqual(next.disks, disks)) {
    return last.phase === 'completed' && pm.mode === 'copy' ? 'a completed disk copy switches the VM to the copies its destination named' : 'a migration without a completed disk copy keeps the VM’s disks';
  }
  return undefined;
}

/**
 * Why the destination may not name `nm.disks` as its copies of the VM's
 * disks (undefined: it may): only in mode copy, once, one per disk with the
 * same name, store, format and size, each a standalone volume under a ref
 * the VM does not use, so the settle can never point the VM at its own old
 * volumes (which the source deletes) nor change what it has.
 */
function diskCopiesRefusal(prev: Vm, pm: VmMigration, nm: VmMigration): string | undefined {
  if (nm.mode !== 'copy') return 'only a migration that copies disks has disk copies';
  if (pm.disks !== undefined) return 'the disk copies are named once';
  const copies = nm.disks ?? [];
  if (copies.length !== prev.disks.length) return 'one disk copy for each of the VM’s disks';
  const used = new Set(prev.disks.map((d) => `${d.store}/${d.ref}`));
  for (const [i, d] of prev.disks.entries()) {
    const c = copies[i]!;
    if (c.name !== d.name || c.store !== d.store || c.format !== d.format || c.sizeBytes !== d.sizeBytes) return `disk copy ${i} is not a copy of disk ${d.name}`;
    if (c.standalone !== true) return `disk copy ${c.name} is not standalone (it must have no backing image)`;
    if (used.has(`${c.store}/${c.ref}`)) return `disk copy ${c.name} reuses a volume the VM has`;
    used.add(`${c.store}/${c.ref}`);
  }
  return undefined;
}

/**
 * Refuses a write of a VM record that `actor` may not make: throws
 * VM_TRANSITION_REFUSED naming the move and the actor. `next` undefined: the
 * record is deleted.
 */
export function checkVmWrite(prev: Vm | undefined, next: Vm | undefined, actor: VmActor): void {
  const why = vmWriteRefusal(prev, next, actor);
  if (why === undefined) return;
  const name = (prev ?? next)?.name ?? '?';
  const phase = (vm: Vm | undefined) => (vm?.migration ? `/${vm.migration.phase}` : '');
  const to = next ? `${next.status}${phase(next)}` : 'deleted';
  throw new UcloudError('VM_TRANSITION_REFUSED', `VM "${name}": ${prev ? `${prev.status}${phase(prev)}` : 'new'} → ${to} refused for ${actorName(actor)}: ${why}`, {
    details: { vm: (prev ?? next)?.id, from: prev?.status ?? 'new', to: next?.status ?? 'deleted', actor: actorName(actor) },
  });
}

/** The status table as Markdown (docs/architecture.md, "VM state machine"). */
export function vmTransitionsMarkdown(): string {
  const lines = ['| from | to: who may move it |', '|---|---|'];
  for (const [from, row] of Object.entries(VM_TRANSITIONS)) {
    lines.push(`| ${from} | ${Object.entries(row).map(([to, roles]) => `${to}: ${roles!.join(', ')}`).join('; ')} |`);
  }
  lines.push('', '| migration phase | to: who may move it |', '|---|---|');
  for (const [from, row] of Object.entries(MIGRATION_PHASES)) {
    lines.push(`| ${from} | ${Object.entries(row).map(([to, roles]) => `${to}: ${roles!.join(', ')}`).join('; ')} |`);
  }
  return lines.join('\n');
}
