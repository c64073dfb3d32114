import { Counter, Gauge, Histogram, LATENCY_BUCKETS, type Registry } from '../common/metrics.js';
import type { Infeasible } from './planner.js';

/** What a leading scheduler tells its metrics at scrape time. */
export interface PendingSource {
  /** VMs that want a host and have none, each with when it was created and why it waits (a `pendingCategory`, or 'unplanned'). */
  waiting(): { createdAt: string; category: string }[];
}

/**
 * The scheduler's metrics (docs/metrics.md). Made once per process: a
 * scheduler is made anew at each leadership term and attaches itself here.
 */
export class SchedulerMetrics {
  readonly placements: Counter;
  readonly lostBatches: Counter;
  readonly passDuration: Histogram;
  source: PendingSource | undefined;

  constructor(registry: Registry) {
    this.placements = new Counter({ name: 'ucloud_scheduler_placements_total', help: 'VMs this scheduler booked onto a host.', registers: [registry] });
    this.lostBatches = new Counter({ name: 'ucloud_scheduler_lost_batches_total', help: 'Booking transactions refused because something they compared changed (another scheduler, a host change); their VMs are planned again.', registers: [registry] });
    this.passDuration = new Histogram({ name: 'ucloud_scheduler_pass_duration_seconds', help: 'One scheduling pass: failover, placing every waiting VM, migrations.', buckets: LATENCY_BUCKETS, registers: [registry] });
    const leader: Gauge = new Gauge({
      name: 'ucloud_scheduler_leader',
      help: '1 while this scheduler leads (places VMs), 0 on standby.',
      registers: [registry],
      collect: () => leader.set(this.source ? 1 : 0),
    });
    const byReason: Gauge<'reason'> = new Gauge({
      name: 'ucloud_scheduler_pending_vms',
      help: 'VMs that want to run and have no host, by why (the check that filtered most hosts, no_host, or unplanned: not planned yet). Only the leader reports them.',
      labelNames: ['reason'],
      registers: [registry],
      collect: () => {
        byReason.reset();
        for (const v of this.source?.waiting() ?? []) byReason.inc({ reason: v.category });
      },
    });
    const oldest: Gauge = new Gauge({
      name: 'ucloud_scheduler_oldest_pending_vm_age_seconds',
      help: 'Age (since its creation) of the oldest VM that wants to run and has no host; 0 when none waits. Only the leader reports it.',
      registers: [registry],
      collect: () => {
        // A loop, not Math.min(...): a spread of 100,000 waiting VMs overflows the stack.
        let first = Infinity;
        for (const v of this.source?.waiting() ?? []) first = Math.min(first, Date.parse(v.createdAt));
        oldest.set(Number.isFinite(first) ? Math.max(0, (Date.now() - first) / 1000) : 0);
      },
    });
  }
}

/** A bounded label for why a VM fits nowhere: the check that filtered the most hosts (alive, drained, cpu, ram, …), or no_host. */
export function pendingCategory(why: Infeasible): string {
  if (why.hosts === 0) return 'no_host';
  let best: { check: string; filtered: number } | undefined;
  for (const c of why.checks) if (c.filtered > 0 && (!best || c.filtered > best.filtered)) best = c;
  return best?.check ?? 'other';
}
