import type { Accel } from '../common/accel.js';
import type { QemuOffer } from '../common/qemu-compat.js';
import { toUcloudError, UcloudError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { resolversOf } from '../common/resolvers.js';
import { Reverter } from '../common/reverter.js';
import { seedForVm } from '../managers/cloud-seed.js';
import type { HostManager } from '../managers/hosts.js';
import { MigrationManager } from '../managers/migrations.js';
import type { VmManager } from '../managers/vms.js';
import { nowIso, type Vm } from '../model/index.js';
import { Informer, Reconciler } from '../store/informer.js';
import type { QmpEvent } from './qemu/index.js';
import { Keys, Kinds, lastSegment } from '../store/keys.js';
import type { Store } from '../store/store.js';
import { ConsoleEndpoint } from './console/endpoint.js';
import { keeperChild } from './console/supervise.js';
import { KeyedQueue } from './keyed-queue.js';
import type { RouteAnnouncer } from './routes.js';
import { HostMigrations, MigrationDestination, MigrationSource, type SourceConfig } from './migration/index.js';
import { markHa, unmarkHa } from './fence/files.js';
import { DEFAULT_MIGRATION_PORTS } from './network/hostfw.js';
import { HostPresence } from './presence.js';
import { VmMonitors } from './vm-monitors.js';
import { VmRuntime } from './vm-runtime.js';
import { VmMetrics } from './vm-metrics.js';
import type { MetricsRegistry } from '../common/metrics.js';

export interface AgentOptions {
  name: string;
  accel: Accel;
  leaseTtlMs: number;
  /** run_dir: the presence lease id, the fence watchdog's pet and beat (src/host/fence). */
  runDir?: string;
  /** fence_timeout (default: a second below the lease TTL). */
  fenceTimeoutMs?: number;
  /**
   * How often running VMs' console keepers are checked (a keeper is no QEMU:
   * no monitor tells of its end). A QEMU's own exit comes as an event (VmMonitors).
   */
  keeperCheckMs?: number;
  /** Where the console endpoint listens (console_listen); its port is announced with the host's presence. */
  consoleListen?: { host: string; port: number };
  /** dns_resolvers: what radvd advertises on a network that names no resolvers of its own. */
  dnsResolvers?: string[];
  /** Live migration: where an incoming QEMU listens (host_address) and the migration_* settings. */
  migration?: { address: string; ports?: { first: number; last: number } } & SourceConfig;
  /**
   * The stores this host could open, announced for the scheduler's `storage`
   * check; absent: all. A function is asked again whenever a store is added,
   * changed or removed, and at each resync: the announcement follows.
   */
  stores?: string[] | (() => Promise<string[]>);
  /** route_mode bgp: told this host's VMs whenever they change (what it announces follows them). */
  routes?: Pick<RouteAnnouncer, 'sync' | 'stop'>;
  /** The daemon's registry: per-VM figures are read into it at each scrape (src/host/vm-metrics.ts). */
  metrics?: MetricsRegistry;
}

/**
 * One per hypervisor. Announces itself on a lease, then closes the gap between
 * what each VM assigned here should be and what it is. QEMU runs detached, so
 * this process can die and come back without touching a healthy VM.
 */
export class HostAgent {
  /** This host's VMs only: the mirrors under `host-vm/<name>/` (see stageVmWrite), not the whole fleet's. */
  private readonly informer: Informer<typeof Kinds.vm.schema>;
  private readonly queue: KeyedQueue;
  private readonly resync: Reconciler;
  private readonly presence: HostPresence;
  private keeperCheck: NodeJS.Timeout | undefined;
  /** One standing QMP session per running VM here: its events, and its QEMU's exit. */
  readonly monitors: VmMonitors;
  private stopped = false;
  private readonly networked = new Set<string>();
  private readonly console: ConsoleEndpoint;
  private consolePort: number | undefined;
  private readonly migrations: HostMigrations;
  private readonly rechecks = new Map<string, NodeJS.Timeout>();
  /** What `stores` said last (sorted); announced with the host's presence. */
  private storesNow: string[] | undefined;
  private storesCheck: Promise<void> = Promise.resolve();
  /** What this host's QEMU offers (machine types, CPU models), announced for the scheduler's `qemu` check. */
  private qemuOffer: QemuOffer | undefined;
  private readonly storeWatch: Informer<typeof Kinds.imageStore.schema> | undefined;

  constructor(
    private readonly store: Store,
    private readonly vms: VmManager,
    private readonly hosts: HostManager,
    private readonly runtime: VmRuntime,
    private readonly opts: AgentOptions,
    private readonly log: Logger,
  ) {
    this.informer = new Informer(store, Kinds.vm, Keys.hostVms(opts.name), log);
    this.presence = new HostPresence(store, hosts, { name: opts.name, ttlMs: opts.leaseTtlMs, runDir: opts.runDir ?? runtime.runDir, fenceTimeoutMs: opts.fenceTimeoutMs ?? opts.leaseTtlMs - 1000 }, log, () => {
      // Announced on a new lease: this host may have been declared dead meanwhile, so every VM is looked at again
      // (moved ones leave their leftovers here, HOST_DEAD ones are taken back), and so is what lies here without a record.
      this.enqueueAll();
      void this.collectOrphans();
    }, () => this.enqueueAll(), () => this.enqueueAll());
    this.queue = new KeyedQueue((id) => this.reconcileVm(id), log);
    this.resync = new Reconciler(async () => {
      this.enqueueAll();
      await this.checkStores();
    }, log, 30_000);
    if (typeof opts.stores === 'function') this.storeWatch = new Informer(store, Kinds.imageStore, Keys.imageStores(), log);
    this.monitors = new VmMonitors((id) => runtime.paths(id).eventSocket, { event: (id, e) => this.onQemuEvent(id, e), gone: (id) => this.onQemuGone(id) }, log);
    const vmMetrics = new VmMetrics(opts.metrics, {
      host: opts.name,
      vms: () => this.informer.values(),
      // Only a QEMU the agent watches: a pid from a record alone may be a reused one.
      pid: (vm) => (vm.qemu && this.monitors.watching(vm.id, vm.qemu.pid) ? vm.qemu.pid : undefined),
      qmp: (vm) => this.monitors.session(vm.id),
      taps: (vm) => (vm.nics ?? []).map((_, i) => VmRuntime.tapName(vm.id, i)),
    });
    this.console = new ConsoleEndpoint(store, opts.name, (id) => runtime.paths(id).serialLog, log, (id) => runtime.paths(id).consoleAttach, (id) => vmMetrics.statsOf(id), (id) => runtime.paths(id).vncSocket, (id) => keeperChild(runtime.paths(id).consoleAttach));
    const vniInUse = (vni: number, except: string) => this.vniInUse(vni, except);
    const mig = opts.migration ?? { address: '::1', maxDowntimeMs: 300, maxBandwidth: 0, prepareTimeoutMs: 60_000 };
    this.migrations = new HostMigrations(
      opts.name,
      new MigrationSource({
        vms,
        migrations: new MigrationManager(store, { actor: vms.actor, ...(vms.events ? { events: vms.events } : {}) }),
        runtime,
        hostAlive: async (name) => (await store.get(Kinds.hostAlive, Keys.hostAlive(name))) !== undefined,
        recheck: (id, afterMs) => this.recheck(id, afterMs),
        vniInUse,
        cfg: mig,
        log,
      }),
      new MigrationDestination({
        vms,
        runtime,
        address: mig.address,
        ports: mig.ports ?? DEFAULT_MIGRATION_PORTS,
        nicResolvers: (vm) => this.nicResolvers(vm),
        seedFor: async (vm) => (vm.nics?.length ? undefined : seedForVm(store, vm, { resolvers: opts.dnsResolvers ?? [] })),
        vniInUse,
        hostAddress: async (name) => (await hosts.get(name))?.address,
        firewall: { open: (source, port) => runtime.openMigrationPort(source, port), close: (port) => runtime.closeMigrationPort(port) },
        ...(mig.tls ? { tls: mig.tls } : {}),
        log,
      }),
      runtime,
    );
  }

  /** Looks at VM `id` again in `afterMs` (one timer a VM). */
  private recheck(id: string, afterMs: number): void {
    if (this.stopped || this.rechecks.has(id)) return;
    this.rechecks.set(
      id,
      setTimeout(() => {
        this.rechecks.delete(id);
        this.queue.trigger(id);
      }, afterMs),
    );
  }

  async start(): Promise<void> {
    if (!(await this.hosts.get(this.opts.name))) {
      throw new UcloudError('HOST_NOT_REGISTERED', `host "${this.opts.name}" is not registered`);
    }
    // First, before anything slow: a restarted agent resumes its presence lease and pets its fence watchdog
    // again within fence_timeout. Until the stores this host can open are known it offers none.
    await this.presence.start(() => ({ pid: process.pid, accel: this.opts.accel, since: nowIso(), stores: this.storesNow ?? [], ...(this.consolePort ? { consolePort: this.consolePort } : {}), ...(this.qemuOffer ? { qemu: this.qemuOffer } : {}) }));
    if (this.opts.consoleListen) this.consolePort = await this.console.listen(this.opts.consoleListen.host, this.opts.consoleListen.port);
    this.qemuOffer = await this.runtime.qemuOffer().catch((err: unknown) => {
      this.log.warn({ err }, 'cannot list what this QEMU offers; migrations to this host are not checked against it');
      return undefined;
    });
    await this.checkStores();
    if (this.storeWatch) {
      this.storeWatch.on('change', () => void this.checkStores());
      await this.storeWatch.start();
    }
    await this.presence.put();
    // A cluster from before the index has placed VMs without mirrors: write ours before trusting it.
    if (!(await this.vms.hostIndexComplete())) {
      const done = await this.vms.backfillHostIndex(this.opts.name);
      this.log.info({ host: this.opts.name, ...done }, 'backfilled this host\'s VM index');
    }
    // A mirror that appears, changes or goes away: the record itself says what to do (reconcileVm).
    this.informer.on('change', (key) => this.queue.trigger(lastSegment(key)));
    this.informer.on('change', () => this.opts.routes?.sync(this.informer.values()));
    await this.informer.start();
    this.opts.routes?.sync(this.informer.values());
    await this.collectOrphans();
    this.resync.start();
    this.keeperCheck = setInterval(() => void this.checkKeepers(), this.opts.keeperCheckMs ?? 5000);
    this.log.info({ host: this.opts.name, accel: this.opts.accel }, 'host agent ready');
  }

  /** Leaves every VM running: a stopped agent is not a stopped hypervisor. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.keeperCheck) clearInterval(this.keeperCheck);
    for (const t of this.rechecks.values()) clearTimeout(t);
    this.resync.stop();
    await this.storeWatch?.stop();
    await this.informer.stop();
    await this.queue.drain();
    await this.opts.routes?.stop();
    await this.monitors.close();
    // Not revoked: a successor agent resumes the lease (HA VMs stay armed); else it runs out and the host is dead.
    await this.presence.stop(false);
    await this.console.close();
  }

  /** This incarnation's fencing epoch (its presence lease); undefined while it has none. */
  get epoch(): string | undefined {
    return this.presence.epoch;
  }

  /** Asks which stores this host can open (one ask at a time) and announces the answer when it changed. */
  private checkStores(): Promise<void> {
    this.storesCheck = this.storesCheck
      .then(async () => {
        const s = this.opts.stores;
        if (this.stopped || s === undefined) return;
        const next = [...(typeof s === 'function' ? await s() : s)].sort();
        if (this.storesNow?.join('\n') === next.join('\n')) return;
        const first = this.storesNow === undefined;
        this.storesNow = next;
        if (!first && !this.stopped) {
          await this.presence.put();
          this.log.info({ stores: next }, 'stores this host can open announced');
        }
      })
      .catch((err: unknown) => this.log.warn({ err }, 'cannot announce the stores this host can open'));
    return this.storesCheck;
  }

  private enqueueAll(): void {
    for (const vm of this.informer.values()) if (vm.host === this.opts.name || this.migrations.incoming(vm)) this.queue.trigger(vm.id);
  }

  /** A console keeper that died while its VM runs is started again (it appends to the same log). */
  private async checkKeepers(): Promise<void> {
    for (const vm of this.informer.values()) {
      if (vm.host !== this.opts.name || vm.status !== 'running' || !this.monitors.watching(vm.id)) continue;
      await this.runtime.ensureKeeper(vm.id).catch((err: unknown) => this.log.warn({ err, vm: vm.id }, 'cannot start the console keeper'));
    }
  }

  private onQemuEvent(id: string, e: QmpEvent): void {
    // SHUTDOWN precedes the exit (QEMU runs without -no-shutdown): the exit itself, `gone`, is what gets recorded.
    // `at`: QEMU's own timestamp (ms), one clock for every QEMU on the machine: a migration's STOP here and RESUME on the destination give the guest's real pause.
    if (e.event === 'SHUTDOWN' || e.event === 'STOP' || e.event === 'RESUME' || e.event === 'GUEST_PANICKED') this.log.info({ vm: id, event: e.event, data: e.data, at: e.timestampMs }, 'QEMU event');
    else this.log.debug({ vm: id, event: e.event, data: e.data, at: e.timestampMs }, 'QEMU event');
  }

  /** A QEMU here exited (asked or not): the record decides what that means. */
  private onQemuGone(id: string): void {
    this.log.info({ vm: id }, 'QEMU exited');
    if (!this.stopped) this.queue.trigger(id);
  }

  /** Watches a running QEMU's events from now on (idempotent). */
  private watch(id: string, pid: number): void {
    if (this.stopped || this.monitors.watching(id, pid)) return;
    void this.monitors.watch(id, pid).catch((err: unknown) => this.log.warn({ err, vm: id }, 'cannot watch the VM'));
  }

  /** Local VM state with no record assigned here (deleted while this agent was away): remove it. */
  private async collectOrphans(): Promise<void> {
    for (const id of await this.runtime.localIds()) await this.collectOrphan(id);
  }

  /** VM `id`'s local state, if no record assigned here calls for it: removed (its disks too when the record is gone). */
  private async collectOrphan(id: string): Promise<void> {
    const key = Keys.hostVm(this.opts.name, id);
    // A mirror that exists but fails its schema is not a deleted VM: leave it be.
    if (this.informer.get(key) || this.informer.unreadable.has(key) || !(await this.runtime.hasLocal(id))) return;
    const read = await this.recordSaysOrphan(id);
    if (!read.orphan) return;
    // Placed on another host (it migrated away, failed over, or never came): its disks are that host's VM's.
    // The one read decides: a second one failing (slow etcd) must not pass for "deleted" and destroy live disks.
    const elsewhere = read.vm;
    if (elsewhere) {
      await this.migrations.removeLeftover(elsewhere).catch((err: unknown) => this.log.error({ err, vm: id }, 'cannot remove what is left of a VM placed elsewhere'));
      return;
    }
    const local = await this.runtime.readLocal(id);
    this.log.info({ vm: id }, 'removing a VM left behind on this host');
    await this.runtime
      .destroy({ id }, local?.disks ?? [])
      .then(() => this.runtime.removeNics({ id, nics: local?.nics ?? [] }, (vni) => this.vniInUse(vni, id)))
      .catch((err: unknown) => this.log.error({ err, vm: id }, 'cannot remove orphaned VM'));
  }

  /**
   * The index is only a hint for deleting: the VM record decides. One read per
   * candidate (orphans are rare). A record that fails its schema, or cannot be
   * read, is not a deleted VM; one placed here whose mirror is missing gets it
   * written back, and stays.
   */
  private async recordSaysOrphan(id: string): Promise<{ orphan: boolean; vm?: Vm }> {
    let vm: Vm | undefined;
    try {
      vm = await this.vms.get(id);
    } catch (err) {
      this.log.error({ err, vm: id }, 'cannot read the record of a VM found on this host; leaving it');
      return { orphan: false };
    }
    if (vm?.host !== this.opts.name) return { orphan: true, vm };
    this.log.warn({ vm: id }, 'VM placed here has no index entry; writing it');
    await this.vms.reindex(id).catch((err: unknown) => this.log.error({ err, vm: id }, 'cannot index VM'));
    return { orphan: false };
  }

  /** A write of VM `id` by this agent: `fn` sees the record as this incarnation owns it (own()). */
  private observe(id: string, fn: (vm: Vm) => Vm | undefined): Promise<Vm | undefined> {
    return this.vms.observe(id, (cur) => fn(this.own(cur)));
  }

  /**
   * `cur` as this incarnation writes it: a VM the scheduler marked HOST_DEAD
   * under another incarnation of this host is taken back (its error goes; the
   * write carries this incarnation's epoch, stageVmWrite).
   */
  private own(cur: Vm): Vm {
    const epoch = this.presence.epoch;
    if (!epoch || cur.host !== this.opts.name || cur.epoch === epoch || cur.status !== 'error' || cur.error?.code !== 'HOST_DEAD') return cur;
    const next: Vm = { ...cur };
    delete next.error;
    // Back before the scheduler acted on a `vm recover`: the VM runs here again.
    delete next.recover;
    return next;
  }

  /**
   * The epoch VM `vm` is armed under here (marked for the fence watchdog,
   * before its QEMU starts), or undefined: not HA, no watchdog runs, or no
   * lease to arm it under.
   */
  private async armHa(vm: Vm): Promise<string | undefined> {
    const epoch = this.presence.epoch;
    const armed = vm.ha === true && epoch !== undefined && (await this.presence.watchdogRunning());
    if (armed) await markHa(this.runtime.dir(vm.id), epoch);
    else await unmarkHa(this.runtime.dir(vm.id));
    return armed ? epoch : undefined;
  }

  private async reconcileVm(id: string): Promise<void> {
    const vm = await this.vms.get(id);
    // A migration in or out, or what one left here: the migration roles decide.
    if (vm && (await this.migrations.reconcile(vm))) return;
    if (!vm || vm.host !== this.opts.name) {
      // Only an older writer leaves a mirror without its record; without this it would linger here.
      if (this.informer.get(Keys.hostVm(this.opts.name, id)) && (await this.vms.dropStaleMirror(this.opts.name, id))) this.log.warn({ vm: id }, 'removed a stale index entry');
      // Deleted while this agent runs (by the scheduler, its host thought dead): what is left here goes now.
      else if (!vm) await this.collectOrphan(id);
      return;
    }
    if (vm.desired === 'deleted') return this.delete(vm);
    const pid = await this.runtime.runningPid(vm);
    if (pid) this.watch(vm.id, pid);
    // This host was declared dead and the VM left here: taken back, running again if it should.
    if (vm.status === 'error' && vm.error?.code === 'HOST_DEAD' && vm.desired === 'running') {
      this.log.info({ vm: vm.id, name: vm.name, epoch: this.presence.epoch }, 'taking back a VM marked HOST_DEAD here');
      return pid ? this.markRunning(vm, pid) : this.startVm(vm);
    }
    // Acted on once per intent (generation), so a resize that fails is not retried in a loop.
    if (vm.observedGeneration < vm.generation && vm.disks.some((d) => VmRuntime.wantedSize(vm, d) > d.sizeBytes)) await this.growDisks(vm, pid !== undefined);
    if (vm.desired === 'running') {
      if (pid && vm.status === 'running' && vm.reboot && vm.reboot.id !== vm.lastReboot?.id) return this.rebootVm(vm);
      if (pid) return this.markRunning(vm, pid);
      // An HA VM is kept running (its QEMU was fenced, or it ended by itself): started again.
      if (vm.status === 'running' && vm.observedGeneration === vm.generation && vm.haArmed === true) {
        this.log.warn({ vm: vm.id, name: vm.name }, 'HA VM not running here: starting it again');
        return this.startVm(vm);
      }
      if (vm.status === 'running' && vm.observedGeneration === vm.generation) return this.markExited(vm);
      if (vm.status === 'error' && vm.observedGeneration === vm.generation) return;
      return this.startVm(vm);
    }
    if (pid) return this.stopVm(vm);
    if (vm.status !== 'stopped' || vm.qemu || vm.observedGeneration !== vm.generation) {
      await this.observe(id, (cur) => withoutQemu({ ...cur, status: 'stopped', observedGeneration: vm.generation }));
    }
  }

  private async growDisks(vm: Vm, running: boolean): Promise<void> {
    try {
      const disks = await this.runtime.growDisks(vm, running);
      await this.observe(vm.id, (cur) => ({ ...cur, disks }));
    } catch (err) {
      const e = toUcloudError(err);
      this.log.error({ err, vm: vm.id }, 'disk resize failed');
      await this.observe(vm.id, (cur) => ({ ...cur, error: { code: e.code, message: `resize failed: ${e.message}`, at: nowIso() } }));
    }
  }

  /**
   * Whether HA VM `vm` must wait: the watchdog is fencing (etcd answered no renewal within fence_timeout) and
   * would kill its QEMU; the pass that follows the next pet looks at it again (onPetsResumed).
   */
  private async fencedNow(vm: Vm): Promise<boolean> {
    return vm.ha === true && this.presence.petLapsed && (await this.presence.watchdogRunning());
  }

  private async markRunning(vm: Vm, pid: number): Promise<void> {
    // Armed now, it would be killed.
    if (await this.fencedNow(vm)) return;
    if (!this.networked.has(vm.id)) {
      // After an agent restart: make sure bridges, taps, rules and radvd are there (a no-op when they are),
      // and find the VM's console keeper (or start one).
      await this.runtime.ensureNics(vm, await this.nicResolvers(vm));
      await this.runtime.ensureKeeper(vm.id).catch((err: unknown) => this.log.warn({ err, vm: vm.id }, 'cannot start the console keeper'));
      // A VM that migrated here: its disks and NICs become this host's to remove with it.
      await this.runtime.adopt(vm);
      this.networked.add(vm.id);
    }
    const armed = (await this.armHa(vm)) !== undefined;
    if (vm.status === 'running' && vm.qemu?.pid === pid && vm.observedGeneration === vm.generation && (vm.haArmed === true) === armed && vm.epoch === this.presence.epoch) return;
    const p = this.runtime.paths(vm.id);
    await this.observe(vm.id, (cur) => ({
      ...withHaArmed(cur, armed),
      status: 'running',
      observedGeneration: vm.generation,
      qemu: cur.qemu?.pid === pid ? cur.qemu : { pid, qmpSocket: p.qmpSocket, serialLog: p.serialLog, accel: this.opts.accel, startedAt: nowIso() },
    }));
  }

  /** QEMU ended without being asked (guest power-off or a crash): record it as stopped, never loop restarting it. */
  private async markExited(vm: Vm): Promise<void> {
    this.log.warn({ vm: vm.id, name: vm.name }, 'VM process ended without being asked to');
    await this.runtime.stopKeeper(vm.id);
    await this.observe(vm.id, (cur) =>
      withoutQemu({
        ...cur,
        desired: 'stopped',
        status: 'stopped',
        error: { code: 'QEMU_EXITED', message: 'the VM stopped without being asked to (guest power-off or QEMU exit)', at: nowIso() },
      }),
    );
  }

  private async startVm(vm: Vm): Promise<void> {
    const gen = vm.generation;
    const epoch = this.presence.epoch;
    const petResumes = this.presence.petResumes;
    if (await this.fencedNow(vm)) {
      this.log.warn({ vm: vm.id, name: vm.name }, 'HA VM not started while the fence watchdog is fencing: started once etcd answers again');
      return;
    }
    let armed = false;
    const r = new Reverter(this.log);
    try {
      // Armed again only once this run's QEMU is (haArmed says so of a running QEMU).
      await this.observe(vm.id, (cur) => ({ ...withHaArmed(cur, false), status: cur.disks.length ? 'starting' : 'creating' }));
      // Disks and NICs do not depend on each other: make them side by side.
      const [disks] = await Promise.all([this.runtime.ensureDisks(vm, r), this.nicResolvers(vm).then((dns) => this.runtime.ensureNics(vm, dns))]);
      if (disks !== vm.disks) {
        await this.observe(vm.id, (cur) => ({ ...cur, disks, status: 'starting' }));
        r.success(); // recorded: from now on the disks are the record's, deleted with the VM
      }
      // A VM with a network reads its seed from the metadata server (the SMBIOS serial says where);
      // one without gets it on a cidata disk, made from the same records.
      const seed = vm.nics?.length ? undefined : await seedForVm(this.store, vm, { resolvers: this.opts.dnsResolvers ?? [] });
      // Marked before QEMU starts: the watchdog can kill it from its first instant.
      const armedUnder = await this.armHa(vm);
      armed = armedUnder !== undefined;
      // Armed under a lease this agent has since lost: no QEMU under it (the watchdog would kill it, a moment too late).
      if (armed && this.presence.epoch !== armedUnder) throw new UcloudError('HOST_FENCED', `lost presence lease ${armedUnder} while starting the VM`);
      if (armed && this.presence.petLapsed) throw new UcloudError('HOST_FENCED', 'the fence watchdog began fencing while the VM was starting');
      const qemu = await this.runtime.start(vm, disks, seed);
      // A QEMU whose start is not recorded (this agent fenced meanwhile) must not run on unseen.
      r.add('stop the QEMU', () => this.runtime.stop(vm, false));
      this.watch(vm.id, qemu.pid);
      this.networked.add(vm.id);
      await this.observe(vm.id, (cur) => {
        const next: Vm = { ...withHaArmed(cur, armed), status: 'running', qemu, observedGeneration: gen };
        delete next.error;
        // A fresh boot is what a reboot asked for before it was done.
        if (cur.reboot && cur.reboot.id !== cur.lastReboot?.id) next.lastReboot = { id: cur.reboot.id, mode: 'start', at: nowIso() };
        return next;
      });
      r.success();
      this.log.info({ vm: vm.id, name: vm.name, pid: qemu.pid }, 'VM started');
    } catch (err) {
      await r.revert();
      const e = toUcloudError(err);
      // Begun without this host's epoch, or it changed meanwhile (a lost lease): the host's failure, not the VM's.
      // Recorded as the VM's error it would stay (an error is not retried). No timer of its own either: a fenced
      // host would retry each such VM every second for as long as etcd is away. The new epoch's pass looks at
      // every VM again (onNewEpoch; a pass asked for while this one ran follows it, KeyedQueue).
      if (epoch === undefined || epoch !== this.presence.epoch) {
        this.log.warn({ err, vm: vm.id }, 'VM start cut short by a lost presence lease: tried again once this host is announced');
        return;
      }
      // An armed QEMU the watchdog may have killed as it started (its pet ran out meanwhile): the host's failure too.
      if (armed && (this.presence.petLapsed || this.presence.petResumes !== petResumes)) {
        this.log.warn({ err, vm: vm.id }, 'HA VM start cut short by the fence watchdog: tried again once etcd answers');
        return;
      }
      this.log.error({ err, vm: vm.id }, 'VM start failed');
      await this.observe(vm.id, (cur) => ({ ...cur, status: 'error', observedGeneration: gen, error: { code: e.code, message: e.message, at: nowIso() } }));
    }
  }

  /** The reboot asked for, in this QEMU, then settled in lastReboot (a failed one too, with why; it is not tried again). */
  private async rebootVm(vm: Vm): Promise<void> {
    const req = vm.reboot!;
    let settled: NonNullable<Vm['lastReboot']>;
    try {
      const mode = await this.runtime.reboot(vm, req.force === true);
      settled = { id: req.id, mode, at: nowIso() };
      this.log.info({ vm: vm.id, name: vm.name, mode }, 'VM rebooted');
    } catch (err) {
      const e = toUcloudError(err);
      this.log.error({ err, vm: vm.id }, 'VM reboot failed');
      settled = { id: req.id, mode: 'failed', at: nowIso(), error: { code: e.code, message: `reboot failed: ${e.message}`, at: nowIso() } };
    }
    await this.observe(vm.id, (cur) => (cur.host === this.opts.name && cur.reboot?.id === req.id && cur.lastReboot?.id !== req.id ? { ...cur, lastReboot: settled } : undefined));
  }

  private async stopVm(vm: Vm): Promise<void> {
    await this.observe(vm.id, (cur) => ({ ...cur, status: 'stopping' }));
    await this.runtime.stop(vm, true);
    await this.runtime.stopKeeper(vm.id);
    await this.observe(vm.id, (cur) => withoutQemu({ ...cur, status: 'stopped', observedGeneration: vm.generation }));
    this.log.info({ vm: vm.id, name: vm.name }, 'VM stopped');
  }

  /**
   * The DNS resolvers of each NIC's network: its own, else dns_resolvers. A
   * network record that is gone (never while a VM uses it) counts as naming none.
   */
  private async nicResolvers(vm: Vm): Promise<string[][]> {
    return Promise.all(
      (vm.nics ?? []).map(async (nic) => resolversOf((await this.store.get(Kinds.network, Keys.network(vm.owner, nic.network)))?.value ?? {}, this.opts.dnsResolvers ?? [])),
    );
  }

  /** Whether another VM on this host still needs network `vni`. */
  private vniInUse(vni: number, except: string): boolean {
    // A VM arriving here (an incoming migration) needs its network as much as one that runs here.
    const here = (v: Vm) => v.host === this.opts.name || v.migration?.destination === this.opts.name;
    return this.informer.values().some((v) => v.id !== except && here(v) && v.desired !== 'deleted' && (v.nics ?? []).some((n) => n.vni === vni));
  }

  private async delete(vm: Vm): Promise<void> {
    this.monitors.unwatch(vm.id);
    if (vm.status !== 'deleting') await this.observe(vm.id, (cur) => ({ ...cur, status: 'deleting' }));
    const local = await this.runtime.readLocal(vm.id);
    await this.runtime.destroy(vm, vm.disks.length ? vm.disks : (local?.disks ?? []));
    await this.runtime.removeNics({ id: vm.id, nics: vm.nics ?? local?.nics ?? [] }, (vni) => this.vniInUse(vni, vm.id));
    await this.vms.finalizeDelete(vm.id);
    this.log.info({ vm: vm.id, name: vm.name }, 'VM deleted');
  }
}

function withHaArmed(vm: Vm, armed: boolean): Vm {
  const next = { ...vm };
  if (armed) next.haArmed = true;
  else delete next.haArmed;
  return next;
}

function withoutQemu(vm: Vm): Vm {
  const next = { ...vm };
  delete next.qemu;
  delete next.haArmed;
  return next;
}
