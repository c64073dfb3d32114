import type { Logger } from '../common/logger.js';
import type { MigrationManager } from '../managers/migrations.js';
import { resourcesOf } from '../managers/vms.js';
import type { MigrationPhase, Vm } from '../model/index.js';
import type { Informer } from '../store/informer.js';
import type { Kinds } from '../store/keys.js';
import type { Versioned } from '../store/store.js';
import type { HostIndex } from './host-index.js';
import type { PlacementRequest } from './place.js';
import { Planner } from './planner.js';

// The scheduler's share of migrations: a destination for each requested
// migration that has none (`vm migrate` without --to), and the moves that
// empty a drained host, a few at a time. Both plan with the same Planner and
// feasibility checks as placement, avoiding the source, and each booking is
// one compare-and-swap of the VM with the destination's allocation and host
// record (MigrationManager), so a lost race books nothing: the change that
// beat it is an event, and the next pass plans again.

/** The vm/ cache's indexes this needs (added to the scheduler's VM informer). */
export const MIGRATION_INDEXES = {
  /** Requested migrations still without a destination. */
  unplacedMigration: (v: Vm) => (v.migration?.phase === 'requested' && !v.migration.destination ? 'yes' : undefined),
  /** VMs by the host they run on: a drained host's are moved. */
  onHost: (v: Vm) => v.host,
  /** Migrations under way by source host: a dead source's are settled here (it cannot). */
  migratingFrom: (v: Vm) => v.migration?.source,
};

/** Phases a dead source's migration is settled failed in: before `migrate`, the guest surely still is on the source. */
const DEAD_SOURCE_SETTLES: readonly MigrationPhase[] = ['requested', 'preparing', 'listening'];

type VmInformer = Informer<(typeof Kinds)['vm']['schema']>;

/** Who a drain's migrations are requested by. */
const DRAIN_CALLER = 'scheduler';
/** How long a drain waits before trying again a VM whose last migration failed. */
const RETRY_FAILED_MOVE_MS = 60_000;

/**
 * The placement request for moving `vm` off its host: its resources, its
 * disks' stores, its machine type and CPU model (`hostCpu`: the source's
 * signature, which a `host`/`max` CPU needs matched), never the source.
 */
function requestOf(vm: Vm, hostCpu?: string): PlacementRequest {
  const req: PlacementRequest & { stores?: string[] } = { ...resourcesOf(vm), avoid: vm.host ? [vm.host] : [], stores: [...new Set(vm.disks.map((d) => d.store))] };
  if (vm.qemu?.machine || vm.qemu?.cpu) req.qemu = { machine: vm.qemu.machine, cpu: vm.qemu.cpu, hostCpu };
  return req;
}

export interface MigrationPassStats {
  /** Destinations chosen for requested migrations. */
  destined: number;
  /** Drain moves started. */
  moves: number;
  /** Requested migrations settled as failed (no host fits) or cancelled before a destination. */
  unplaced: number;
  /** Migrations settled as failed because their source host is dead. */
  orphaned: number;
}

export class MigrationScheduling {
  readonly stats: MigrationPassStats = { destined: 0, moves: 0, unplaced: 0, orphaned: 0 };
  /** Migrations of dead sources caught in the transfer, logged once each. */
  private readonly leftToOperator = new Set<string>();

  constructor(
    private readonly vms: VmInformer,
    private readonly index: HostIndex,
    private readonly migrations: MigrationManager,
    private readonly log: Logger,
    private readonly opts: { drainParallel: number },
  ) {}

  /** One pass over the caches as they are now (the caller caught them up). Errors are logged: the next pass retries. */
  async pass(): Promise<void> {
    const unplaced = this.vms.byIndex('unplacedMigration', 'yes');
    await this.settleDeadSources();
    const drained = this.index.snapshots().filter((s) => this.index.get(s.name)?.host.value.drained);
    if (unplaced.length === 0 && drained.length === 0) return;
    const planner = new Planner(this.index.snapshots());
    await this.destine(planner, unplaced);
    await this.drain(planner, drained.map((s) => s.name));
  }

  /**
   * Only the source settles a migration, so one whose source host is dead
   * (its presence gone) would stay migrating, and undeletable, for ever: it
   * is settled failed with HOST_DEAD, the destination's booking released
   * (the destination's agent, seeing its mirror go, removes its incoming
   * QEMU). The VM is then like any other on a dead host.
   * Only before the transfer (DEAD_SOURCE_SETTLES): once `migrate` may have
   * run, the guest may already run on the destination, on disks only it holds
   * up to date, and failing the migration would have its agent destroy them.
   */
  private async settleDeadSources(): Promise<void> {
    for (const snap of this.index.snapshots()) {
      if (snap.alive) continue;
      for (const vm of this.vms.byIndex('migratingFrom', snap.name)) {
        const m = vm.value.migration;
        if (!m || m.source !== snap.name || !m.destination) continue;
        if (!DEAD_SOURCE_SETTLES.includes(m.phase)) {
          if (this.leftToOperator.has(m.id)) continue;
          this.leftToOperator.add(m.id);
          this.log.error({ vm: vm.value.id, from: m.source, to: m.destination, phase: m.phase, code: 'HOST_DEAD' }, 'the source host of a migration died during the transfer: left for an operator (the guest may run on the destination)');
          continue;
        }
        try {
          const message = `the source host ${snap.name} died during the migration (phase ${m.phase}); the VM stays on it`;
          if (await this.migrations.settleFailed(vm.value, 'failed', { code: 'HOST_DEAD', message }, DEAD_SOURCE_SETTLES)) {
            this.stats.orphaned++;
            this.log.warn({ vm: vm.value.id, from: m.source, to: m.destination, phase: m.phase }, 'migration settled failed: its source host is dead');
          }
        } catch (err) {
          this.log.warn({ err, vm: vm.value.id }, 'could not settle the migration of a dead source');
        }
      }
    }
  }

  /** A destination for every requested migration without one; none fits: settled as failed with the reason. */
  private async destine(planner: Planner, unplaced: Versioned<Vm>[]): Promise<void> {
    for (const vm of unplaced) {
      const m = vm.value.migration!;
      try {
        if (m.cancel) {
          if (await this.migrations.settleUnplaced(vm, { phase: 'cancelled' })) this.stats.unplaced++;
          continue;
        }
        const req = requestOf({ ...vm.value, host: m.source }, this.index.get(m.source)?.snap.qemu?.hostCpu);
        const plan = planner.place(req);
        if (plan.host === null) {
          const why = planner.explain(req);
          this.log.info({ vm: vm.value.id, reason: why.reason }, 'no destination for a migration');
          if (await this.migrations.settleUnplaced(vm, { phase: 'failed', code: 'NO_CAPACITY', message: why.reason })) this.stats.unplaced++;
          continue;
        }
        const entry = this.index.get(plan.host)!;
        if (await this.migrations.book(vm, plan.host, entry.host, entry.alloc)) {
          planner.book(plan.host, req);
          this.stats.destined++;
          this.log.info({ vm: vm.value.id, from: m.source, to: plan.host }, 'migration destination chosen');
        }
      } catch (err) {
        this.log.warn({ err, vm: vm.value.id }, 'could not choose a migration destination');
      }
    }
  }

  /**
   * Starts moves off each drained host, up to drain_parallel migrations from it
   * at once, oldest VM first. A VM that fits nowhere stays, its reason saying
   * why; it is tried again on the next pass (any booking or host change).
   */
  private async drain(planner: Planner, hosts: string[]): Promise<void> {
    for (const host of hosts) {
      const here = this.vms.byIndex('onHost', host);
      let slots = this.opts.drainParallel - here.filter((v) => v.value.migration?.source === host).length;
      const movable = here
        .filter((v) => v.value.status === 'running' && v.value.desired === 'running' && !v.value.migration)
        .sort((a, b) => (a.value.createdAt < b.value.createdAt ? -1 : a.value.createdAt > b.value.createdAt ? 1 : a.key < b.key ? -1 : 1));
      for (const vm of movable) {
        if (slots <= 0) break;
        try {
          if (await this.move(planner, vm, host)) slots--;
        } catch (err) {
          this.log.warn({ err, vm: vm.value.id }, 'could not start a drain move');
        }
      }
    }
  }

  /** True when the move started. */
  private async move(planner: Planner, vm: Versioned<Vm>, from: string): Promise<boolean> {
    // A move that failed is not started again at once: each pass would repeat it.
    const last = vm.value.lastMigration;
    if (last && last.phase !== 'completed' && Date.now() - Date.parse(last.updatedAt) < RETRY_FAILED_MOVE_MS) return false;
    // A VM with a disk on a store not every host sees moves too: its disks are copied live (mode copy).
    const mode = await this.migrations.modeFor(vm.value);
    const req = requestOf(vm.value, this.index.get(from)?.snap.qemu?.hostCpu);
    const plan = planner.place(req);
    if (plan.host === null) {
      const reason = `host ${from} is drained; ${planner.explain(req).reason}`;
      if (await this.migrations.tellStays(vm, reason)) this.log.info({ vm: vm.value.id, reason }, 'a drained host keeps a VM');
      return false;
    }
    const entry = this.index.get(plan.host)!;
    if (!(await this.migrations.startMove(vm, plan.host, entry.host, entry.alloc, mode, DRAIN_CALLER))) return false;
    planner.book(plan.host, req);
    this.stats.moves++;
    this.log.info({ vm: vm.value.id, from, to: plan.host }, 'drain: migration started');
    return true;
  }
}
