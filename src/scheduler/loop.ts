import type { Logger } from '../common/logger.js';
import type { HostManager } from '../managers/hosts.js';
import { resourcesOf, type VmManager } from '../managers/vms.js';
import type { Vm } from '../model/index.js';
import { Informer, Reconciler } from '../store/informer.js';
import { Keys, Kinds } from '../store/keys.js';
import type { Store } from '../store/store.js';
import { place } from './place.js';

/**
 * Places every VM that wants to run and has no host. Each pass reads a fresh
 * snapshot from etcd (the informers only say *when* to look), plans with the pure
 * `place`, and books with a compare-and-swap on both the VM and the host's
 * allocation; a lost race re-reads and re-plans. Any number of schedulers can run
 * at once without overbooking a host.
 */
export class Scheduler {
  private readonly informers;
  private readonly reconciler: Reconciler;

  constructor(
    private readonly store: Store,
    private readonly vms: VmManager,
    private readonly hosts: HostManager,
    private readonly log: Logger,
  ) {
    this.informers = [
      new Informer(store, Kinds.vm, Keys.vms(), log),
      new Informer(store, Kinds.host, Keys.hosts(), log),
      new Informer(store, Kinds.hostAlive, Keys.hostsAlive(), log),
      new Informer(store, Kinds.hostAlloc, Keys.hostAllocs(), log),
    ] as const;
    this.reconciler = new Reconciler(() => this.pass(), log, 10_000);
  }

  async start(): Promise<void> {
    for (const inf of this.informers) {
      inf.on('change', () => this.reconciler.trigger());
      await inf.start();
    }
    this.reconciler.start();
  }

  async stop(): Promise<void> {
    this.reconciler.stop();
    await Promise.all(this.informers.map((i) => i.stop()));
  }

  /** One level-triggered pass over all VMs. */
  async pass(): Promise<void> {
    const { items } = await this.store.list(Kinds.vm, Keys.vms());
    const waiting = items.filter((v) => v.value.desired === 'running' && !v.value.host).sort((a, b) => a.value.createdAt.localeCompare(b.value.createdAt));
    const orphanedDeletes = items.filter((v) => v.value.desired === 'deleted' && v.value.host);
    if (waiting.length === 0 && orphanedDeletes.length === 0) return;
    let snap = await this.hosts.snapshot();
    for (const vm of waiting) {
      for (let attempt = 0; attempt < 10; attempt++) {
        const plan = place(resourcesOf(vm.value), snap.hosts);
        if (plan.host === null) {
          await this.markPending(vm.value, plan.reason);
          break;
        }
        const alloc = snap.allocs.get(Keys.hostAlloc(plan.host));
        const current = await this.store.get(Kinds.vm, vm.key);
        if (!current || current.value.host || current.value.desired !== 'running') break;
        if (await this.vms.assign(current, plan.host, alloc)) {
          this.log.info({ vm: vm.value.id, name: vm.value.name, host: plan.host }, 'placed');
          snap = await this.hosts.snapshot();
          break;
        }
        snap = await this.hosts.snapshot();
      }
    }
    // A VM whose host is gone can still be deleted: nothing will run on a dead
    // host, and a host that comes back removes what it finds without a record.
    const aliveNames = new Set(snap.hosts.filter((h) => h.alive).map((h) => h.name));
    for (const vm of orphanedDeletes) {
      if (!aliveNames.has(vm.value.host!)) {
        this.log.info({ vm: vm.value.id, host: vm.value.host }, 'deleting a VM whose host is not alive');
        await this.vms.finalizeDelete(vm.value.id);
      }
    }
  }

  private async markPending(vm: Vm, reason: string): Promise<void> {
    if (vm.status === 'pending' && vm.reason === reason) return;
    await this.vms.observe(vm.id, (cur) => (cur.host || cur.desired !== 'running' ? undefined : { ...cur, status: 'pending', reason }));
  }
}
