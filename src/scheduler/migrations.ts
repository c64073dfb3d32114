import type { Logger } from '../common/logger.js';
import { notShared, type MigrationManager } from '../managers/migrations.js';
import { resourcesOf } from '../managers/vms.js';
import type { Vm } from '../model/index.js';
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
};

type VmInformer = Informer<(typeof Kinds)['vm']['schema']>;

/** Who a drain's migrations are requested by. */
const DRAIN_CALLER = 'scheduler';
/** How long a drain waits before trying again a VM whose last migration failed. */
const RETRY_FAILED_MOVE_MS = 60_000;

/** The placement request for moving `vm` off its host: its resources, its disks' stores, never the source. */
function requestOf(vm: Vm): PlacementRequest {
  const req: PlacementRequest & { stores?: string[] } = { ...resourcesOf(vm), avoid: vm.host ? [vm.host] : [], stores: [...new Set(vm.disks.map((d) => d.store))] };
  return req;
}

export interface MigrationPassStats {
  /** Destinations chosen for requested migrations. */
  destined: number;
  /** Drain moves started. */
  moves: number;
  /** Requested migrations settled as failed (no host fits) or cancelled before a destination. */
  unplaced: number;
}

export class MigrationScheduling {
  readonly stats: MigrationPassStats = { destined: 0, moves: 0, unplaced: 0 };

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
    const drained = this.index.snapshots().filter((s) => this.index.get(s.name)?.host.value.drained);
    if (unplaced.length === 0 && drained.length === 0) return;
    const planner = new Planner(this.index.snapshots());
    await this.destine(planner, unplaced);
    await this.drain(planner, drained.map((s) => s.name));
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
        const req = requestOf({ ...vm.value, host: m.source });
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
    const mode = await this.migrations.modeFor(vm.value);
    if (mode !== 'shared') {
      const reason = `host ${from} is drained; ${notShared(vm.value).message}`;
      if (await this.migrations.tellStays(vm, reason)) this.log.info({ vm: vm.value.id, reason }, 'a drained host keeps a VM');
      return false;
    }
    const req = requestOf(vm.value);
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
