import { chmod, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { Accel } from '../common/accel.js';
import type { QemuOffer } from '../common/qemu-compat.js';
import { UcloudError } from '../common/errors.js';
import { run } from '../common/exec.js';
import type { Logger } from '../common/logger.js';
import { Reverter } from '../common/reverter.js';
import type { ImageManager } from '../managers/images.js';
import { linkLocalAddress } from '../common/eui64.js';
import { nowIso, type Vm, type VmDisk, type VmNic, type VmQemu } from '../model/index.js';
import type { DiskVolume, StorageDriver } from '../storage/driver.js';
import { keeperPid, startKeeper, stopKeeper } from './console/supervise.js';
import type { HostNetwork } from './network/index.js';
import { buildCidata, nocloudNetSerial, removeCidata, type NoCloudSeed } from './seed.js';
import { VmUids, type UidRange } from './vm-uids.js';
import { blockResize, buildQemuArgs, cont, isOurQemu, killQemu, launchQemu, QmpMonitor, queryStatus, quit, readPidFile, setShutdownAction, systemPowerdown, systemReset, waitForExit } from './qemu/index.js';

export interface RuntimeConfig {
  runDir: string;
  qemuBinary: string;
  machine: 'pc' | 'q35';
  /** cpu_model: the CPU model a VM is given when it starts (then recorded in its VmQemu); absent: host (KVM) / max (TCG). */
  cpuModel?: string;
  accel: Accel;
  stopTimeoutMs: number;
  /** Cap of each VM's console log (console_log_size). */
  consoleLogBytes: number;
  /** qemu_uid_range: each VM's QEMU runs as its own uid from it; undefined: as root. */
  uidRange?: UidRange;
  /** metadata_port: goes into the NoCloud seed URL of the SMBIOS serial; default 80. */
  metadataPort?: number;
}

/** What the host keeps about a VM outside etcd, so it can clean up after a VM whose record is gone. */
interface LocalRecord {
  id: string;
  disks: VmDisk[];
  nics?: VmNic[];
  /** The uid (= gid) this VM's QEMU runs as on this host; claimed in VmUids. */
  uid?: number;
}

/**
 * The OS side of one host's VMs: their disks (through the storage drivers) and
 * their QEMU processes. It writes nothing to etcd; the agent records what it
 * reports.
 */
export class VmRuntime {
  constructor(
    private readonly cfg: RuntimeConfig,
    private readonly images: ImageManager,
    private readonly network: HostNetwork,
    private readonly log: Logger,
  ) {}

  /** VNI → what it was made with (prefix and resolvers). */
  private readonly networksReady = new Map<number, string>();

  /** The tap of a VM's NIC: unique on the host, within Linux's 15 characters. */
  static tapName(vmId: string, index: number): string {
    return `uc${vmId.replace(/-/g, '').slice(0, 10)}n${index}`;
  }

  /**
   * Bridge, VXLAN and radvd of each NIC's network, and the NIC's tap with its
   * anti-spoofing rules (only its own MAC, its SLAAC and link-local addresses).
   * `resolvers[i]`: the DNS resolvers radvd advertises on NIC i's network.
   * Idempotent: calling it for a running VM disturbs nothing.
   */
  async ensureNics(vm: Pick<Vm, 'id' | 'nics'>, resolvers: readonly (readonly string[])[] = []): Promise<{ ifname: string; mac: string }[]> {
    const out = [];
    for (const [i, nic] of (vm.nics ?? []).entries()) {
      const dns = resolvers[i] ?? [];
      const made = `${nic.prefix} ${dns.join(',')}`;
      // A network this agent made or checked stays as it is until it removes it; a restarted agent checks again.
      if (this.networksReady.get(nic.vni) !== made) {
        await this.network.ensureNetwork({ vni: nic.vni, prefix: nic.prefix, resolvers: dns });
        this.networksReady.set(nic.vni, made);
      }
      const ifname = VmRuntime.tapName(vm.id, i);
      await this.network.ensureNic({ vni: nic.vni, ifname, mac: nic.mac, allowedSources: [nic.address, linkLocalAddress(nic.mac)] });
      out.push({ ifname, mac: nic.mac });
    }
    return out;
  }

  /** The host firewall's hole for an incoming migration: `port` open to `source` only. */
  openMigrationPort(source: string, port: number): Promise<void> {
    return this.network.openMigrationPort(source, port);
  }

  closeMigrationPort(port: number): Promise<void> {
    return this.network.closeMigrationPort(port);
  }

  /** Removes the VM's taps, then each network no other VM here still uses. */
  async removeNics(vm: Pick<Vm, 'id' | 'nics'>, stillUsed: (vni: number) => boolean): Promise<void> {
    for (const [i, nic] of (vm.nics ?? []).entries()) {
      await this.network.removeNic(VmRuntime.tapName(vm.id, i));
      if (!stillUsed(nic.vni)) {
        this.networksReady.delete(nic.vni);
        await this.network.removeNetwork(nic.vni);
      }
    }
  }

  /** run_dir: where this host keeps its per-VM and fencing state. */
  get runDir(): string {
    return this.cfg.runDir;
  }

  dir(id: string): string {
    return join(this.cfg.runDir, 'vms', id);
  }

  paths(id: string) {
    const d = this.dir(id);
    return {
      pidFile: join(d, 'qemu.pid'),
      qmpSocket: join(d, 'qmp.sock'),
      // The agent's standing monitor (events); qmp.sock stays free for one-shot commands.
      eventSocket: join(d, 'events.sock'),
      serialSocket: join(d, 'serial.sock'),
      // Written by the console keeper, capped: console.log (newest) and console.log.1.
      serialLog: join(d, 'console.log'),
      // The keeper's socket for interactive consoles (root only).
      consoleAttach: join(d, 'console.sock'),
      // QEMU's VNC server, for a VM with display vnc (root only, like the others).
      vncSocket: join(d, 'vnc.sock'),
      local: join(d, 'vm.json'),
    };
  }

  private keeperPaths(id: string) {
    const d = this.dir(id);
    const p = this.paths(id);
    return { dir: d, socket: p.serialSocket, log: p.serialLog, pidFile: join(d, 'keeper.pid'), errFile: join(d, 'keeper.err'), attach: p.consoleAttach };
  }

  /**
   * Makes sure the VM's console keeper runs: finds the one a previous agent
   * started (it outlives agents, like QEMU), or starts one. Returns its pid.
   */
  async ensureKeeper(id: string): Promise<number> {
    // Callers may overlap (a reconcile pass and a start): they share one check-and-start, never two keepers.
    const inFlight = this.keeperChecks.get(id);
    if (inFlight) return inFlight;
    const check = (async () => {
      const p = this.keeperPaths(id);
      const pid = await keeperPid(p);
      if (pid !== undefined) return pid;
      const started = await startKeeper(p, this.cfg.consoleLogBytes);
      this.log.info({ vm: id, pid: started }, 'console keeper started');
      return started;
    })();
    this.keeperChecks.set(id, check);
    try {
      return await check;
    } finally {
      this.keeperChecks.delete(id);
    }
  }

  private readonly keeperChecks = new Map<string, Promise<number>>();

  /** Stops the VM's console keeper; its log stays (until the VM is deleted). */
  async stopKeeper(id: string): Promise<void> {
    await stopKeeper(this.keeperPaths(id));
  }

  /** The pid of this VM's QEMU if it is alive (pid from the record or the pid file, checked against /proc). */
  async runningPid(vm: Pick<Vm, 'id' | 'qemu'>): Promise<number | undefined> {
    const candidates = [vm.qemu?.pid, await readPidFile(this.paths(vm.id).pidFile).catch(() => undefined)];
    for (const pid of candidates) if (pid && isOurQemu(pid, vm.id)) return pid;
    return undefined;
  }

  /** Makes the VM's disks that do not exist yet (the OS disk from the image, `--hdd` disks empty); returns the full list to record. */
  async ensureDisks(vm: Vm, r: Reverter): Promise<VmDisk[]> {
    const wanted = [{ name: 'os', sizeBytes: vm.diskBytes }, ...(vm.hddBytes ?? []).map((sizeBytes, i) => ({ name: `hdd${i}`, sizeBytes }))];
    const missing = wanted.filter((w) => !vm.disks.some((d) => d.name === w.name));
    if (missing.length === 0) return vm.disks;
    const image = await this.images.forVm(vm);
    const driver = await this.images.driverFor(vm.image.store);
    const disks = [...vm.disks];
    for (const w of missing) {
      let volume;
      if (w.name === 'os') {
        if (!image?.volume || image.status !== 'ready') throw new UcloudError('IMAGE_NOT_READY', `image ${vm.image.store}/${vm.image.name} is not ready`);
        volume = await driver.createDisk(`${vm.id}-os`, w.sizeBytes, image.volume);
      } else {
        volume = await driver.createDisk(`${vm.id}-${w.name}`, w.sizeBytes);
      }
      const made = volume;
      r.add(`delete ${w.name} disk`, () => driver.deleteDisk(made));
      disks.push({ name: w.name, store: vm.image.store, ref: volume.ref, format: volume.format, sizeBytes: w.sizeBytes });
    }
    disks.sort((a, b) => (a.name === 'os' ? -1 : b.name === 'os' ? 1 : a.name.localeCompare(b.name)));
    await this.writeLocal({ id: vm.id, disks, ...(vm.nics ? { nics: vm.nics } : {}) });
    return disks;
  }

  /**
   * The recorded disks as their drivers know them, each with its driver. The OS
   * disk carries the image it was made from: the driver checks the disk still
   * names exactly that image and has QEMU open that one.
   */
  private async volumes(vm: Vm, disks: VmDisk[]): Promise<{ driver: StorageDriver; volume: DiskVolume }[]> {
    const base = disks.some((d) => d.name === 'os') ? (await this.images.forVm(vm))?.volume : undefined;
    return Promise.all(
      disks.map(async (d) => ({
        driver: await this.images.driverFor(d.store),
        // A standalone copy (a migration's disk copy) names no image: opened and checked as itself.
        volume: { ref: d.ref, format: d.format, ...(d.name === 'os' && base && !d.standalone ? { base } : {}) },
      })),
    );
  }

  /** The size each recorded disk should have now (disks only grow). */
  static wantedSize(vm: Vm, disk: VmDisk): number {
    const want = disk.name === 'os' ? vm.diskBytes : (vm.hddBytes ?? [])[Number(disk.name.slice(3))];
    return Math.max(disk.sizeBytes, want ?? 0);
  }

  /**
   * Grows disks to their wanted size: through QMP while QEMU runs (it holds the
   * image open, and the guest sees the new size at once), else through the driver.
   * Returns the disks with their new sizes.
   */
  async growDisks(vm: Vm, running: boolean): Promise<VmDisk[]> {
    const out: VmDisk[] = [];
    const volumes = running ? [] : await this.volumes(vm, vm.disks);
    for (const [i, d] of vm.disks.entries()) {
      const want = VmRuntime.wantedSize(vm, d);
      if (want > d.sizeBytes) {
        if (running) {
          const mon = await QmpMonitor.connect(this.paths(vm.id).qmpSocket, { timeoutMs: 5000 });
          try {
            await blockResize(mon, `disk${i}`, want);
          } finally {
            await mon.close();
          }
        } else {
          await volumes[i]!.driver.resizeDisk(volumes[i]!.volume, want);
        }
        this.log.info({ vm: vm.id, disk: d.name, bytes: want, online: running }, 'disk grown');
      }
      out.push({ ...d, sizeBytes: want });
    }
    return out;
  }

  /**
   * Starts QEMU. A VM with a NIC gets the SMBIOS serial that points cloud-init
   * at the metadata server of its first network; `seed` (for a VM without
   * one) becomes a read-only cidata disk, attached after its own disks.
   */
  async start(vm: Vm, disks: VmDisk[], seed?: NoCloudSeed): Promise<VmQemu> {
    return this.launch(vm, disks, seed);
  }

  /**
   * The destination of a live migration: the same machine as the source's
   * (its recorded versioned machine type, the VM's disks, NICs and seed disk),
   * started paused with `-incoming defer` so the caller picks the listening
   * address through QMP. Disks are opened, never checked or written: the
   * source's QEMU owns them until the switch-over. No console keeper yet:
   * the agent starts one once the VM is its own. `disks`: the VM's own
   * (shared store), or the empty copies this host made to receive them (mode copy).
   */
  async startIncoming(vm: Vm, seed?: NoCloudSeed, disks: VmDisk[] = vm.disks): Promise<VmQemu> {
    await this.writeLocal({ id: vm.id, ...(vm.nics ? { nics: vm.nics } : {}) });
    return this.launch(vm, disks, seed, { incoming: 'defer', ...(vm.qemu?.machine ? { machine: vm.qemu.machine } : {}), ...(vm.qemu?.cpu ? { cpu: vm.qemu.cpu } : {}) });
  }

  /** Records the VM's disks and NICs locally, as a VM started here would have them (after a migration in). */
  async adopt(vm: Pick<Vm, 'id' | 'disks' | 'nics'>): Promise<void> {
    await this.writeLocal({ id: vm.id, disks: vm.disks, ...(vm.nics ? { nics: vm.nics } : {}) });
  }

  /**
   * Forgets the VM's disks locally (they now belong to another host's QEMU),
   * so removing what is left here never deletes them.
   */
  async releaseDisks(id: string): Promise<void> {
    if (await this.readLocal(id)) await this.writeLocal({ id, disks: [] });
  }

  private machineAlias: Promise<string> | undefined;

  /**
   * The versioned machine type the configured alias (`pc`, `q35`) stands for
   * in this QEMU, so a migration's destination can build the very same machine
   * even where its QEMU's alias points elsewhere. The alias itself if QEMU
   * does not say.
   */
  pinnedMachine(): Promise<string> {
    this.machineAlias ??= run(this.cfg.qemuBinary, ['-machine', 'help'], { timeoutMs: 10_000 })
      .then(({ stdout }) => new RegExp(`^${this.cfg.machine}\\s.*\\(alias of (\\S+)\\)`, 'm').exec(stdout)?.[1] ?? this.cfg.machine)
      .catch(() => this.cfg.machine);
    return this.machineAlias;
  }

  private offer: Promise<QemuOffer> | undefined;

  /**
   * What this host's QEMU can run, asked once (`-machine help`, `-cpu help`),
   * and a signature of this host's CPU and QEMU: announced with the host's
   * presence so a migration goes only where the VM's machine can be rebuilt.
   */
  qemuOffer(): Promise<QemuOffer> {
    this.offer ??= (async () => {
      const list = async (what: string, re: RegExp) => [...(await run(this.cfg.qemuBinary, [what, 'help'], { timeoutMs: 10_000 })).stdout.matchAll(re)].map((m) => m[1]!);
      const machines = await list('-machine', /^(\S+)\s{2,}/gm);
      const cpuModels = await list('-cpu', /^x86 (\S+)/gm);
      const cpuinfo = await readFile('/proc/cpuinfo', 'utf8').catch(() => '');
      const first = cpuinfo.split('\n\n')[0] ?? '';
      const line = (k: string) => new RegExp(`^${k}\\s*:\\s*(.*)$`, 'm').exec(first)?.[1] ?? '';
      const version = (await run(this.cfg.qemuBinary, ['--version'], { timeoutMs: 10_000 })).stdout.split('\n')[0] ?? '';
      const hostCpu = createHash('sha256').update([line('vendor_id'), line('model name'), line('flags'), version, this.cfg.accel].join('\n')).digest('hex').slice(0, 32);
      // Only the machine types a VM can be given (cmdline.ts): the announcement stays small.
      return { machines: machines.filter((m) => /^(pc|q35|pc-(i440fx|q35)-\d+\.\d+)$/.test(m)), cpuModels, hostCpu };
    })();
    this.offer.catch(() => {
      this.offer = undefined;
    });
    return this.offer;
  }

  private async launch(vm: Vm, disks: VmDisk[], seed: NoCloudSeed | undefined, opts: { incoming?: string; machine?: string; cpu?: string } = {}): Promise<VmQemu> {
    const p = this.paths(vm.id);
    // Root-only: QEMU makes its sockets and pid file here as root, before it
    // drops to the VM's uid, so no VM's uid can reach another VM's QMP or
    // console socket; root-side tools (agent, keeper, CLI on the host) can.
    await mkdir(this.dir(vm.id), { recursive: true, mode: 0o700 });
    await chmod(this.dir(vm.id), 0o700);
    await rm(p.qmpSocket, { force: true });
    await rm(p.serialSocket, { force: true });
    await rm(p.eventSocket, { force: true });
    await rm(p.vncSocket, { force: true });
    // This VM's QEMU is gone (the agent starts only a stopped VM), so what it
    // may have written into its disks' metadata is checked now, before QEMU
    // opens them as root. Disks stay root's: no VM uid can open any of them.
    const volumes = await this.volumes(vm, disks);
    if (!opts.incoming) for (const { driver, volume } of volumes) await driver.verifyDisk(volume);
    const drives = volumes.map(({ driver, volume }) => driver.qemuDrive(volume));
    // Built again at each start, so it always carries the VM's current keys and user-data.
    if (seed) drives.push(await buildCidata(this.dir(vm.id), seed));
    else await removeCidata(this.dir(vm.id));
    const firstNic = vm.nics?.[0];
    // The taps exist: the agent made them (ensureNics) before starting QEMU.
    const nics = (vm.nics ?? []).map((n, i) => ({ ifname: VmRuntime.tapName(vm.id, i), mac: n.mac }));
    const runAs = await this.ownerFor(vm.id);
    const machine = opts.machine ?? (await this.pinnedMachine());
    const cpu = opts.cpu ?? this.cfg.cpuModel;
    const args = buildQemuArgs({
      ...(runAs ? { runAs } : {}),
      id: vm.id,
      name: vm.name,
      cpus: vm.cpu,
      ramBytes: vm.ramBytes,
      accel: this.cfg.accel,
      machine,
      ...(cpu ? { cpu } : {}),
      disks: drives,
      nics,
      ...(firstNic ? { smbiosSerial: nocloudNetSerial(firstNic.prefix, this.cfg.metadataPort) } : {}),
      paths: { pidFile: p.pidFile, qmpSocket: p.qmpSocket, serialSocket: p.serialSocket, eventSocket: p.eventSocket, ...(vm.display === 'vnc' ? { vncSocket: p.vncSocket } : {}) },
      ...(opts.incoming ? { incoming: opts.incoming } : {}),
    });
    const { pid } = await launchQemu(this.cfg.qemuBinary, args, { timeoutMs: 30_000 });
    if (opts.incoming) return { pid, qmpSocket: p.qmpSocket, serialLog: p.serialLog, accel: this.cfg.accel, startedAt: nowIso(), machine, ...(cpu ? { cpu } : {}) };
    // After QEMU, which makes the socket; output before the keeper connects
    // (firmware, the first ms of boot) is dropped. A keeper that fails to start
    // does not fail the VM: the agent's next look at the VM starts it again.
    await this.ensureKeeper(vm.id).catch((err: unknown) => this.log.warn({ err, vm: vm.id }, 'cannot start the console keeper'));
    return { pid, qmpSocket: p.qmpSocket, serialLog: p.serialLog, accel: this.cfg.accel, startedAt: nowIso(), machine, ...(cpu ? { cpu } : {}) };
  }

  /**
   * Graceful: ACPI power button, then QMP quit after stop_timeout, then SIGKILL.
   * Not graceful (deletion): quit at once.
   */
  async stop(vm: Vm, graceful: boolean): Promise<void> {
    const pid = await this.runningPid(vm);
    if (!pid) return;
    const p = this.paths(vm.id);
    let mon: QmpMonitor | undefined;
    try {
      mon = await QmpMonitor.connect(p.qmpSocket, { timeoutMs: 5000 });
      if (graceful) {
        await systemPowerdown(mon);
        if (await waitForExit(pid, this.cfg.stopTimeoutMs)) return;
        this.log.warn({ vm: vm.id }, 'guest did not power off in time; quitting QEMU');
      }
      await quit(mon).catch(() => undefined);
      if (await waitForExit(pid, 5000)) return;
    } catch (err) {
      this.log.warn({ err, vm: vm.id }, 'QMP unavailable while stopping; killing QEMU');
    } finally {
      await mon?.close();
    }
    await killQemu(pid, vm.id);
  }

  /**
   * Reboots the guest in the same QEMU. Not forced: the ACPI power button with
   * QEMU told to pause rather than exit when the guest powers off, then a reset
   * once it did ('acpi') or after stop_timeout when it did not ('reset'), as a
   * hypervisor's reboot does for a guest that ignores the button. Forced: the
   * reset at once. Either way QEMU exits on a guest power-off again afterwards.
   */
  async reboot(vm: Vm, force: boolean): Promise<'acpi' | 'reset'> {
    const mon = await QmpMonitor.connect(this.paths(vm.id).qmpSocket, { timeoutMs: 5000 });
    try {
      let mode: 'acpi' | 'reset' = 'reset';
      if (!force) {
        await setShutdownAction(mon, 'pause');
        // Guest-initiated only: a host-side shutdown request is not the guest's answer.
        const down = mon.waitForEvent('SHUTDOWN', this.cfg.stopTimeoutMs, (e) => (e.data as { guest?: boolean } | undefined)?.guest === true);
        await systemPowerdown(mon);
        mode = await down.then(
          () => 'acpi' as const,
          (err: unknown) => {
            if (err instanceof UcloudError && err.code === 'QMP_TIMEOUT') return 'reset' as const;
            throw err;
          },
        );
        if (mode === 'reset') this.log.warn({ vm: vm.id }, 'guest did not power off in time; resetting it');
      }
      const reset = mon.waitForEvent('RESET', 10_000);
      await systemReset(mon);
      await reset;
      // A guest that powered off is paused in state `shutdown`: after the reset it runs again only when told.
      if (!(await queryStatus(mon)).running) await cont(mon);
      return mode;
    } finally {
      await setShutdownAction(mon, 'poweroff').catch((err: unknown) => this.log.warn({ err, vm: vm.id }, 'cannot restore the power-off action'));
      await mon.close();
    }
  }

  /** Stops QEMU at once and removes the disks and the run directory. Idempotent. */
  /** The driver of store `name` (a migration's disk copy makes and deletes volumes through it). */
  driverFor(name: string): Promise<StorageDriver> {
    return this.images.driverFor(name);
  }

  async destroy(vm: Pick<Vm, 'id' | 'qemu'>, disks: VmDisk[]): Promise<void> {
    const pid = await this.runningPid(vm);
    if (pid) await killQemu(pid, vm.id);
    await this.stopKeeper(vm.id);
    for (const d of disks) {
      await (await this.images.driverFor(d.store)).deleteDisk({ ref: d.ref, format: d.format });
    }
    await rm(this.dir(vm.id), { recursive: true, force: true });
    await this.uids?.release(vm.id);
  }

  /** Whether this host holds local state (a run directory) for VM `id`. */
  async hasLocal(id: string): Promise<boolean> {
    return stat(this.dir(id)).then(
      () => true,
      () => false,
    );
  }

  /** VM ids this host holds local state for (run directories). */
  async localIds(): Promise<string[]> {
    return readdir(join(this.cfg.runDir, 'vms')).catch(() => []);
  }

  async readLocal(id: string): Promise<LocalRecord | undefined> {
    try {
      return JSON.parse(await readFile(this.paths(id).local, 'utf8')) as LocalRecord;
    } catch {
      return undefined;
    }
  }

  /** Writes vm.json, keeping what `rec` does not replace (the uid survives a rewrite of the disks). */
  private async writeLocal(rec: Partial<LocalRecord> & { id: string }): Promise<void> {
    await mkdir(this.dir(rec.id), { recursive: true, mode: 0o700 });
    const merged = { disks: [], ...(await this.readLocal(rec.id)), ...rec };
    await writeFile(this.paths(rec.id).local, JSON.stringify(merged));
  }

  private uidsCache: VmUids | undefined;

  private get uids(): VmUids | undefined {
    if (this.cfg.uidRange && !this.uidsCache) this.uidsCache = new VmUids(join(this.cfg.runDir, 'uids'), this.cfg.uidRange);
    return this.uidsCache;
  }

  /**
   * The uid and gid the VM's QEMU runs as: the same across agent restarts and
   * stop/start (vm.json and the claim remember it), unique on this host.
   */
  async ownerFor(id: string): Promise<{ uid: number; gid: number } | undefined> {
    if (!this.uids) return undefined;
    const uid = await this.uids.claim(id, (await this.readLocal(id))?.uid);
    await this.writeLocal({ id, uid });
    return { uid, gid: uid };
  }
}
