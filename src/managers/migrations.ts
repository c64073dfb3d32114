import { randomUUID } from 'node:crypto';
import { UcloudError, type ErrorCode } from '../common/errors.js';
import { qemuMismatch } from '../common/qemu-compat.js';
import { formatSize } from '../common/units.js';
import { nowIso, type Host, type HostAllocation, type MigrationFigures, type MigrationPhase, type Vm, type VmMigration, type VmQemu } from '../model/index.js';
import type { VmActor } from '../model/vm-lifecycle.js';
import { migrationModeOf } from '../storage/capabilities.js';
import { Keys, Kinds } from '../store/keys.js';
import type { EventLog } from '../store/event-log.js';
import type { Store, Txn, Versioned } from '../store/store.js';
import { diskStoreDrivers } from './store-drivers.js';
import { resourcesOf, stageBooking, stageVmWrite } from './vms.js';

// A migration's records: the request (API), the destination's choice and a
// drain's moves (scheduler), and the settling of a migration (hosts). Every
// write is one compare-and-swap of the VM record with the bookings it changes,
// so a VM is never booked on neither host, nor twice on one.

export class MigrationManager {
  /** `events`: where a migration's end is recorded ('vm.migrated'), so `ucloud events` and the dashboard's live view learn of it; the API records the request itself. */
  constructor(
    private readonly store: Store,
    private readonly opts: { actor: VmActor; events?: EventLog },
  ) {}

  /** A migration that ended: moved (ok), or stayed where it was (error, with the code). */
  private recordEnd(vm: Vm): void {
    const m = vm.lastMigration;
    const a = this.opts.actor;
    if (!this.opts.events || !m || (a.kind !== 'host' && a.kind !== 'scheduler')) return;
    const moved = m.phase === 'completed';
    void this.opts.events.record({
      actor: a.kind === 'host' ? { kind: 'host', name: a.name } : { kind: 'scheduler', name: 'scheduler' },
      action: 'vm.migrated',
      object: { kind: 'vm', id: vm.id, name: vm.name, owner: vm.owner },
      result: moved ? 'ok' : 'error',
      ...(moved
        ? { message: `moved from ${m.source} to ${m.destination}${m.figures ? ` in ${m.figures.totalMs} ms (downtime ${m.figures.downtimeMs} ms)` : ''}` }
        : { code: m.error?.code ?? 'MIGRATION_FAILED', message: `stayed on ${m.source}: ${m.phase}${m.error ? `: ${m.error.message}` : ''}`.slice(0, 1000) }),
    });
  }

  private write(t: Txn, prev: Versioned<Vm>, next: Vm): Txn {
    return stageVmWrite(t, prev, next, this.opts.actor);
  }

  /** The mode the VM's disks call for. */
  async modeFor(vm: Vm): Promise<VmMigration['mode']> {
    return migrationModeOf((await diskStoreDrivers(this.store, vm)).map((d) => d?.capabilities));
  }

  /**
   * Starts a live migration of VM `id` to host `to` (absent: the scheduler
   * picks one). One transaction: the VM goes running → migrating with its
   * migration sub-record (phase requested), and, with `to`, the booking on
   * `to`'s allocation, checked against its allowed capacity as `assign` does.
   * Each refusal has its code and writes nothing.
   */
  async request(id: string, to: string | undefined, caller: string): Promise<Vm> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const vm = await this.store.get(Kinds.vm, Keys.vm(id));
      if (!vm) throw new UcloudError('VM_NOT_FOUND', 'the VM does not exist');
      const cur = vm.value;
      if (cur.migration || cur.status === 'migrating') {
        throw new UcloudError('MIGRATION_IN_PROGRESS', `VM "${cur.name}" is already migrating from ${cur.migration?.source ?? cur.host} to ${cur.migration?.destination ?? 'a host the scheduler picks'}`);
      }
      if (cur.status !== 'running' || cur.desired !== 'running' || !cur.host) {
        throw new UcloudError('VM_NOT_RUNNING', `VM "${cur.name}" is ${cur.status}${cur.desired !== 'running' ? ` (asked to be ${cur.desired})` : ''}: only a running VM migrates live`);
      }
      const source = cur.host;
      // `copy`: a disk on a store not every host sees; the hosts copy it live (src/host/migration/disk-copy.ts).
      const mode = await this.modeFor(cur);
      // Only the source settles a migration: one whose source is gone could never end.
      const sourceAlive = await this.store.get(Kinds.hostAlive, Keys.hostAlive(source));
      if (!sourceAlive) throw new UcloudError('HOST_DEAD', `VM "${cur.name}" runs on ${source}, whose agent is not running: it cannot send the VM`);
      const now = nowIso();
      const migration: VmMigration = { id: randomUUID(), source, phase: 'requested', mode, requestedBy: caller, startedAt: now, updatedAt: now };
      const next: Vm = { ...cur, status: 'migrating', migration, updatedAt: now };
      delete next.reason;
      if (to === undefined) {
        if (await this.write(this.store.txn(), vm, next).commit()) return next;
        continue;
      }
      if (to === source) throw new UcloudError('MIGRATION_SAME_HOST', `VM "${cur.name}" already runs on ${to}`);
      const [hostRec, alive, alloc] = await Promise.all([
        this.store.get(Kinds.host, Keys.host(to)),
        this.store.get(Kinds.hostAlive, Keys.hostAlive(to)),
        this.store.get(Kinds.hostAlloc, Keys.hostAlloc(to)),
      ]);
      if (!hostRec) throw new UcloudError('HOST_NOT_FOUND', `host "${to}" is not registered`);
      if (hostRec.value.drained) throw new UcloudError('HOST_DRAINED', `host "${to}" is drained`);
      if (!alive) throw new UcloudError('HOST_DEAD', `host "${to}" has no agent running`);
      // The destination rebuilds the VM's machine: its QEMU must offer the recorded machine type and CPU model.
      const unfit = cur.qemu && qemuMismatch({ machine: cur.qemu.machine, cpu: cur.qemu.cpu, hostCpu: sourceAlive.value.qemu?.hostCpu }, alive.value.qemu);
      if (unfit) throw new UcloudError('HOST_INCOMPATIBLE', `host "${to}" cannot run VM "${cur.name}": ${unfit}`);
      migration.destination = to;
      // Staged once complete: the mirrors it writes follow the destination.
      const t = this.write(this.store.txn(), vm, next);
      if (!stageBooking(t, to, id, resourcesOf(cur), alloc, hostRec)) {
        throw new UcloudError('NO_CAPACITY', `host "${to}" has no room for VM "${cur.name}" (${cur.cpu} vCPU, ${formatSize(cur.ramBytes)} RAM, ${formatSize(resourcesOf(cur).diskBytes)} disk)`, {
          hint: 'see `ucloud host list` (used/allowed), or leave --to out to let the scheduler pick a host',
        });
      }
      if (await t.commit()) return next;
    }
    throw new UcloudError('CONFLICT', `VM ${id} kept changing while its migration was requested`);
  }

  /** Asks the source to cancel the migration under way; it settles it as cancelled. */
  async cancel(id: string): Promise<Vm> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const vm = await this.store.get(Kinds.vm, Keys.vm(id));
      if (!vm || vm.value.desired === 'deleted') throw new UcloudError('VM_NOT_FOUND', 'the VM does not exist');
      const m = vm.value.migration;
      if (!m) throw new UcloudError('NO_MIGRATION', `VM "${vm.value.name}" is not migrating`);
      if (m.cancel) return vm.value;
      const now = nowIso();
      const next: Vm = { ...vm.value, migration: { ...m, cancel: true, updatedAt: now }, updatedAt: now };
      if (await this.write(this.store.txn(), vm, next).commit()) return next;
    }
    throw new UcloudError('CONFLICT', `VM ${id} kept changing while its migration was cancelled`);
  }

  /**
   * The scheduler's choice for a requested migration without a destination:
   * the destination written and booked in one compare-and-swap (VM, host
   * record, allocation as read). False: something changed or it no longer
   * fits; re-plan from fresh caches.
   */
  async book(vm: Versioned<Vm>, to: string, hostRec: Versioned<Host>, alloc: Versioned<HostAllocation> | undefined): Promise<boolean> {
    const m = vm.value.migration;
    if (!m || m.phase !== 'requested' || m.destination || m.cancel) return false;
    const now = nowIso();
    const next: Vm = { ...vm.value, migration: { ...m, destination: to, updatedAt: now }, updatedAt: now };
    const t = this.write(this.store.txn(), vm, next);
    return stageBooking(t, to, vm.value.id, resourcesOf(vm.value), alloc, hostRec) && t.commit();
  }

  /**
   * A drain's move: the running VM goes to migrating with `to` chosen and
   * booked, in one compare-and-swap, as `request` with a destination does.
   */
  async startMove(vm: Versioned<Vm>, to: string, hostRec: Versioned<Host>, alloc: Versioned<HostAllocation> | undefined, mode: VmMigration['mode'], caller: string): Promise<boolean> {
    const cur = vm.value;
    if (cur.migration || cur.status !== 'running' || cur.desired !== 'running' || !cur.host || cur.host === to) return false;
    const now = nowIso();
    const migration: VmMigration = { id: randomUUID(), source: cur.host, destination: to, phase: 'requested', mode, requestedBy: caller, startedAt: now, updatedAt: now };
    const next: Vm = { ...cur, status: 'migrating', migration, updatedAt: now };
    delete next.reason;
    const t = this.write(this.store.txn(), vm, next);
    return stageBooking(t, to, cur.id, resourcesOf(cur), alloc, hostRec) && t.commit();
  }

  /**
   * Settles a requested migration that never got a destination (none fits, or
   * it was cancelled first): back to running where it is, the sub-record kept
   * as `lastMigration` with its error. Nothing was booked but the source.
   */
  async settleUnplaced(vm: Versioned<Vm>, outcome: { phase: 'failed' | 'cancelled'; code?: ErrorCode; message?: string }): Promise<boolean> {
    const m = vm.value.migration;
    if (!m || m.destination || m.phase !== 'requested') return false;
    const now = nowIso();
    const last: VmMigration = { ...m, phase: outcome.phase, updatedAt: now };
    if (outcome.code) last.error = { code: outcome.code, message: outcome.message ?? outcome.code, at: now };
    const next: Vm = { ...vm.value, status: 'running', lastMigration: last, updatedAt: now };
    delete next.migration;
    const done = await this.write(this.store.txn(), vm, next).commit();
    if (done) this.recordEnd(next);
    return done;
  }

  /**
   * The switch-over happened (source host): the VM is the destination's
   * (host, qemu, and in mode copy the disk copies the destination made as its
   * `disks`), the migration becomes `lastMigration` with its figures, and the
   * source's booking goes, in one compare-and-swap. False when the record no
   * longer holds this migration.
   */
  async settleCompleted(vm: Pick<Vm, 'id' | 'migration'>, figures: MigrationFigures, qemu: VmQemu): Promise<boolean> {
    return this.settleMoved(vm, (cur, m, now) => {
      if (!m.destination) throw new UcloudError('INTERNAL', 'a completed migration without a destination');
      if (m.mode === 'copy' && !m.disks) throw new UcloudError('INTERNAL', 'a completed disk copy without the copies');
      const disks = m.mode === 'copy' ? m.disks! : cur.disks;
      const next: Vm = { ...cur, host: m.destination, status: 'running', qemu, disks, lastMigration: { ...m, phase: 'completed', figures, updatedAt: now }, updatedAt: now };
      delete next.migration;
      // The source's incarnation and arming stay behind: the destination stamps its own epoch and arms it anew.
      delete next.epoch;
      delete next.haArmed;
      return { next, release: m.source };
    });
  }

  /**
   * The migration ended without a switch-over (source host): the VM runs on
   * the source as before, the migration becomes `lastMigration` with its
   * error, and the destination's booking goes (its agent then removes what
   * it prepared, seeing its mirror go).
   */
  async settleFailed(vm: Pick<Vm, 'id' | 'migration'>, phase: 'failed' | 'cancelled', error: { code: string; message: string }, onlyIn?: readonly MigrationPhase[]): Promise<boolean> {
    return this.settleMoved(vm, (cur, m, now) => {
      // `onlyIn`: a caller that read an older record (the scheduler's cache) must not settle a migration that has moved on since.
      if (onlyIn && !onlyIn.includes(m.phase)) return undefined;
      const last: VmMigration = { ...m, phase, error: { ...error, at: now }, updatedAt: now };
      delete last.destinationQemu;
      const next: Vm = { ...cur, status: 'running', lastMigration: last, updatedAt: now };
      delete next.migration;
      return m.destination ? { next, release: m.destination } : { next };
    });
  }

  private async settleMoved(vm: Pick<Vm, 'id' | 'migration'>, fn: (cur: Vm, m: VmMigration, now: string) => { next: Vm; release?: string } | undefined): Promise<boolean> {
    const id = vm.migration?.id;
    for (let attempt = 0; attempt < 20; attempt++) {
      const cur = await this.store.get(Kinds.vm, Keys.vm(vm.id));
      const m = cur?.value.migration;
      if (!cur || !m || m.id !== id) return false;
      const out = fn(structuredClone(cur.value), m, nowIso());
      if (!out) return false;
      const { next, release } = out;
      const t = this.write(this.store.txn(), cur, next);
      if (release) {
        const alloc = await this.store.get(Kinds.hostAlloc, Keys.hostAlloc(release));
        if (alloc?.value.vms[vm.id]) {
          const rest = { ...alloc.value.vms };
          delete rest[vm.id];
          t.unchanged(alloc).put(Kinds.hostAlloc, alloc.key, { vms: rest });
        }
      }
      if (await t.commit()) {
        this.recordEnd(next);
        return true;
      }
    }
    throw new UcloudError('CONFLICT', `VM ${vm.id} kept changing while its migration was settled`);
  }

  /** Why a drained host's VM stays (it fits nowhere); written only when it changed. */
  async tellStays(vm: Versioned<Vm>, reason: string): Promise<boolean> {
    if (vm.value.reason === reason || vm.value.status !== 'running' || vm.value.migration) return false;
    return this.write(this.store.txn(), vm, { ...vm.value, reason, updatedAt: nowIso() }).commit();
  }
}
