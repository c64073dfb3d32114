// The receiving end of a live migration: the host named as a VM's
// migration.destination sees the VM through its mirror, prepares the same
// machine (NICs, then a QEMU waiting with `-incoming defer`), and publishes
// where that QEMU listens. The source does the rest; a migration that ends
// without the switch-over takes the mirror away and the agent calls remove().

import { toUcloudError, UcloudError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import type { VmManager } from '../../managers/vms.js';
import { nowIso, type Vm, type VmMigration } from '../../model/index.js';
import { migrateIncoming, migrateSetCapabilities, QmpMonitor } from '../qemu/index.js';
import type { NoCloudSeed } from '../seed.js';
import type { VmRuntime } from '../vm-runtime.js';

export interface DestinationDeps {
  vms: VmManager;
  runtime: VmRuntime;
  /** This host's underlay address, where the incoming QEMU listens (host_address). */
  address: string;
  /** The DNS resolvers of each NIC's network (as for a VM started here). */
  nicResolvers: (vm: Vm) => Promise<string[][]>;
  /** The cidata seed of a VM without NICs (its source has the same disk). */
  seedFor: (vm: Vm) => Promise<NoCloudSeed | undefined>;
  /** Whether another VM on this host still needs network `vni`. */
  vniInUse: (vni: number, except: string) => boolean;
  /** The registered (underlay) address of host `name`. */
  hostAddress: (name: string) => Promise<string | undefined>;
  /** migration_ports: where an incoming QEMU may listen; the host firewall refuses them to all but each one's peer. */
  ports: { first: number; last: number };
  /** The host firewall's hole for an incoming migration (HostNetwork). */
  firewall: { open(source: string, port: number): Promise<void>; close(port: number): Promise<void> };
  log: Logger;
}

export class MigrationDestination {
  /** Migration ids this agent is preparing now: a `preparing` one it does not know was left by an earlier agent. */
  private readonly preparing = new Set<string>();
  /** VM id → the port its incoming QEMU listens on, open in the firewall to the source only. */
  private readonly holes = new Map<string, number>();

  constructor(private readonly d: DestinationDeps) {}

  /** Called for a VM whose migration names this host as destination (and that is not yet placed here). */
  async reconcile(vm: Vm): Promise<void> {
    const m = vm.migration;
    if (!m) return;
    if (m.phase === 'requested') return this.prepare(vm, m);
    // An agent that died while preparing left a QEMU that nobody will publish: give the migration up.
    if (m.phase === 'preparing' && !this.preparing.has(m.id)) {
      await this.remove(vm);
      await this.fail(vm.id, m, 'MIGRATION_FAILED', 'the destination agent restarted while preparing');
    }
  }

  private async prepare(vm: Vm, m: VmMigration): Promise<void> {
    const moved = await this.d.vms.observe(vm.id, (cur) =>
      cur.migration?.id === m.id && cur.migration.phase === 'requested' ? { ...cur, migration: { ...cur.migration, phase: 'preparing', updatedAt: nowIso() } } : undefined,
    );
    if (moved?.migration?.phase !== 'preparing') return;
    this.preparing.add(m.id);
    try {
      // Copying local disks (NBD + blockdev-mirror) is not built yet: said plainly rather than opening disks this host does not have.
      if (m.mode !== 'shared') throw new UcloudError('MIGRATION_FAILED', 'this host cannot take a VM whose disks are not on shared storage yet (mode copy)');
      await this.d.runtime.ensureNics(vm, await this.d.nicResolvers(vm));
      const qemu = await this.d.runtime.startIncoming(vm, await this.d.seedFor(vm));
      const source = await this.d.hostAddress(m.source);
      if (!source) throw new UcloudError('HOST_NOT_FOUND', `source host ${m.source} is not registered`);
      let port: number;
      const mon = await QmpMonitor.connect(qemu.qmpSocket, { timeoutMs: 10_000 });
      try {
        await migrateSetCapabilities(mon, { events: true });
        port = await this.listen(vm.id, mon, source);
      } finally {
        await mon.close();
      }
      const done = await this.d.vms.observe(vm.id, (cur) =>
        cur.migration?.id === m.id && cur.migration.phase === 'preparing'
          ? { ...cur, migration: { ...cur.migration, phase: 'listening', address: this.d.address, port, destinationQemu: qemu, updatedAt: nowIso() } }
          : undefined,
      );
      if (done?.migration?.phase !== 'listening') throw new UcloudError('MIGRATION_FAILED', 'the migration ended while the destination was preparing');
      this.d.log.info({ vm: vm.id, migration: m.id, port }, 'incoming migration listening');
    } catch (err) {
      const e = toUcloudError(err);
      this.d.log.error({ err, vm: vm.id, migration: m.id }, 'cannot prepare the incoming migration');
      await this.remove(vm);
      await this.fail(vm.id, m, e.code === 'INTERNAL' ? 'MIGRATION_FAILED' : e.code, `destination ${e.message}`);
    } finally {
      this.preparing.delete(m.id);
    }
  }

  /**
   * Has the incoming QEMU listen on a free port of the range, open to `source`
   * before QEMU binds it (the firewall refuses the range to everyone else all
   * along); a port something else holds: the next one.
   */
  private async listen(id: string, mon: QmpMonitor, source: string): Promise<number> {
    const { first, last } = this.d.ports;
    for (let port = first; port <= last; port++) {
      if ([...this.holes.values()].includes(port)) continue;
      this.holes.set(id, port);
      await this.d.firewall.open(source, port);
      try {
        await migrateIncoming(mon, `tcp:[${this.d.address}]:${port}`);
        return port;
      } catch (err) {
        this.holes.delete(id);
        await this.d.firewall.close(port);
        if (!/in use/i.test(err instanceof Error ? err.message : String(err))) throw err;
      }
    }
    throw new UcloudError('MIGRATION_FAILED', `no free port in migration_ports ${first}-${last}`);
  }

  /** Closes the firewall hole of the VM's incoming migration, if this host opened one. */
  async closeHole(vm: Pick<Vm, 'id' | 'migration' | 'lastMigration'>): Promise<void> {
    const port = this.holes.get(vm.id) ?? vm.migration?.port ?? vm.lastMigration?.port;
    if (port === undefined) return;
    await this.d.firewall.close(port).catch((err: unknown) => this.d.log.warn({ err, vm: vm.id, port }, 'cannot close the migration port'));
    this.holes.delete(vm.id);
  }

  /** Whether this host holds a firewall hole for VM `id`'s incoming migration. */
  hasHole(id: string): boolean {
    return this.holes.has(id);
  }

  private async fail(id: string, m: VmMigration, code: string, message: string): Promise<void> {
    await this.d.vms
      .observe(id, (cur) =>
        cur.migration?.id === m.id && (cur.migration.phase === 'requested' || cur.migration.phase === 'preparing' || cur.migration.phase === 'listening')
          ? { ...cur, migration: { ...cur.migration, phase: 'failed', error: { code, message, at: nowIso() }, updatedAt: nowIso() } }
          : undefined,
      )
      .catch((err: unknown) => this.d.log.error({ err, vm: id }, 'cannot record the failed migration'));
  }

  /**
   * Removes what this host holds of a VM that is not (or no longer) coming
   * here: its incoming QEMU, taps and run directory. Never its disks: they are
   * the source's.
   */
  async remove(vm: Pick<Vm, 'id' | 'nics' | 'migration' | 'lastMigration'>): Promise<void> {
    await this.closeHole(vm);
    const local = await this.d.runtime.readLocal(vm.id);
    await this.d.runtime.releaseDisks(vm.id);
    // `{ id }` only: the record's qemu is the source's process, never to be touched from here.
    await this.d.runtime.destroy({ id: vm.id }, []);
    await this.d.runtime.removeNics({ id: vm.id, nics: local?.nics ?? vm.nics ?? [] }, (vni) => this.d.vniInUse(vni, vm.id));
    this.d.log.info({ vm: vm.id }, 'removed what was left of a VM that is not on this host');
  }
}
