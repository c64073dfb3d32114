// Which part a host plays in a VM's live migration, decided from the record:
// the host it runs on is the source, the one named as destination prepares
// the incoming QEMU, and a host that holds local state of a VM placed
// elsewhere removes it (an incoming VM that did not come, or an outgoing one
// that left), keeping the disks, which are the VM's wherever it runs.

import type { Vm, VmDisk } from '../../model/index.js';
import type { VmRuntime } from '../vm-runtime.js';
import type { MigrationDestination } from './destination.js';
import type { MigrationSource } from './source.js';

export { MigrationDestination, type DestinationDeps } from './destination.js';
export { MigrationSource, type SourceConfig, type SourceDeps } from './source.js';

export class HostMigrations {
  /** Migrations that arrived here whose firewall holes this agent has closed. */
  private readonly holesClosed = new Set<string>();

  constructor(
    private readonly me: string,
    private readonly source: MigrationSource,
    private readonly destination: MigrationDestination,
    private readonly runtime: VmRuntime,
  ) {}

  /** Whether this host sees `vm` only because it is coming here. */
  incoming(vm: Pick<Vm, 'host' | 'migration'>): boolean {
    return vm.host !== this.me && vm.migration?.destination === this.me;
  }

  /** Handles `vm` if a migration concerns this host; false: the agent's usual reconcile applies (after leftovers are removed). */
  async reconcile(vm: Vm): Promise<boolean> {
    if (vm.host === this.me) {
      // Arrived: a guest that came by disk copy waits paused for arrived() (its pause is the guest's), so that
      // comes first; then the ports it came in through close (after an agent restart only the record knows them).
      if (!vm.migration) await this.destination.arrived(vm);
      const last = vm.lastMigration;
      if (!vm.migration && (this.destination.hasHole(vm.id) || (last?.destination === this.me && !this.holesClosed.has(last.id)))) {
        await this.destination.closeHole(vm);
        if (last) this.holesClosed.add(last.id);
      }
      if (!vm.migration) return false;
      await this.source.reconcile(vm);
      return true;
    }
    if (this.incoming(vm)) {
      // Coming back to the host it has just left: that run's removal of its old copy here (QEMU by its pid file,
      // the taps named for the VM, a network no other VM uses) must be over first, or it would take the incoming guest's.
      await this.source.idle(vm.id);
      await this.destination.reconcile(vm);
      return true;
    }
    await this.removeLeftover(vm);
    return false;
  }

  /** Local state of a VM placed on another host: its QEMU, taps and run directory go; its disks stay. */
  async removeLeftover(vm: Vm): Promise<void> {
    // An outgoing VM's run removes its own leftovers once it has settled.
    if (this.source.running(vm.id) || !(await this.runtime.hasLocal(vm.id))) return;
    // Destined here: an incoming QEMU that finished (a source that died after the switch-over) may be the only live guest.
    if ((vm.migration ?? vm.lastMigration)?.destination === this.me && (await this.destination.guestArrived(vm))) return;
    // Left by disk copy, settled, but this agent stopped before deleting the old volumes: they go now (remove() keeps any the record names).
    const last = vm.lastMigration;
    const old: VmDisk[] = !vm.migration && last?.mode === 'copy' && last.phase === 'completed' && last.source === this.me ? ((await this.runtime.readLocal(vm.id))?.disks ?? []) : [];
    await this.destination.remove(vm, old);
  }
}
