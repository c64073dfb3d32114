// bench/metrics: how long the host agent's GET /metrics takes with 200 VMs
// (goal: < 50 ms). The collector the agent runs (src/host/vm-metrics.ts),
// with the registry a daemon gets (Node's process metrics included), served as
// the daemon serves it, reading for real at each scrape: /proc/<pid>/stat (this
// process stands in for every QEMU), /proc/net/dev (each NIC read as lo), and
// query-blockstats over a standing QMP session per VM to a fake QEMU monitor
// (test/helpers/fake-qmp.ts) on its own unix socket, the 200 of them in a
// worker thread (QEMUs answer from their own processes, not the agent's). No
// sample is reused between scrapes. Scrapes one after another; median, p95 and max.
//
// Usage: npm run bench:metrics [-- --vms 200 --scrapes 100 --disks 2 --nics 2]
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import type { AddressInfo, Server } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { daemonRegistry, serveMetrics } from '../src/common/metrics.js';
import { QmpMonitor } from '../src/host/qemu/index.js';
import { VmMetrics } from '../src/host/vm-metrics.js';
import { fakeQmpServer, qmpReply } from '../test/helpers/fake-qmp.js';
import { blockStatsReply, runningVmRecord } from '../test/helpers/vm-record.js';
import { benchArgs } from './args.js';

const args = benchArgs('usage: node dist/bench/metrics.js [--vms 200] [--scrapes 100] [--disks 2] [--nics 2]', { vms: 200, scrapes: 100, disks: 2, nics: 2 }, { zeroOk: ['disks', 'nics'], argv: isMainThread ? process.argv.slice(2) : [] });
const VMS = args.vms;
const SCRAPES = args.scrapes;
const GOAL_MS = 50;

function get(port: number): Promise<{ ms: number; body: string }> {
  const t0 = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    request({ host: '::1', port, path: '/metrics' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ ms: Number(process.hrtime.bigint() - t0) / 1e6, body }));
    })
      .on('error', reject)
      .end();
  });
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length - 1) * p))]!;

/** The worker: one fake QEMU monitor per socket path, answering query-blockstats for `disks` drives. */
async function fakeQemus(paths: string[], disks: number): Promise<void> {
  const servers: Server[] = [];
  for (const path of paths) servers.push(await fakeQmpServer(path, (msg, sock) => qmpReply(sock, msg.id, msg.execute === 'query-blockstats' ? blockStatsReply(disks) : {})));
  parentPort!.postMessage('listening');
  parentPort!.once('message', () => {
    for (const s of servers) s.close();
    parentPort!.close();
  });
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'ucloud-bench-metrics-'));
  const sessions = new Map<string, QmpMonitor>();
  let worker: Worker | undefined;
  try {
    const vms = Array.from({ length: VMS }, (_, i) => runningVmRecord(`user${i % 20}`, `vm${i}`, 'bench', process.pid, args.disks, args.nics));
    const paths = vms.map((vm) => join(dir, `${vm.id.slice(0, 8)}.sock`));
    worker = new Worker(new URL(import.meta.url), { workerData: { paths, disks: args.disks } });
    await new Promise((resolve, reject) => worker!.once('message', resolve).once('error', reject));
    for (const [i, vm] of vms.entries()) sessions.set(vm.id, await QmpMonitor.connect(paths[i]!, { timeoutMs: 5000 }));
    const registry = daemonRegistry('host');
    new VmMetrics(registry, { host: 'bench', vms: () => vms, pid: (vm) => vm.qemu?.pid, qmp: (vm) => sessions.get(vm.id), taps: (vm) => (vm.nics ?? []).map(() => 'lo') }, { sampleReuseMs: 0 });
    const server = await serveMetrics(registry, { host: '::1', port: 0 }, console);
    const port = (server.address() as AddressInfo).port;
    // Warm-up: JIT, the first connections.
    for (let i = 0; i < 5; i++) await get(port);
    const times: number[] = [];
    let body = '';
    // CPU time, less at the mercy of other load than wall time (the process's: the fake QEMUs' worker included).
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < SCRAPES; i++) {
      const r = await get(port);
      times.push(r.ms);
      body = r.body;
    }
    const cpu = process.cpuUsage(cpu0);
    const cpuMs = +((cpu.user + cpu.system) / 1000 / SCRAPES).toFixed(2);
    server.close();
    times.sort((a, b) => a - b);
    const series = body.split('\n').filter((l) => l && !l.startsWith('#')).length;
    const vmSeries = body.split('\n').filter((l) => l.startsWith('ucloud_vm_')).length;
    const r = { vms: VMS, disksPerVm: args.disks, nicsPerVm: args.nics, scrapes: SCRAPES, series, vmSeries, bytes: body.length, medianMs: +pct(times, 0.5).toFixed(2), p95Ms: +pct(times, 0.95).toFixed(2), maxMs: +times[times.length - 1]!.toFixed(2), cpuMsPerScrape: cpuMs, load: +loadavg()[0]!.toFixed(1), goalMs: GOAL_MS };
    console.log(`bench/metrics: GET /metrics of a host with ${VMS} VMs (${args.disks} disks, ${args.nics} NICs each): ${series} series (${vmSeries} per-VM), ${(body.length / 1024).toFixed(0)} KiB`);
    console.log(`  ${SCRAPES} scrapes: median ${r.medianMs} ms, p95 ${r.p95Ms} ms, max ${r.maxMs} ms (goal < ${GOAL_MS} ms): ${r.medianMs < GOAL_MS ? 'met' : 'MISSED'}; CPU ${cpuMs} ms a scrape (fake QEMUs included), load ${r.load}`);
    console.log(JSON.stringify(r));
  } finally {
    await Promise.all([...sessions.values()].map((m) => m.close()));
    worker?.postMessage('stop');
    await worker?.terminate();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (isMainThread) await main();
else await fakeQemus((workerData as { paths: string[] }).paths, (workerData as { disks: number }).disks);
