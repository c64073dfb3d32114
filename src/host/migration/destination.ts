// The receiving end of a live migration: the host named as a VM's
// migration.destination sees the VM through its mirror, prepares the same
// machine (NICs, then a QEMU waiting with `-incoming defer`), and publishes
// where that QEMU listens. The source does the rest; a migration that ends
// without the switch-over takes the mirror away and the agent calls remove().

import { toUcloudError, UcloudError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import type { VmManager } from '../../managers/vms.js';
import { nowIso, type Vm, type VmDisk, type VmMigration } from '../../model/index.js';
import { cont, migrateIncoming, migrateSetCapabilities, migrateSetParameters, QmpMonitor, queryMigrate, queryStatus, stop, type QmpEvent } from '../qemu/index.js';
import type { NoCloudSeed } from '../seed.js';
import type { VmRuntime } from '../vm-runtime.js';
import { clearCopyPause, copyPauseOf, exportDisks, makeDiskCopies, markCopyPause, readDiskCopies, startNbdServer, stopNbdServer } from './disk-copy.js';
import { addTlsCreds, tlsParameters, type MigrationTls } from './tls.js';

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
  /** migration_tls on: this host's certificates (tls.ts); undefined: off. */
  tls?: MigrationTls;
  log: Logger;
}

export class MigrationDestination {
  /** Migration ids this agent is preparing now: a `preparing` one it does not know was left by an earlier agent. */
  private readonly preparing = new Set<string>();
  /** VM id → the port its incoming QEMU listens on, open in the firewall to the source only. */
  private readonly holes = new Map<string, number>();
  /** Mode copy: VM id → the port of its incoming QEMU's NBD server (the disks' copy), open to the source only. */
  private readonly nbdHoles = new Map<string, number>();
  /** Mode copy: VM id → the monitor kept on its incoming QEMU until the migration ends (follow()). */
  private readonly followers = new Map<string, QmpMonitor>();
  /** Migration ids of disk copies whose incoming QEMU this agent has seen resumed (or resumed itself). */
  private readonly resumed = new Set<string>();
  /** Mode copy: VMs placed here while their follower still held the monitor; it hands them to arrived() when it lets go. */
  private readonly awaiting = new Map<string, Pick<Vm, 'id' | 'host' | 'lastMigration'>>();

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
      await this.d.runtime.ensureNics(vm, await this.d.nicResolvers(vm));
      const source = await this.d.hostAddress(m.source);
      if (!source) throw new UcloudError('HOST_NOT_FOUND', `source host ${m.source} is not registered`);
      // Mode copy: QEMU opens new, empty volumes of this host's, which the source's mirrors fill (disk-copy.ts).
      const copies = m.mode === 'copy' ? await makeDiskCopies(vm, m.id, this.d.runtime.dir(vm.id), (store) => this.d.runtime.driverFor(store)) : undefined;
      const qemu = await this.d.runtime.startIncoming(vm, await this.d.seedFor(vm), copies);
      let port: number;
      let nbdPort: number | undefined;
      const mon = await QmpMonitor.connect(qemu.qmpSocket, { timeoutMs: 10_000 });
      let kept = false;
      try {
        // Mode copy: the guest must not run here before the NBD server is gone (its writable exports and the
        // guest's disks cannot both hold write access): `stop` while incoming clears QEMU's autostart, and
        // late-block-activate leaves the disks to `cont`, which arrived() issues once the record places the VM here.
        await migrateSetCapabilities(mon, { events: true, 'late-block-activate': copies !== undefined });
        if (copies) {
          await stop(mon);
          await markCopyPause(this.d.runtime.dir(vm.id), m.id);
        }
        // Migration TLS (tls.ts): only a source whose client certificate the cluster CA signed gets in (RAM and NBD alike).
        const creds = this.d.tls ? await addTlsCreds(mon, this.d.tls, 'server', qemu.pid) : undefined;
        if (creds) await migrateSetParameters(mon, tlsParameters(creds));
        if (copies) nbdPort = await this.serveDisks(vm.id, mon, source, copies.length, creds);
        port = await this.listen(vm.id, mon, source);
        if (copies) kept = this.follow(vm.id, m.id, mon);
      } finally {
        if (!kept) await mon.close();
      }
      const done = await this.d.vms.observe(vm.id, (cur) =>
        cur.migration?.id === m.id && cur.migration.phase === 'preparing'
          ? { ...cur, migration: { ...cur.migration, phase: 'listening', address: this.d.address, port, ...(this.d.tls ? { tls: true } : {}), ...(copies ? { nbdPort, disks: copies } : {}), destinationQemu: qemu, updatedAt: nowIso() } }
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

  /** Has the incoming QEMU listen for the migration stream on a free port of the range, open to `source` only (bindPort). */
  private listen(id: string, mon: QmpMonitor, source: string): Promise<number> {
    return this.bindPort(id, this.holes, source, (port) => migrateIncoming(mon, `tcp:[${this.d.address}]:${port}`));
  }

  /** Mode copy: the NBD server exporting the `n` new disks, writable, on a free port of the range, open to `source` only. */
  private serveDisks(id: string, mon: QmpMonitor, source: string, n: number, tlsCreds: string | undefined): Promise<number> {
    return this.bindPort(id, this.nbdHoles, source, async (port) => {
      await startNbdServer(mon, this.d.address, port, tlsCreds);
      await exportDisks(mon, n);
    });
  }

  /**
   * Binds a free port of the range with `bind`, opening it to `source` first
   * (the firewall refuses the range to everyone else all along); a port
   * something else holds: the next one. Recorded in `holes` for closeHole.
   */
  private async bindPort(id: string, holes: Map<string, number>, source: string, bind: (port: number) => Promise<void>): Promise<number> {
    const { first, last } = this.d.ports;
    for (let port = first; port <= last; port++) {
      if (this.portTaken(port)) continue;
      holes.set(id, port);
      // Peers an earlier agent left on this port (its holes were only in its memory) go first: only `source` may connect.
      await this.d.firewall.close(port);
      await this.d.firewall.open(source, port);
      try {
        await bind(port);
        return port;
      } catch (err) {
        holes.delete(id);
        await this.d.firewall.close(port);
        if (!/in use/i.test(err instanceof Error ? err.message : String(err))) throw err;
      }
    }
    throw new UcloudError('MIGRATION_FAILED', `no free port in migration_ports ${first}-${last}`);
  }

  private portTaken(port: number): boolean {
    return [...this.holes.values(), ...this.nbdHoles.values()].includes(port);
  }

  /**
   * Closes the firewall holes (migration and NBD ports) of the VM's incoming
   * migration. After an agent restart only the record knows them: ports a
   * migration published at this host's address (not another host's, when
   * this one was the source), and not one another VM's migration here holds
   * now.
   */
  async closeHole(vm: Pick<Vm, 'id' | 'migration' | 'lastMigration'>): Promise<void> {
    const m = [vm.migration, vm.lastMigration].find((x) => x?.address === this.d.address);
    await this.closePort(vm.id, this.nbdHoles, m?.nbdPort, 'NBD');
    await this.closePort(vm.id, this.holes, m?.port, 'migration');
  }

  private async closePort(id: string, holes: Map<string, number>, recorded: number | undefined, what: string): Promise<void> {
    const port = holes.get(id) ?? (recorded !== undefined && !this.portTaken(recorded) ? recorded : undefined);
    if (port === undefined) return;
    try {
      await this.d.firewall.close(port);
      holes.delete(id);
    } catch (err) {
      // Still open: kept as this VM's hole, so the next reconcile (hasHole) tries again and no other migration is handed the port.
      holes.set(id, port);
      this.d.log.warn({ err, vm: id, port }, `cannot close the ${what} port; trying again at the next reconcile`);
    }
  }

  /** Whether this host holds a firewall hole for VM `id`'s incoming migration. */
  hasHole(id: string): boolean {
    return this.holes.has(id) || this.nbdHoles.has(id);
  }

  /**
   * Mode copy: follows the incoming QEMU on `mon` until its migration ends;
   * completed, the NBD server stops (the source removed its clients before
   * the switch-over). The guest stays paused: the source has not committed
   * yet (a switch-over its QEMU then reports failed resumes it there, on the
   * old disks), so it runs here only once the settle places it here
   * (arrived()). The monitor is closed when it ends, or by remove().
   */
  private follow(id: string, migrationId: string, mon: QmpMonitor): boolean {
    this.followers.set(id, mon);
    void mon
      .waitForEvent('MIGRATION', 24 * 3600_000, (e: QmpEvent) => ['completed', 'failed', 'cancelled'].includes(String(e.data?.status)))
      .then(async (e) => {
        if (e.data?.status !== 'completed') return;
        await stopNbdServer(mon);
        this.d.log.info({ vm: id, migration: migrationId }, 'disk copy complete: NBD server stopped; the guest runs here once the record places it here');
      })
      .catch((err: unknown) => this.d.log.warn({ err, vm: id, migration: migrationId }, 'stopped following the incoming migration'))
      .finally(async () => {
        await mon.close().catch(() => undefined);
        if (this.followers.get(id) === mon) this.followers.delete(id);
        const waiting = this.awaiting.get(id);
        this.awaiting.delete(id);
        if (waiting) await this.arrived(waiting);
      });
    return true;
  }

  /**
   * A VM the record places here after a disk copy: its QEMU waits paused
   * (prepare() stopped it) with its NBD server perhaps still up (this agent
   * restarted meanwhile); the server stops and the guest runs, once. Only a
   * pause this host made for this migration (markCopyPause) is lifted: a
   * guest paused for another reason stays paused.
   */
  async arrived(vm: Pick<Vm, 'id' | 'host' | 'lastMigration'>): Promise<void> {
    const last = vm.lastMigration;
    if (last?.mode !== 'copy' || last.phase !== 'completed' || last.destination !== vm.host || this.resumed.has(last.id)) return;
    // The copy's end and the settle race: the follower still holding the monitor hands the VM back when it lets go.
    if (this.followers.has(vm.id)) {
      this.awaiting.set(vm.id, vm);
      return;
    }
    this.resumed.add(last.id);
    const dir = this.d.runtime.dir(vm.id);
    if ((await copyPauseOf(dir)) !== last.id) return;
    let mon: QmpMonitor | undefined;
    try {
      mon = await QmpMonitor.connect(this.d.runtime.paths(vm.id).qmpSocket, { timeoutMs: 5_000 });
      const [status, migration] = [(await queryStatus(mon)).status, (await queryMigrate(mon)).status];
      if (status === 'paused' && migration === 'completed') {
        await stopNbdServer(mon);
        await cont(mon);
        this.d.log.info({ vm: vm.id, migration: last.id }, 'disk copy arrived: guest resumed here');
      } else {
        this.d.log.warn({ vm: vm.id, migration: last.id, status, migration_status: migration }, 'a guest that arrived by disk copy is not in the pause this host made: left as it is');
      }
      await clearCopyPause(dir);
    } catch (err) {
      // Tried again at the next look (a paused guest must not stay paused because one QMP call failed).
      this.resumed.delete(last.id);
      this.d.log.warn({ err, vm: vm.id }, 'cannot resume a guest that arrived by disk copy');
    } finally {
      await mon?.close().catch(() => undefined);
    }
  }

  /**
   * Whether this host's incoming QEMU of `vm` finished its migration or runs
   * the guest (or cannot be asked): then it may be the only live guest, on
   * the only up-to-date disks, whatever the record says, and nothing of it
   * is removed (MIGRATION_GUEST_ON_DESTINATION, logged: an operator decides).
   */
  async guestArrived(vm: Pick<Vm, 'id' | 'host' | 'migration' | 'lastMigration'>): Promise<boolean> {
    if (!(await this.d.runtime.runningPid({ id: vm.id }))) return false;
    // The monitor is QMP's only client: the follower lets go first (the VM is not coming here as far as the record says).
    const follower = this.followers.get(vm.id);
    this.followers.delete(vm.id);
    this.awaiting.delete(vm.id);
    await follower?.close().catch(() => undefined);
    let mon: QmpMonitor | undefined;
    let why: Record<string, unknown>;
    try {
      mon = await QmpMonitor.connect(this.d.runtime.paths(vm.id).qmpSocket, { timeoutMs: 5_000 });
      const [status, migration] = [(await queryStatus(mon)).status, (await queryMigrate(mon)).status];
      if (status !== 'running' && migration !== 'completed') return false;
      // Mode copy: still in the pause this host made for this very migration, the guest never ran here; the record (the
      // source QEMU's word: it failed, and resumed the guest there) stands.
      const m = vm.migration ?? vm.lastMigration;
      if (status === 'paused' && m && (await copyPauseOf(this.d.runtime.dir(vm.id))) === m.id) return false;
      why = { status, migration_status: migration };
    } catch (err) {
      why = { err };
    } finally {
      await mon?.close().catch(() => undefined);
    }
    this.d.log.error({ ...why, vm: vm.id, host: vm.host, code: 'MIGRATION_GUEST_ON_DESTINATION' }, 'the incoming QEMU of a VM not placed here finished its migration or runs (or cannot be asked): left running with its disks for an operator');
    return true;
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
   * here: its incoming QEMU, taps and run directory, and the volumes it made
   * for an incoming disk copy, and `alsoDelete` (never one the VM's record
   * names). Never the VM's disks: they are the source's.
   */
  async remove(vm: Pick<Vm, 'id' | 'nics' | 'migration' | 'lastMigration'> & { disks?: Vm['disks'] }, alsoDelete: readonly VmDisk[] = []): Promise<void> {
    const follower = this.followers.get(vm.id);
    this.followers.delete(vm.id);
    this.awaiting.delete(vm.id);
    await follower?.close().catch(() => undefined);
    await this.closeHole(vm);
    const local = await this.d.runtime.readLocal(vm.id);
    const inUse = new Set((vm.disks ?? []).map((d) => `${d.store}/${d.ref}`));
    const copies = [...(await readDiskCopies(this.d.runtime.dir(vm.id))), ...alsoDelete].filter((d) => !inUse.has(`${d.store}/${d.ref}`));
    await this.d.runtime.releaseDisks(vm.id);
    // `{ id }` only: the record's qemu is the source's process, never to be touched from here.
    await this.d.runtime.destroy({ id: vm.id }, copies);
    await this.d.runtime.removeNics({ id: vm.id, nics: local?.nics ?? vm.nics ?? [] }, (vni) => this.d.vniInUse(vni, vm.id));
    this.d.log.info({ vm: vm.id }, 'removed what was left of a VM that is not on this host');
  }
}
