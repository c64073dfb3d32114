import type { TSchema } from 'typebox';
import type { Logger } from '../common/logger.js';
import { FailoverManager } from '../managers/failover.js';
import { MigrationManager } from '../managers/migrations.js';
import { resourcesOf, stageVmWrite, type VmManager } from '../managers/vms.js';
import { nowIso, type Vm } from '../model/index.js';
import type { EventLog } from '../store/event-log.js';
import { SCHEDULER_ACTOR, vmWriteRefusal } from '../model/vm-lifecycle.js';
import { Informer, Reconciler } from '../store/informer.js';
import { Keys, Kinds } from '../store/keys.js';
import type { Store, Versioned } from '../store/store.js';
import { ALLOC_ENTRY_BYTES, commitBatches, packBookings, TxnPacker, type Batch, type Booking } from './batch.js';
import { Failover, FAILOVER_INDEXES } from './failover.js';
import { HostIndex } from './host-index.js';
import { pendingCategory, type SchedulerMetrics } from './metrics.js';
import { MIGRATION_INDEXES, MigrationScheduling } from './migrations.js';
import { Planner, type Infeasible } from './planner.js';
import { recordPresence } from './presence-events.js';

/** Rounds of re-planning what lost a race, in one pass, before leaving the rest to the next pass. */
const MAX_ROUNDS = 10;
/**
 * VMs planned and committed together. A pass over more goes chunk after chunk,
 * so the first bookings land while later VMs are still to be planned.
 */
const CHUNK = 2000;

export interface SchedulerOptions {
  /** Batch transactions in flight at once (default 8: etcd groups concurrent ones into one fsync). */
  concurrency?: number;
  /** Compares (and ops) per transaction: etcd's --max-txn-ops. */
  maxTxnOps?: number;
  /** VMs per plan-and-commit step of a pass (default 2,000). */
  chunk?: number;
  /** Rotates the order batches are committed in, so schedulers planning alike do not all race for the same one first. */
  rotate?: boolean;
  /** Runs between planning and committing each round (tests make a race lose here). */
  onPlanned?: (batches: readonly Batch[]) => Promise<void>;
  /** Migrations off one drained host at once (config drain_parallel; default 2). */
  drainParallel?: number;
  /** The audit log: placements and failovers are recorded there. */
  events?: EventLog;
  /** failover_margin (default 2 s): src/scheduler/failover.ts. */
  failoverMarginMs?: number;
  /** The daemon's metrics (src/scheduler/metrics.ts): this scheduler reports there while it runs. */
  metrics?: SchedulerMetrics;
}

/** Counters since start, for logs and tests. */
export interface SchedulerStats {
  /** Passes finished. */
  passes: number;
  placed: number;
  /** Batch transactions refused because something they compare changed. */
  lostBatches: number;
  /** VMs planned again after their batch lost. */
  replanned: number;
}

/**
 * Places every VM that wants to run and has no host. It reads only its caches
 * (informers on vm/, host/, host-alive/, host-alloc/): the waiting VMs through
 * an index, the hosts through a HostIndex kept current by their events. A pass
 * plans every waiting VM with the indexed Planner (the same answer as the pure
 * `place`), then books them in batches, many per etcd transaction, each booking
 * still a compare-and-swap on the VM, the host record and the host's allocation.
 * A batch that loses a race books nothing: the scheduler reads what it
 * compared, waits for its caches to hold that, and re-plans only that batch's
 * VMs. Any number of schedulers can run at once without overbooking a host.
 */
export class Scheduler {
  private readonly vmInf;
  private readonly informers;
  private readonly index: HostIndex;
  /** Destinations for `vm migrate` without --to, and drains (src/scheduler/migrations.ts). */
  private readonly migrating: MigrationScheduling;
  private readonly reconciler: Reconciler;
  /** Dead hosts' VMs: restarted elsewhere (HA) or marked HOST_DEAD. */
  private readonly failover: Failover;
  /**
   * Per cache, the revision it must reach before the next plan: that of this
   * scheduler's own writes in its prefix, and of what beat a lost batch. Only
   * prefixes that hold such a change are waited on: a cache of a quiet prefix
   * has no event to reach a later revision with.
   */
  private readonly want = new Map<Informer<TSchema>, bigint>();
  private stopped = false;
  private stopPresence: (() => void) | undefined;
  /** Why each VM the last plan could not place waits, as a bounded label (pendingCategory). */
  private readonly pendingWhy = new Map<string, string>();
  readonly stats: SchedulerStats = { passes: 0, placed: 0, lostBatches: 0, replanned: 0 };

  constructor(
    private readonly store: Store,
    private readonly vms: VmManager,
    private readonly log: Logger,
    private readonly opts: SchedulerOptions = {},
  ) {
    this.vmInf = new Informer(store, Kinds.vm, Keys.vms(), log, {
      indexes: {
        waiting: (v) => (wantsHost(v) ? 'yes' : undefined),
        fencing: (v) => (!v.host && v.lastFailover?.fencePending ? 'yes' : undefined),
        deleting: (v) => (v.desired === 'deleted' && v.host ? 'yes' : undefined),
        ...MIGRATION_INDEXES,
        ...FAILOVER_INDEXES,
      },
    });
    const hosts = new Informer(store, Kinds.host, Keys.hosts(), log);
    const alive = new Informer(store, Kinds.hostAlive, Keys.hostsAlive(), log);
    const allocs = new Informer(store, Kinds.hostAlloc, Keys.hostAllocs(), log);
    this.informers = [this.vmInf, hosts, alive, allocs] as const;
    this.index = new HostIndex(hosts, alive, allocs);
    const migrations = new MigrationManager(store, { actor: vms.actor, ...(opts.events ? { events: opts.events } : {}) });
    this.migrating = new MigrationScheduling(this.vmInf, this.index, migrations, log, { drainParallel: opts.drainParallel ?? 2 });
    this.reconciler = new Reconciler(() => this.pass(), log, 10_000);
    this.failover = new Failover(this.vmInf, hosts, alive, new FailoverManager(store, vms.actor), migrations, log, { marginMs: opts.failoverMarginMs ?? 2000, trigger: () => this.reconciler.trigger(), ...(opts.events ? { events: opts.events } : {}) });
  }

  /** Fills every cache first: a pass over VMs with half the hosts' caches would tell them "no host is alive". */
  async start(): Promise<void> {
    const [vms, hosts, alive, allocs] = this.informers;
    const events = this.opts.events;
    // Presence is recorded as soon as it has listed (the VMs may take many seconds more): what changes after is news.
    const presence = alive.start().then(() => {
      if (events && !this.stopped) this.stopPresence = recordPresence(alive, events);
    });
    await Promise.all([vms.start(), hosts.start(), presence, allocs.start()]);
    for (const inf of this.informers) inf.on('change', () => this.reconciler.trigger());
    this.reconciler.start();
    if (this.opts.metrics) this.opts.metrics.source = { waiting: () => this.waitingForMetrics() };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.opts.metrics) this.opts.metrics.source = undefined;
    this.reconciler.stop();
    this.stopPresence?.();
    this.failover.stop();
    await Promise.all(this.informers.map((i) => i.stop()));
  }

  private note(inf: Informer<TSchema>, revision: bigint | string | undefined): void {
    if (revision === undefined) return;
    const rev = BigInt(revision);
    if (rev > (this.want.get(inf) ?? 0n)) this.want.set(inf, rev);
  }

  /** Waits until each cache has applied what it must (see `want`), then recounts the hosts that changed. */
  private async catchUp(): Promise<void> {
    const waits = [...this.want].map(async ([inf, rev]) => {
      if (!(await inf.waitFor(rev)) && !this.stopped) this.log.warn({ prefix: inf.prefix, revision: String(rev) }, 'cache still behind; planning with it anyway');
    });
    this.want.clear();
    await Promise.all(waits);
    this.index.refresh();
  }

  /**
   * After a lost batch: reads what its compares guarded (the VMs, host records
   * and allocations; a narrow read, straight from etcd) and notes their
   * revisions, so the caches are waited on until they hold whatever won.
   */
  private async settle(lost: readonly Booking[]): Promise<Set<string>> {
    const [vmInf, hostInf, , allocInf] = this.informers;
    const hosts = [...new Set(lost.map((b) => b.host))];
    const done = new Set<string>();
    const reads: Promise<void>[] = [
      ...lost.map((b) =>
        this.store.get(Kinds.vm, b.vm.key).then((v) => {
          // Placed or deleted meanwhile: nothing to re-plan, whatever the cache still says.
          if (!v || !wantsHost(v.value)) done.add(b.vm.key);
          this.note(vmInf, v?.modRevision);
        }),
      ),
      ...hosts.map((h) => this.store.get(Kinds.host, Keys.host(h)).then((v) => this.note(hostInf, v?.modRevision))),
      ...hosts.map((h) => this.store.get(Kinds.hostAlloc, Keys.hostAlloc(h)).then((v) => this.note(allocInf, v?.modRevision))),
    ];
    await Promise.all(reads.map((p) => p.catch((err: unknown) => this.log.warn({ err }, 'could not read what a lost batch compared'))));
    await this.catchUp();
    return done;
  }

  /** One level-triggered pass over the VMs waiting for a host. */
  async pass(): Promise<void> {
    const end = this.opts.metrics?.passDuration.startTimer();
    await this.failover.pass();
    await this.placeWaiting();
    if (!this.stopped) await this.migrating.pass();
    this.stats.passes++;
    end?.();
  }

  /** The waiting VMs and why, read at scrape time (forgetting the reasons of VMs no longer waiting). */
  private waitingForMetrics(): { createdAt: string; category: string }[] {
    const waiting = this.vmInf.byIndex('waiting', 'yes');
    const keys = new Set(waiting.map((v) => v.key));
    for (const k of this.pendingWhy.keys()) if (!keys.has(k)) this.pendingWhy.delete(k);
    return waiting.map((v) => ({ createdAt: v.value.createdAt, category: this.pendingWhy.get(v.key) ?? 'unplanned' }));
  }

  private async placeWaiting(): Promise<void> {
    await this.catchUp();
    if (this.stopped) return;
    await this.finalizeOrphans();
    const waiting = this.waiting();
    const chunk = this.opts.chunk ?? CHUNK;
    for (let i = 0; i < waiting.length && !this.stopped; i += chunk) {
      if (i > 0) await this.catchUp();
      // As cached now: a VM changed since the list is compared at its new revision, or skipped.
      const todo = waiting
        .slice(i, i + chunk)
        .map((v) => this.vmInf.get(v.key))
        .filter((v): v is Versioned<Vm> => v !== undefined && wantsHost(v.value));
      await this.placeChunk(todo);
    }
  }

  /** Plans and books `todo`, re-planning what loses a race; tells what fits nowhere why. */
  private async placeChunk(todo: Versioned<Vm>[]): Promise<void> {
    if (todo.length === 0) return;
    const unplaced = new Map<string, Versioned<Vm>>();
    let planner: Planner | undefined;
    for (let round = 0; todo.length > 0; round++) {
      if (this.stopped) return;
      if (round === MAX_ROUNDS) {
        this.log.warn({ left: todo.length }, 'still losing races after several re-plans; leaving the rest to the next pass');
        this.reconciler.trigger();
        break;
      }
      planner = new Planner(this.index.snapshots());
      const bookings: Booking[] = [];
      for (const vm of todo) {
        const res = resourcesOf(vm.value);
        const plan = planner.place(res);
        if (plan.host === null) {
          unplaced.set(vm.key, vm);
          continue;
        }
        planner.book(plan.host, res);
        unplaced.delete(vm.key);
        bookings.push({ vm, host: plan.host, res, epoch: this.index.get(plan.host)?.snap.epoch });
      }
      if (bookings.length === 0) break;
      const batches = packBookings(this.store, bookings, this.opts.maxTxnOps, (h) => Object.keys(this.index.get(h)?.alloc?.value.vms ?? {}).length * ALLOC_ENTRY_BYTES);
      if (this.opts.rotate !== false && batches.length > 1) batches.push(...batches.splice(0, Math.floor(Math.random() * batches.length)));
      await this.opts.onPlanned?.(batches);
      const r = await commitBatches(this.index, batches, this.opts.concurrency);
      this.note(this.vmInf, r.committed || undefined);
      this.note(this.informers[3], r.committed || undefined);
      this.stats.placed += r.placed.length;
      this.stats.lostBatches += r.lostBatches;
      this.opts.metrics?.placements.inc(r.placed.length);
      this.opts.metrics?.lostBatches.inc(r.lostBatches);
      if (r.placed.length) this.log.info({ placed: r.placed.length, batches: batches.length, lost: r.failed.length }, 'placed');
      if (this.opts.events) {
        // Placement waits for the audit log rather than outrun a slow etcd until the log drops events.
        await this.opts.events.roomFor(r.placed.length);
        recordPlaced(this.opts.events, r.placed);
      }
      if (r.failed.length === 0) break;
      // Lost a race: see what won before planning those VMs again, and only those.
      const done = await this.settle(r.failed);
      todo = r.failed
        .filter((b) => !done.has(b.vm.key))
        .map((b) => this.vmInf.get(b.vm.key))
        .filter((v): v is Versioned<Vm> => v !== undefined && wantsHost(v.value));
      this.stats.replanned += todo.length;
    }
    // Counted once the plan is made, so the reason's figures are those the VMs are left with.
    const last = planner;
    if (last) await this.markPending([...unplaced.values()].map((vm) => ({ vm, why: last.explain(resourcesOf(vm.value)) })));
  }

  /** VMs that want to run and have no host, oldest first. */
  private waiting(): Versioned<Vm>[] {
    const cmp = (x: string, y: string) => (x < y ? -1 : x > y ? 1 : 0);
    return this.vmInf.byIndex('waiting', 'yes').sort((a, b) => cmp(a.value.createdAt, b.value.createdAt) || cmp(a.key, b.key));
  }

  /**
   * A VM whose host is gone can still be deleted: nothing will run on a dead
   * host, and a host that comes back removes what it finds without a record.
   */
  private async finalizeOrphans(): Promise<void> {
    for (const vm of this.vmInf.byIndex('deleting', 'yes')) {
      if (this.index.isAlive(vm.value.host!)) continue;
      this.log.info({ vm: vm.value.id, host: vm.value.host }, 'deleting a VM whose host is not alive');
      await this.vms.finalizeDelete(vm.value.id, { onlyIfHostDead: true }).catch((err: unknown) => this.log.warn({ err, vm: vm.value.id }, 'could not finalize the delete'));
    }
  }

  /**
   * Tells each VM that fits nowhere why, in batched writes; an unchanged reason
   * is not written again. Each write compares the VM as cached, so a VM placed
   * or changed meanwhile is left alone (its change triggers another pass).
   */
  private async markPending(unplaced: { vm: Versioned<Vm>; why: Infeasible }[]): Promise<void> {
    const packer = new TxnPacker(this.store, this.opts.maxTxnOps);
    const logged = new Set<Infeasible>();
    for (const { vm: planned, why } of unplaced) {
      this.pendingWhy.set(planned.key, pendingCategory(why));
      const vm = this.vmInf.get(planned.key);
      if (!vm || !wantsHost(vm.value)) continue;
      if (vm.value.status === 'pending' && vm.value.reason === why.reason) continue;
      if (!logged.has(why)) {
        logged.add(why);
        this.log.info({ reason: why.reason, hosts: why.hosts, filtered: Object.fromEntries(why.checks.map((c) => [c.check, c.filtered])) }, 'fits nowhere');
      }
      const next: Vm = { ...vm.value, status: 'pending', reason: why.reason, updatedAt: nowIso() };
      // A record the state machine will not let the scheduler touch is left as it is, not fatal to the pass.
      const refused = vmWriteRefusal(vm.value, next, SCHEDULER_ACTOR);
      if (refused) {
        this.log.warn({ vm: vm.value.id, status: vm.value.status, refused }, 'not marking the VM pending');
        continue;
      }
      packer.stage((t) => stageVmWrite(t, vm, next, SCHEDULER_ACTOR));
    }
    // A refused write means the VM changed: that change is an event, and its pass tells it again if need be.
    const ok = await Promise.all(packer.txns.map((t) => t.commit().catch(() => false)));
    packer.txns.forEach((t, i) => {
      if (ok[i]) this.note(this.vmInf, t.revision);
    });
  }
}

/**
 * Queued all at once, in order: the log writes them in full batches. (Waiting
 * for each one's write first let a pass's events in one per batch, and a
 * backlog's placements reached the log over minutes, etcd busy all along.)
 */
function recordPlaced(events: EventLog, placed: readonly Booking[]): void {
  for (const b of placed) {
    const v = b.vm.value;
    void events.record({ actor: { kind: 'scheduler', name: 'scheduler' }, action: 'vm.placed', object: { kind: 'vm', id: v.id, name: v.name, owner: v.owner }, result: 'ok', message: `placed on ${b.host}` });
  }
}

/** Asked to run, without a host, and not waiting for a dead host's storage to be fenced (Failover). */
function wantsHost(vm: Vm): boolean {
  return vm.desired === 'running' && !vm.host && vm.lastFailover?.fencePending !== true;
}
