import { describe, expect, it } from 'vitest';
import { MetricsRegistry } from '../../src/common/metrics.js';
import { pendingCategory, SchedulerMetrics } from '../../src/scheduler/metrics.js';

describe('scheduler metrics', () => {
  it('names why a VM waits by the check that filtered most hosts, a bounded label', () => {
    expect(pendingCategory({ reason: 'no host is registered', hosts: 0, checks: [] })).toBe('no_host');
    const checks = (counts: Record<string, number>) => ['alive', 'avoid', 'drained', 'storage', 'qemu', 'cpu', 'ram', 'disk'].map((check) => ({ check, filtered: counts[check] ?? 0 }));
    expect(pendingCategory({ reason: 'most free: 1 vCPU, …', hosts: 5, checks: checks({ alive: 1, cpu: 4 }) })).toBe('cpu');
    expect(pendingCategory({ reason: 'no host is alive', hosts: 3, checks: checks({ alive: 3 }) })).toBe('alive');
  });

  it('reports pending VMs and the oldest one only while a scheduler leads', async () => {
    const registry = new MetricsRegistry();
    const m = new SchedulerMetrics(registry);
    expect(await registry.metrics()).toMatch(/^ucloud_scheduler_leader 0$/m);
    const old = new Date(Date.now() - 120_000).toISOString();
    m.source = { waiting: () => [{ createdAt: old, category: 'ram' }, { createdAt: new Date().toISOString(), category: 'ram' }, { createdAt: new Date().toISOString(), category: 'unplanned' }] };
    const text = await registry.metrics();
    expect(text).toMatch(/^ucloud_scheduler_leader 1$/m);
    expect(text).toMatch(/^ucloud_scheduler_pending_vms\{reason="ram"\} 2$/m);
    expect(text).toMatch(/^ucloud_scheduler_pending_vms\{reason="unplanned"\} 1$/m);
    const age = Number(/^ucloud_scheduler_oldest_pending_vm_age_seconds (\S+)$/m.exec(text)![1]);
    expect(age).toBeGreaterThanOrEqual(120);
    expect(age).toBeLessThan(180);
    m.source = undefined;
    expect(await registry.metrics()).not.toMatch(/reason="ram"/);
  });
});
