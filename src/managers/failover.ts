import { UcloudError } from '../common/errors.js';
import { nowIso, type HostAlive, type Vm } from '../model/index.js';
import { migrationModeOf } from '../storage/capabilities.js';
import type { VmActor } from '../model/vm-lifecycle.js';
import { Keys, Kinds } from '../store/keys.js';
import type { Store, Txn, Versioned } from '../store/store.js';
import { diskStoreDrivers } from './store-drivers.js';
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
      const drivers = await diskStoreDrivers(this.store, cur);
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
   * Storage fencing of a VM already unplaced off a dead host, before it may
   * start elsewhere: on each store whose driver declares `fencing`, every
   * client that still has one of its disks open or locked (the dead host's
   * QEMU: nothing else may hold them now) loses its access for good. Returns
   * them as `store client`. Throws when a store cannot be reached or refuses:
   * the VM then waits, and the next pass tries again.
   */
  async fenceStorage(vm: Vm): Promise<string[]> {
    const fenced: string[] = [];
    const drivers = await diskStoreDrivers(this.store, vm);
    for (const [i, d] of vm.disks.entries()) {
      // A store that is gone is not shared storage: such a VM is not restarted (Failover.whyNotRestarted).
      const driver = drivers[i];
      if (!driver?.capabilities.fencing || !driver.fenceDisk) continue;
      for (const c of await driver.fenceDisk({ ref: d.ref, format: d.format })) fenced.push(`${d.store} ${c}`);
    }
    return fenced;
  }

  /**
   * An armed HA VM on shared storage (or one an admin recovers): unplaced
   * (pending, no host), its booking on the dead host released. Unplaced first,
   * fenced after: once it is no longer its host's, no agent takes it back, so
   * every client still on its disks is stale. Where a store can fence, it waits
   * for that (`fencePending`, see fencePending()) before it is placed again.
   */
  async restartElsewhere(vm: Versioned<Vm>, alive: Versioned<HostAlive> | undefined): Promise<boolean> {
    const from = vm.value.host!;
    const at = nowIso();
    const recoveredBy = vm.value.recover?.by;
    const fencePending = (await diskStoreDrivers(this.store, vm.value)).some((d) => d?.capabilities.fencing === true);
    const lastFailover: NonNullable<Vm['lastFailover']> = { from, at, code: 'HOST_DEAD', restarted: true, ...(fencePending ? { fencePending } : {}), ...(recoveredBy ? { recoveredBy } : {}) };
    const why = fencePending ? 'fencing its storage, then restarting elsewhere' : 'restarting elsewhere';
    const next: Vm = { ...vm.value, status: 'pending', reason: `host ${from} died: ${recoveredBy ? `recovered by ${recoveredBy}, ` : ''}${why}`, lastFailover, updatedAt: at };
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

  /**
   * A failed-over VM whose storage is fenced now (`fenced`: the clients revoked):
   * it may be placed. `error`: fencing failed; said in its reason, tried again.
   */
  async fenceDone(vm: Versioned<Vm>, result: { fenced: string[] } | { error: string }): Promise<boolean> {
    const f = vm.value.lastFailover;
    if (!f?.fencePending || vm.value.host) return false;
    const next: Vm = { ...vm.value, updatedAt: nowIso() };
    if ('error' in result) {
      const reason = `host ${f.from} died: fencing its storage failed (${result.error.slice(0, 300)}); trying again`;
      if (vm.value.reason === reason) return false;
      next.reason = reason;
    } else {
      const lastFailover = { ...f, ...(result.fenced.length ? { fenced: result.fenced.slice(0, 64) } : {}) };
      delete lastFailover.fencePending;
      next.lastFailover = lastFailover;
      next.reason = `host ${f.from} died: storage fenced, restarting elsewhere`;
    }
    return stageVmWrite(this.store.txn(), vm, next, this.actor).commit();
  }

  /** A recovery the scheduler will not do: the request goes, `why` stays in the VM's reason. */
  async dropRecover(vm: Versioned<Vm>, why: string): Promise<boolean> {
    const next: Vm = { ...vm.value, reason: `vm recover refused: ${why}`, updatedAt: nowIso() };
    delete next.recover;
    return stageVmWrite(this.store.txn(), vm, next, this.actor).commit();
  }

  /**
   * The clients that have the disks of `vm` open or locked on stores that can
   * fence, by disk (`store ref`); a disk on such a store that nobody holds
   * maps to []. Read only: what recover checks before it unplaces.
   */
  async holders(vm: Vm): Promise<Map<string, string[]>> {
    const drivers = await diskStoreDrivers(this.store, vm);
    const out = new Map<string, string[]>();
    for (const [i, d] of vm.disks.entries()) {
      const driver = drivers[i];
      if (driver?.capabilities.fencing && driver.diskClients) out.set(`${d.store} ${d.ref}`, await driver.diskClients({ ref: d.ref, format: d.format }));
    }
    return out;
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
