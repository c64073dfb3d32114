import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Accel } from '../common/accel.js';
import { UcloudError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { Reverter } from '../common/reverter.js';
import type { ImageManager } from '../managers/images.js';
import { nowIso, type Vm, type VmDisk, type VmQemu } from '../model/index.js';
import { buildQemuArgs, isOurQemu, killQemu, launchQemu, QmpMonitor, readPidFile, systemPowerdown, waitForExit } from './qemu/index.js';

export interface RuntimeConfig {
  runDir: string;
  qemuBinary: string;
  machine: 'pc' | 'q35';
  accel: Accel;
  stopTimeoutMs: number;
}

/** What the host keeps about a VM outside etcd, so it can clean up after a VM whose record is gone. */
interface LocalRecord {
  id: string;
  disks: VmDisk[];
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
    private readonly log: Logger,
  ) {}

  dir(id: string): string {
    return join(this.cfg.runDir, 'vms', id);
  }

  paths(id: string) {
    const d = this.dir(id);
    return { pidFile: join(d, 'qemu.pid'), qmpSocket: join(d, 'qmp.sock'), serialLog: join(d, 'serial.log'), local: join(d, 'vm.json') };
  }

  /** The pid of this VM's QEMU if it is alive (pid from the record or the pid file, checked against /proc). */
  async runningPid(vm: Pick<Vm, 'id' | 'qemu'>): Promise<number | undefined> {
    const candidates = [vm.qemu?.pid, await readPidFile(this.paths(vm.id).pidFile).catch(() => undefined)];
    for (const pid of candidates) if (pid && isOurQemu(pid, vm.id)) return pid;
    return undefined;
  }

  /** Makes the VM's disks that do not exist yet; returns the full list to record. */
  async ensureDisks(vm: Vm, r: Reverter): Promise<VmDisk[]> {
    if (vm.disks.some((d) => d.name === 'os')) return vm.disks;
    const image = await this.images.get(vm.image.store, vm.image.name);
    if (!image?.volume || image.status !== 'ready') {
      throw new UcloudError('IMAGE_NOT_READY', `image ${vm.image.store}/${vm.image.name} is not ready`);
    }
    const driver = await this.images.driverFor(vm.image.store);
    const vol = await driver.createDisk(`${vm.id}-os`, vm.diskBytes, image.volume);
    r.add('delete os disk', () => driver.deleteDisk(vol));
    const disks = [...vm.disks, { name: 'os', store: vm.image.store, ref: vol.ref, format: vol.format, sizeBytes: vm.diskBytes }];
    await this.writeLocal({ id: vm.id, disks });
    return disks;
  }

  async start(vm: Vm, disks: VmDisk[]): Promise<VmQemu> {
    const p = this.paths(vm.id);
    await mkdir(this.dir(vm.id), { recursive: true });
    await rm(p.qmpSocket, { force: true });
    const drives = await Promise.all(disks.map(async (d) => (await this.images.driverFor(d.store)).qemuDrive({ ref: d.ref, format: d.format })));
    const args = buildQemuArgs({
      id: vm.id,
      name: vm.name,
      cpus: vm.cpu,
      ramBytes: vm.ramBytes,
      accel: this.cfg.accel,
      machine: this.cfg.machine,
      disks: drives,
      nics: [],
      paths: { pidFile: p.pidFile, qmpSocket: p.qmpSocket, serialLog: p.serialLog },
    });
    const { pid } = await launchQemu(this.cfg.qemuBinary, args, { timeoutMs: 30_000 });
    return { pid, qmpSocket: p.qmpSocket, serialLog: p.serialLog, accel: this.cfg.accel, startedAt: nowIso() };
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
      await mon.execute('quit').catch(() => undefined);
      if (await waitForExit(pid, 5000)) return;
    } catch (err) {
      this.log.warn({ err, vm: vm.id }, 'QMP unavailable while stopping; killing QEMU');
    } finally {
      mon?.close();
    }
    await killQemu(pid, vm.id);
  }

  /** Stops QEMU at once and removes the disks and the run directory. Idempotent. */
  async destroy(vm: Pick<Vm, 'id' | 'qemu'>, disks: VmDisk[]): Promise<void> {
    const pid = await this.runningPid(vm);
    if (pid) await killQemu(pid, vm.id);
    for (const d of disks) {
      const driver = await this.images.driverFor(d.store);
      await driver.deleteDisk({ ref: d.ref, format: d.format });
    }
    await rm(this.dir(vm.id), { recursive: true, force: true });
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

  private async writeLocal(rec: LocalRecord): Promise<void> {
    await mkdir(this.dir(rec.id), { recursive: true });
    await writeFile(this.paths(rec.id).local, JSON.stringify(rec));
  }
}
