import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { Counter, Gauge, type Registry } from '../common/metrics.js';
import type { Vm } from '../model/index.js';
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

const VM_LABELS = ['vm', 'name', 'owner', 'host'] as const;

export class VmMetrics {
  private sampled: { at: number; samples: Promise<VmSample[]> } | undefined;

  constructor(
    registry: Registry,
    private readonly source: VmStatsSource,
  ) {
    const each = (fill: (s: VmSample) => void) => async () => {
      for (const s of await this.sample()) fill(s);
    };
    const state = new Gauge({
      name: 'ucloud_vm_state',
      help: "1 for the VM's status as its record on this host says (pending, starting, running, stopped, error, …).",
      labelNames: [...VM_LABELS, 'state'],
      registers: [registry],
      collect: async () => {
        state.reset();
        await each((s) => state.set({ ...s.labels, state: s.vm.status }, 1))();
      },
    });
    const counter = (name: string, help: string, extra: string[], fill: (c: Counter<string>, s: VmSample) => void) => {
      const c: Counter<string> = new Counter({
        name,
        help,
        labelNames: [...VM_LABELS, ...extra],
        registers: [registry],
        collect: async () => {
          c.reset();
          await each((s) => fill(c, s))();
        },
      });
    };
    counter('ucloud_vm_cpu_seconds_total', "CPU time of the VM's QEMU process (user and system, all vCPUs and QEMU's own threads).", [], (c, s) => {
      if (s.cpuSeconds !== undefined) c.inc(s.labels, s.cpuSeconds);
    });
    const rss = new Gauge({
      name: 'ucloud_vm_memory_rss_bytes',
      help: "Resident memory of the VM's QEMU process (guest RAM it touched and QEMU's own).",
      labelNames: [...VM_LABELS],
      registers: [registry],
      collect: async () => {
        rss.reset();
        await each((s) => {
          if (s.rssBytes !== undefined) rss.set(s.labels, s.rssBytes);
        })();
      },
    });
    const disk = (name: string, help: string, pick: (d: VmSample['disks'][number]) => number) =>
      counter(name, help, ['disk'], (c, s) => {
        for (const d of s.disks) c.inc({ ...s.labels, disk: d.disk }, pick(d));
      });
    disk('ucloud_vm_disk_read_bytes_total', 'Bytes the guest read from the disk (QEMU query-blockstats).', (d) => d.rdBytes);
    disk('ucloud_vm_disk_written_bytes_total', 'Bytes the guest wrote to the disk (QEMU query-blockstats).', (d) => d.wrBytes);
    disk('ucloud_vm_disk_reads_total', 'Read requests the guest made to the disk.', (d) => d.rdOps);
    disk('ucloud_vm_disk_writes_total', 'Write requests the guest made to the disk.', (d) => d.wrOps);
    const nic = (name: string, help: string, pick: (n: VmSample['nics'][number]) => number) =>
      counter(name, help, ['nic'], (c, s) => {
        for (const n of s.nics) c.inc({ ...s.labels, nic: n.nic }, pick(n));
      });
    nic('ucloud_vm_network_receive_bytes_total', 'Bytes the guest received on the NIC (its tap sent them).', (n) => n.rxBytes);
    nic('ucloud_vm_network_transmit_bytes_total', 'Bytes the guest sent on the NIC (its tap received them).', (n) => n.txBytes);
    nic('ucloud_vm_network_receive_packets_total', 'Packets the guest received on the NIC.', (n) => n.rxPackets);
    nic('ucloud_vm_network_transmit_packets_total', 'Packets the guest sent on the NIC.', (n) => n.txPackets);
  }

  /** One reading of every VM, shared by the metrics of one scrape. */
  sample(): Promise<VmSample[]> {
    const now = Date.now();
    if (this.sampled && now - this.sampled.at < SAMPLE_REUSE_MS) return this.sampled.samples;
    const samples = this.read();
    this.sampled = { at: now, samples };
    return samples;
  }

  private async read(): Promise<VmSample[]> {
    const vms = this.source.vms();
    const netdev = vms.some((vm) => vm.nics?.length) ? await readNetDev() : new Map<string, NetDev>();
    return Promise.all(vms.map((vm) => this.readVm(vm, netdev)));
  }

  private async readVm(vm: Vm, netdev: Map<string, NetDev>): Promise<VmSample> {
    const s: VmSample = { vm, labels: { vm: vm.id, name: vm.name, owner: vm.owner, host: this.source.host }, disks: [], nics: [] };
    const pid = this.source.pid(vm);
    if (pid === undefined) return s;
    const [proc, blocks] = await Promise.all([readProcStat(pid), this.blockStats(vm)]);
    if (proc) Object.assign(s, proc);
    for (const b of blocks) {
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

/** utime + stime (fields 14, 15) and rss (field 24) of /proc/<pid>/stat; fields counted after the command's closing parenthesis. */
export async function readProcStat(pid: number): Promise<{ cpuSeconds: number; rssBytes: number } | undefined> {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (!text) return undefined;
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // f[0] is field 3 (state).
  return { cpuSeconds: (Number(f[11]) + Number(f[12])) / USER_HZ, rssBytes: Number(f[21]) * pageBytes() };
}

interface NetDev {
  rxBytes: number;
  rxPackets: number;
  txBytes: number;
  txPackets: number;
}

/** Every interface's counters of this network namespace, from one read of /proc/net/dev. */
export async function readNetDev(): Promise<Map<string, NetDev>> {
  const out = new Map<string, NetDev>();
  const text = await readFile('/proc/net/dev', 'utf8').catch(() => '');
  for (const line of text.split('\n').slice(2)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const v = line.slice(colon + 1).trim().split(/\s+/).map(Number);
    out.set(line.slice(0, colon).trim(), { rxBytes: v[0]!, rxPackets: v[1]!, txBytes: v[8]!, txPackets: v[9]! });
  }
  return out;
}
