import { nowIso, type HostAlive, type Vm } from '../model/index.js';
import type { VmActor } from '../model/vm-lifecycle.js';
import { Keys, Kinds } from '../store/keys.js';
import type { Store, Txn, Versioned } from '../store/store.js';
import { stageVmWrite } from './vms.js';

/**
 * The scheduler's writes for a VM on a dead host (src/scheduler/failover.ts
 * decides when). Each is one transaction that holds only while the host is
 * still as dead as it was seen: its presence record absent, or the one seen
 * (another incarnation's), unchanged.
 */
export class FailoverManager {
  constructor(
    private readonly store: Store,
    private readonly actor: VmActor,
  ) {}

  private guard(t: Txn, host: string, alive: Versioned<HostAlive> | undefined): Txn {
    return alive ? t.unchanged(alive) : t.absent(Keys.hostAlive(host));
  }

  /** An armed HA VM on shared storage: unplaced (pending, no host), its booking on the dead host released: the scheduler places it again. */
  async restartElsewhere(vm: Versioned<Vm>, alive: Versioned<HostAlive> | undefined): Promise<boolean> {
    const from = vm.value.host!;
    const at = nowIso();
    const next: Vm = { ...vm.value, status: 'pending', reason: `host ${from} died: restarting elsewhere`, lastFailover: { from, at, code: 'HOST_DEAD', restarted: true }, updatedAt: at };
    delete next.host;
    delete next.epoch;
    delete next.qemu;
    delete next.haArmed;
    delete next.error;
    const t = this.guard(stageVmWrite(this.store.txn(), vm, next, this.actor), from, alive);
    const alloc = await this.store.get(Kinds.hostAlloc, Keys.hostAlloc(from));
    if (alloc?.value.vms[vm.value.id]) {
      const rest = { ...alloc.value.vms };
      delete rest[vm.value.id];
      t.unchanged(alloc).put(Kinds.hostAlloc, alloc.key, { vms: rest });
    }
    return t.commit();
  }

  /** Any other VM: marked error HOST_DEAD where it is (booked there still: its host takes it back when it returns). */
  async markHostDead(vm: Versioned<Vm>, alive: Versioned<HostAlive> | undefined, why: string): Promise<boolean> {
    const from = vm.value.host!;
    const at = nowIso();
    const next: Vm = { ...vm.value, status: 'error', error: { code: 'HOST_DEAD', message: `host ${from} died; ${why}`, at }, lastFailover: { from, at, code: 'HOST_DEAD', restarted: false }, updatedAt: at };
    return this.guard(stageVmWrite(this.store.txn(), vm, next, this.actor), from, alive).commit();
  }
}
