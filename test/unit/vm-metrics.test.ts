import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MetricsRegistry } from '../../src/common/metrics.js';
import type { Vm } from '../../src/model/index.js';
import { QmpMonitor } from '../../src/host/qemu/index.js';
import { MAX_SERIES_PER_VM, ProcStatFiles, VmMetrics } from '../../src/host/vm-metrics.js';
import { fakeQmpServer, qmpReply } from '../helpers/fake-qmp.js';
import { blockStatsReply, runningVmRecord } from '../helpers/vm-record.js';

// Cardinality (issue 15): whatever a host runs, each VM adds at most a fixed
// number of series, labelled by its id, name, owner and host only.

const VMS = 200;

describe('per-VM metrics of a host', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ucloud-vm-metrics-'));
  const servers: Server[] = [];
  const sessions = new Map<string, QmpMonitor>();
  let vms: Vm[] = [];

  beforeAll(async () => {
    // A typical VM (an OS disk, an hdd, two NICs) and, last, one at the model's limits (9 disks, 8 NICs).
    vms = Array.from({ length: VMS }, (_, i) => (i === VMS - 1 ? runningVmRecord('alice', `big`, 'hv1', process.pid, 9, 8) : runningVmRecord(i % 2 ? 'alice' : 'bob', `web${i}`, 'hv1', process.pid, 2, 2)));
    for (const vm of vms) {
      const path = join(dir, `${vm.id}.sock`);
      servers.push(await fakeQmpServer(path, (msg, sock) => qmpReply(sock, msg.id, msg.execute === 'query-blockstats' ? blockStatsReply(vm.disks.length) : {})));
      sessions.set(vm.id, await QmpMonitor.connect(path, { timeoutMs: 5000 }));
    }
  });

  afterAll(async () => {
    await Promise.all([...sessions.values()].map((m) => m.close()));
    for (const s of servers) s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function collector(list: () => Vm[], sampleReuseMs?: number): MetricsRegistry {
    const registry = new MetricsRegistry();
    // Every NIC on lo: a real /proc/net/dev line, read as a tap's.
    new VmMetrics(registry, { host: 'hv1', vms: list, pid: (vm) => vm.qemu?.pid, qmp: (vm) => sessions.get(vm.id), taps: (vm) => (vm.nics ?? []).map(() => 'lo') }, sampleReuseMs === undefined ? {} : { sampleReuseMs });
    return registry;
  }

  /** The served text, parsed: series per VM, those without a VM label, every label name, each series' value. */
  async function seriesByVm(registry: MetricsRegistry): Promise<{ byVm: Map<string, number>; unlabelled: number; labelNames: Set<string>; values: Map<string, number> }> {
    const byVm = new Map<string, number>();
    const values = new Map<string, number>();
    const labelNames = new Set<string>();
    let unlabelled = 0;
    for (const line of (await registry.metrics()).split('\n')) {
      const m = /^(\w+)\{(.*)\} (\S+)$/.exec(line);
      if (!m) continue;
      const labels = Object.fromEntries([...m[2]!.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1]!, l[2]!]));
      Object.keys(labels).forEach((l) => labelNames.add(l));
      if (labels.vm === undefined) unlabelled++;
      else byVm.set(labels.vm, (byVm.get(labels.vm) ?? 0) + 1);
      values.set(`${m[1]}${JSON.stringify(labels)}`, Number(m[3]));
    }
    return { byVm, unlabelled, labelNames, values };
  }

  it(`gives each of ${VMS} VMs at most ${MAX_SERIES_PER_VM} series, with bounded labels`, async () => {
    const registry = collector(() => vms);
    const { byVm, unlabelled, labelNames, values } = await seriesByVm(registry);
    const typical = byVm.get(vms[0]!.id)!;
    const biggest = byVm.get(vms[VMS - 1]!.id)!;
    const total = [...byVm.values()].reduce((a, b) => a + b, 0);
    console.log(`metrics cardinality: ${VMS} VMs -> ${total} series; a VM with 2 disks and 2 NICs: ${typical}; one with 9 disks and 8 NICs: ${biggest}; bound per VM: ${MAX_SERIES_PER_VM}`);
    expect(byVm.size).toBe(VMS);
    expect(unlabelled).toBe(0);
    // state, CPU, RSS, 4 per disk, 4 per NIC.
    expect(typical).toBe(3 + 4 * 2 + 4 * 2);
    expect(biggest).toBe(MAX_SERIES_PER_VM);
    for (const n of byVm.values()) expect(n).toBeLessThanOrEqual(MAX_SERIES_PER_VM);
    // Labels are the VM's and its device's: nothing else can multiply the series.
    expect([...labelNames].sort()).toEqual(['disk', 'host', 'name', 'nic', 'owner', 'state', 'vm']);
    // The figures are read: CPU of this process, blockstats of the fake QEMU.
    const vm = vms[0]!;
    const key = (name: string, extra: Record<string, string> = {}) => `${name}${JSON.stringify({ vm: vm.id, name: vm.name, owner: vm.owner, host: 'hv1', ...extra })}`;
    expect(values.get(key('ucloud_vm_cpu_seconds_total'))).toBeGreaterThan(0);
    expect(values.get(key('ucloud_vm_memory_rss_bytes'))).toBeGreaterThan(1 << 20);
    expect(values.get(key('ucloud_vm_disk_written_bytes_total', { disk: 'hdd0' }))).toBe(8192);
    expect(values.get(key('ucloud_vm_state', { state: 'running' }))).toBe(1);
  });

  it('drops the series of a VM that left the host, at the next scrape', async () => {
    let list = vms.slice(0, 3);
    // No reuse window: each scrape reads afresh.
    const registry = collector(() => list, 0);
    expect((await seriesByVm(registry)).byVm.size).toBe(3);
    list = vms.slice(1, 3);
    const after = await seriesByVm(registry);
    expect([...after.byVm.keys()].sort()).toEqual([vms[1]!.id, vms[2]!.id].sort());
  });
});

describe("a QEMU's /proc/<pid>/stat, kept open between scrapes", () => {
  it('reads CPU and RSS afresh each time, and a process gone gives nothing and closes its file', async () => {
    // Descriptors of this process open on a pid's stat file.
    const statFds = (pid: number) =>
      readdirSync('/proc/self/fd').filter((fd) => {
        try {
          return readlinkSync(`/proc/self/fd/${fd}`) === `/proc/${pid}/stat`;
        } catch {
          return false;
        }
      }).length;
    // A busy child: its CPU time must grow between two reads of the same descriptor.
    const child = spawn(process.execPath, ['-e', 'const end = Date.now() + 60000; while (Date.now() < end);'], { stdio: 'ignore' });
    const idle = spawn('sleep', ['60'], { stdio: 'ignore' });
    try {
      const files = new ProcStatFiles();
      // Read until node has loaded in the child (its RSS is near 0 while it execs).
      let first = files.read(child.pid!)!;
      while (first.rssBytes < 1024 * 1024) first = files.read(child.pid!)!;
      expect(statFds(child.pid!)).toBe(1);
      let later = files.read(child.pid!)!;
      while (later.cpuSeconds <= first.cpuSeconds) later = files.read(child.pid!)!;
      expect(statFds(child.pid!)).toBe(1);
      child.kill('SIGKILL');
      await once(child, 'exit');
      expect(files.read(child.pid!)).toBeUndefined();
      expect(statFds(child.pid!)).toBe(0);
      // A pid no longer read is closed at the end of the next scrape.
      files.read(idle.pid!);
      expect(statFds(idle.pid!)).toBe(1);
      files.closeUnused();
      expect(statFds(idle.pid!)).toBe(1);
      files.closeUnused();
      expect(statFds(idle.pid!)).toBe(0);
    } finally {
      child.kill('SIGKILL');
      idle.kill('SIGKILL');
    }
  });
});
