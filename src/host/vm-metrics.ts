import { execFileSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { escapeLabel, type MetricsRegistry } from '../common/metrics.js';
import type { Vm, VmStats } from '../model/index.js';
import type { QmpExecutor } from './qemu/index.js';

// Per-VM figures of a host, read when Prometheus scrapes (never on a timer):
// CPU and RSS of the QEMU process from /proc, disk counters from QEMU
// (query-blockstats on the agent's standing monitor), NIC counters of the
// taps from /proc/net/dev (one read for all of them). docs/metrics.md.

/** What the collector reads the host's VMs from (the agent; tests and bench/metrics give their own). */
export interface VmStatsSource {
  host: string;
  /** This host's VM records. */
  vms(): Vm[];
  /** The pid of the VM's running QEMU, if it runs here. */
  pid(vm: Vm): number | undefined;
  /** A QMP session to the VM's QEMU, if one is open. */
  qmp(vm: Vm): QmpExecutor | undefined;
  /** The VM's taps, NIC by NIC. */
  taps(vm: Vm): string[];
}

/** The model's limits: an OS disk and 8 hdds, 8 NICs. */
const MAX_DISKS = 9;
const MAX_NICS = 8;
/**
 * Series one VM can add, whatever it does: state, CPU, RSS, then 4 per disk
 * and 4 per NIC. Labels are the VM's id, name, owner and host (and disk or
 * nic): nothing per request, so the count per VM is fixed.
 */
export const MAX_SERIES_PER_VM = 3 + 4 * MAX_DISKS + 4 * MAX_NICS;

/** How long a scrape waits for one QEMU's block stats; a stuck QEMU only loses its disk series. */
const QMP_TIMEOUT_MS = 1000;
/** Metrics of one scrape read the same sample (collects run side by side). */
const SAMPLE_REUSE_MS = 500;

interface BlockStats {
  device: string;
  stats: { rd_bytes: number; wr_bytes: number; rd_operations: number; wr_operations: number };
}

interface VmSample {
  vm: Vm;
  labels: { vm: string; name: string; owner: string; host: string };
  cpuSeconds?: number;
  rssBytes?: number;
  disks: { disk: string; rdBytes: number; wrBytes: number; rdOps: number; wrOps: number }[];
  nics: { nic: string; rxBytes: number; txBytes: number; rxPackets: number; txPackets: number }[];
}

interface Family {
  name: string;
  type: 'counter' | 'gauge';
  help: string;
  /** Each series of one VM: its extra labels (already formatted, with a leading comma) and value. */
  rows(s: VmSample): [string, number][];
}

const disk = (name: string, help: string, pick: (d: VmSample['disks'][number]) => number): Family => ({
  name,
  type: 'counter',
  help,
  rows: (s) => s.disks.map((d) => [`,disk="${escapeLabel(d.disk)}"`, pick(d)]),
});
const nic = (name: string, help: string, pick: (n: VmSample['nics'][number]) => number): Family => ({
  name,
  type: 'counter',
  help,
  rows: (s) => s.nics.map((n) => [`,nic="${n.nic}"`, pick(n)]),
});

/** The per-VM families, documented in docs/metrics.md. */
export const VM_FAMILIES: readonly Family[] = [
  { name: 'ucloud_vm_state', type: 'gauge', help: "1 for the VM's status as its record on this host says (pending, starting, running, stopped, error, ...).", rows: (s) => [[`,state="${escapeLabel(s.vm.status)}"`, 1]] },
  { name: 'ucloud_vm_cpu_seconds_total', type: 'counter', help: "CPU time of the VM's QEMU process (user and system, all vCPUs and QEMU's own threads).", rows: (s) => (s.cpuSeconds === undefined ? [] : [['', s.cpuSeconds]]) },
  { name: 'ucloud_vm_memory_rss_bytes', type: 'gauge', help: "Resident memory of the VM's QEMU process (guest RAM it touched and QEMU's own).", rows: (s) => (s.rssBytes === undefined ? [] : [['', s.rssBytes]]) },
  disk('ucloud_vm_disk_read_bytes_total', 'Bytes the guest read from the disk (QEMU query-blockstats).', (d) => d.rdBytes),
  disk('ucloud_vm_disk_written_bytes_total', 'Bytes the guest wrote to the disk (QEMU query-blockstats).', (d) => d.wrBytes),
  disk('ucloud_vm_disk_reads_total', 'Read requests the guest made to the disk.', (d) => d.rdOps),
  disk('ucloud_vm_disk_writes_total', 'Write requests the guest made to the disk.', (d) => d.wrOps),
  nic('ucloud_vm_network_receive_bytes_total', 'Bytes the guest received on the NIC (its tap sent them).', (n) => n.rxBytes),
  nic('ucloud_vm_network_transmit_bytes_total', 'Bytes the guest sent on the NIC (its tap received them).', (n) => n.txBytes),
  nic('ucloud_vm_network_receive_packets_total', 'Packets the guest received on the NIC.', (n) => n.rxPackets),
  nic('ucloud_vm_network_transmit_packets_total', 'Packets the guest sent on the NIC.', (n) => n.txPackets),
];

export class VmMetrics {
  private sampled: { samples: Promise<VmSample[]>; doneAt?: number } | undefined;
  private readonly procStats = new ProcStatFiles();
  private readonly oneOff: Pick<ProcStatFiles, 'read'> = { read: readProcStat };

  /** Without a registry (metrics off), it still answers `statsOf` for the console endpoint's `/stats`. */
  constructor(
    registry: MetricsRegistry | undefined,
    private readonly source: VmStatsSource,
    private readonly opts: { sampleReuseMs?: number } = {},
  ) {
    registry?.addExposition(() => this.exposition());
  }

  /** One VM's figures now, as `GET /v1/vms/<ref>/stats` shows them; undefined: no such VM on this host. */
  async statsOf(vmId: string): Promise<VmStats | undefined> {
    const vm = this.source.vms().find((v) => v.id === vmId);
    if (!vm) return undefined;
    // Its own descriptor, not the scrape's: a scrape closes the files of pids it did not read.
    const s = await this.readVm(vm, vm.nics?.length ? readNetDev() : new Map<string, NetDev>(), this.oneOff);
    return {
      vm: vm.name,
      host: this.source.host,
      at: new Date().toISOString(),
      ...(s.cpuSeconds === undefined ? {} : { cpuSeconds: s.cpuSeconds }),
      ...(s.rssBytes === undefined ? {} : { memoryRssBytes: s.rssBytes }),
      disks: s.disks.map((d) => ({ disk: d.disk, readBytes: d.rdBytes, writtenBytes: d.wrBytes, reads: d.rdOps, writes: d.wrOps })),
      nics: s.nics.map((n) => ({ nic: n.nic, receiveBytes: n.rxBytes, transmitBytes: n.txBytes, receivePackets: n.rxPackets, transmitPackets: n.txPackets })),
    };
  }

  /** The per-VM families in the text exposition format. */
  async exposition(): Promise<string> {
    const samples = await this.sample();
    const labels = samples.map((s) => `vm="${escapeLabel(s.vm.id)}",name="${escapeLabel(s.vm.name)}",owner="${escapeLabel(s.vm.owner)}",host="${escapeLabel(this.source.host)}"`);
    const out: string[] = [];
    for (const f of VM_FAMILIES) {
      out.push(`# HELP ${f.name} ${f.help}\n# TYPE ${f.name} ${f.type}\n`);
      samples.forEach((s, i) => {
        for (const [extra, value] of f.rows(s)) out.push(`${f.name}{${labels[i]}${extra}} ${value}\n`);
      });
    }
    return out.join('');
  }

  /** One reading of every VM, shared by the metrics of one scrape. */
  sample(): Promise<VmSample[]> {
    // A scrape calls every metric's collect at once: they share the reading in flight, and one done just now.
    const s = this.sampled;
    if (s && (s.doneAt === undefined || Date.now() - s.doneAt < (this.opts.sampleReuseMs ?? SAMPLE_REUSE_MS))) return s.samples;
    const next: { samples: Promise<VmSample[]>; doneAt?: number } = { samples: this.read() };
    next.samples.finally(() => (next.doneAt = Date.now())).catch(() => undefined);
    this.sampled = next;
    return next.samples;
  }

  private async read(): Promise<VmSample[]> {
    const vms = this.source.vms();
    const netdev = vms.some((vm) => vm.nics?.length) ? readNetDev() : new Map<string, NetDev>();
    const samples = Promise.all(vms.map((vm) => this.readVm(vm, netdev)));
    // Every pid was read synchronously above: files of QEMUs gone since the last scrape close now.
    this.procStats.closeUnused();
    return samples;
  }

  private async readVm(vm: Vm, netdev: Map<string, NetDev>, proc: Pick<ProcStatFiles, 'read'> = this.procStats): Promise<VmSample> {
    const s: VmSample = { vm, labels: { vm: vm.id, name: vm.name, owner: vm.owner, host: this.source.host }, disks: [], nics: [] };
    const pid = this.source.pid(vm);
    if (pid === undefined) return s;
    const blocks = this.blockStats(vm);
    const cpu = proc.read(pid);
    if (cpu) Object.assign(s, cpu);
    for (const b of await blocks) {
      const index = /^disk(\d+)$/.exec(b.device)?.[1];
      if (index === undefined) continue;
      s.disks.push({ disk: vm.disks[Number(index)]?.name ?? b.device, rdBytes: b.stats.rd_bytes, wrBytes: b.stats.wr_bytes, rdOps: b.stats.rd_operations, wrOps: b.stats.wr_operations });
    }
    this.source.taps(vm).forEach((tap, i) => {
      const d = netdev.get(tap);
      // A tap's receive is what the guest sent.
      if (d) s.nics.push({ nic: String(i), rxBytes: d.txBytes, txBytes: d.rxBytes, rxPackets: d.txPackets, txPackets: d.rxPackets });
    });
    return s;
  }

  private async blockStats(vm: Vm): Promise<BlockStats[]> {
    const qmp = this.source.qmp(vm);
    if (!qmp) return [];
    return qmp.execute<BlockStats[]>('query-blockstats', undefined, { timeoutMs: QMP_TIMEOUT_MS }).catch(() => []);
  }
}

/** Clock ticks of /proc/<pid>/stat: USER_HZ, 100 on every Linux ucloud runs on. */
const USER_HZ = 100;
let pageSize: number | undefined;
function pageBytes(): number {
  if (pageSize === undefined) {
    try {
      pageSize = Number(execFileSync('getconf', ['PAGESIZE'], { encoding: 'utf8' }).trim()) || 4096;
    } catch {
      pageSize = 4096;
    }
  }
  return pageSize;
}

/** CPU and RSS of a process, from one open, read and close of its stat file. */
function readProcStat(pid: number): { cpuSeconds: number; rssBytes: number } | undefined {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'latin1'));
  } catch {
    return undefined;
  }
}

/** utime + stime (fields 14, 15) and rss (field 24) of /proc/<pid>/stat; fields counted after the command's closing parenthesis. */
function parseProcStat(text: string): { cpuSeconds: number; rssBytes: number } {
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // f[0] is field 3 (state).
  return { cpuSeconds: (Number(f[11]) + Number(f[12])) / USER_HZ, rssBytes: Number(f[21]) * pageBytes() };
}

/**
 * /proc/<pid>/stat of each QEMU, opened once and read again from offset 0 at
 * each scrape (procfs makes it afresh): a quarter of the cost of open, read and
 * close per VM per scrape. The descriptor stays with the process it was opened
 * for, so a reused pid never reads a stranger: the dead one's reads fail (ESRCH).
 */
export class ProcStatFiles {
  private readonly fds = new Map<number, number>();
  private readonly used = new Set<number>();
  private readonly buffer = Buffer.alloc(2048);

  read(pid: number): { cpuSeconds: number; rssBytes: number } | undefined {
    this.used.add(pid);
    let fd = this.fds.get(pid);
    try {
      if (fd === undefined) {
        fd = openSync(`/proc/${pid}/stat`, 'r');
        this.fds.set(pid, fd);
      }
      const n = readSync(fd, this.buffer, 0, this.buffer.length, 0);
      return parseProcStat(this.buffer.toString('latin1', 0, n));
    } catch {
      if (fd !== undefined) this.close(pid);
      return undefined;
    }
  }

  /** Closes the files of pids not read since the last call. */
  closeUnused(): void {
    for (const pid of this.fds.keys()) if (!this.used.has(pid)) this.close(pid);
    this.used.clear();
  }

  private close(pid: number): void {
    const fd = this.fds.get(pid);
    this.fds.delete(pid);
    if (fd !== undefined) closeSync(fd);
  }
}

interface NetDev {
  rxBytes: number;
  rxPackets: number;
  txBytes: number;
  txPackets: number;
}

/** Every interface's counters of this network namespace, from one read of /proc/net/dev. */
export function readNetDev(): Map<string, NetDev> {
  const out = new Map<string, NetDev>();
  let text = '';
  try {
    text = readFileSync('/proc/net/dev', 'utf8');
  } catch {
    // No /proc/net/dev: no NIC series.
  }
  for (const line of text.split('\n').slice(2)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const v = line.slice(colon + 1).trim().split(/\s+/).map(Number);
    out.set(line.slice(0, colon).trim(), { rxBytes: v[0]!, rxPackets: v[1]!, txBytes: v[8]!, txPackets: v[9]! });
  }
  return out;
}
