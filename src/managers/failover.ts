import { UcloudError } from '../common/errors.js';
import { nowIso, type HostAlive, type Vm } from '../model/index.js';
import { migrationModeOf } from '../storage/capabilities.js';
import { storageDriver } from '../storage/registry.js';
import type { StorageDriver } from '../storage/driver.js';
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

  /** Whether `vm` is still what etcd holds. */
  async unchanged(vm: Versioned<Vm>): Promise<boolean> {
    return (await this.store.get(Kinds.vm, Keys.vm(vm.value.id)))?.modRevision === vm.modRevision;
  }

  /** The drivers of the VM's disks' stores, by disk (undefined: the store is gone or its settings do not parse). */
  private async driversOf(vm: Vm): Promise<(StorageDriver | undefined)[]> {
    return Promise.all(
      vm.disks.map(async (d) => {
        const rec = await this.store.get(Kinds.imageStore, Keys.imageStore(d.store));
        return rec ? storageDriver(rec.value.driver, rec.value.settings).catch(() => undefined) : undefined;
      }),
    );
  }

  /**
   * `vm recover` (admins): asks the scheduler to start VM `id`, marked HOST_DEAD
   * on a host that is still dead, on another host, its storage fenced first. The
   * disks must be on shared storage; where a store cannot fence, the admin
   * vouches the host is off (`hostIsOff`), since a non-HA VM's QEMU is never
   * killed by the host's own fencing. Each refusal has its code and writes nothing.
   */
  async requestRecover(id: string, by: string, hostIsOff: boolean): Promise<Vm> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const vm = await this.store.get(Kinds.vm, Keys.vm(id));
      if (!vm || vm.value.desired === 'deleted') throw new UcloudError('VM_NOT_FOUND', 'the VM does not exist');
      const cur = vm.value;
      const host = cur.host;
      if (cur.status !== 'error' || cur.error?.code !== 'HOST_DEAD' || !host) {
        throw new UcloudError('VM_NOT_RECOVERABLE', `VM "${cur.name}" is ${cur.status}${cur.error ? ` (${cur.error.code})` : ''}, not left on a dead host`);
      }
      if (await this.store.get(Kinds.hostAlive, Keys.hostAlive(host))) {
        throw new UcloudError('VM_NOT_RECOVERABLE', `host ${host} is back: its agent takes VM "${cur.name}" back itself`);
      }
      const drivers = await this.driversOf(cur);
      if (migrationModeOf(drivers.map((d) => d?.capabilities)) !== 'shared') {
        throw new UcloudError('VM_NOT_RECOVERABLE', `VM "${cur.name}" has disks on storage only ${host} sees: it runs again when ${host} comes back`);
      }
      const unfenced = cur.disks.filter((_, i) => !drivers[i]?.capabilities.fencing).map((d) => d.store);
      if (unfenced.length && !hostIsOff) {
        throw new UcloudError('HOST_NOT_FENCED', `store${unfenced.length > 1 ? 's' : ''} ${[...new Set(unfenced)].join(', ')} cannot revoke ${host}'s access to VM "${cur.name}"'s disks, and its QEMU may still run there`, {
          details: { host, stores: [...new Set(unfenced)] },
        });
      }
      if (cur.recover) return cur;
      const next: Vm = { ...cur, recover: { by, at: nowIso(), ...(hostIsOff ? { hostIsOff: true } : {}) }, updatedAt: nowIso() };
      if (await stageVmWrite(this.store.txn(), vm, next, this.actor).absent(Keys.hostAlive(host)).commit()) return next;
    }
    throw new UcloudError('CONFLICT', 'the VM kept changing; try again');
  }

  /**
   * Storage fencing, before `vm` may start elsewhere: on each store whose driver
   * declares `fencing`, every client that still has one of its disks open or
   * locked (the dead host's QEMU) loses its access for good. Returns them as
   * `store client`. Throws when a store cannot be reached or refuses: the VM is
   * then not restarted, and the next pass tries again.
   */
  async fenceStorage(vm: Vm): Promise<string[]> {
    const fenced: string[] = [];
    const drivers = await this.driversOf(vm);
    for (const [i, d] of vm.disks.entries()) {
      // A store that is gone is not shared storage: such a VM is not restarted (Failover.whyNotRestarted).
      const driver = drivers[i];
      if (!driver?.capabilities.fencing || !driver.fenceDisk) continue;
      for (const c of await driver.fenceDisk({ ref: d.ref, format: d.format })) fenced.push(`${d.store} ${c}`);
    }
    return fenced;
  }

  /** An armed HA VM on shared storage: unplaced (pending, no host), its booking on the dead host released: the scheduler places it again. */
  async restartElsewhere(vm: Versioned<Vm>, alive: Versioned<HostAlive> | undefined, fenced: string[] = []): Promise<boolean> {
    const from = vm.value.host!;
    const at = nowIso();
    const recoveredBy = vm.value.recover?.by;
    const lastFailover: NonNullable<Vm['lastFailover']> = { from, at, code: 'HOST_DEAD', restarted: true, ...(fenced.length ? { fenced: fenced.slice(0, 64) } : {}), ...(recoveredBy ? { recoveredBy } : {}) };
    const next: Vm = { ...vm.value, status: 'pending', reason: `host ${from} died: ${recoveredBy ? `recovered by ${recoveredBy}, ` : ''}restarting elsewhere`, lastFailover, updatedAt: at };
    delete next.recover;
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
    delete next.recover;
    return this.guard(stageVmWrite(this.store.txn(), vm, next, this.actor), from, alive).commit();
  }
}
