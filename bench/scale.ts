// bench/scale: a fleet of VM records on a real etcd (default limits) with the
// real api and scheduler daemons as processes, no agent and no QEMU: hosts are
// registered with capacity and made alive through their presence keys.
// Measures creates/s, placements/s and create→placed p50/p99, then `vm list`
// (a page of 100), `vm show` and `vm list --all` (first page) under autocannon,
// each next to a bare Fastify route serving the same bytes from memory, and the
// API's and scheduler's CPU seconds and RSS (from /proc).
//
// Usage: node dist/bench/scale.js [--vms 100000] [--hosts 5000] [--users 1000]
//   [--direct] [--probe 1000] [--concurrency 32] [--duration 3] [--rounds 5] [--connections 10]
// --direct writes the VM records straight to etcd (as the API would, through
// stageVmWrite), then starts the scheduler on the whole backlog; `--probe` more
// VMs are then created through the API on the live fleet for creates/s and
// create→placed. Without --direct every VM goes through the API while the
// scheduler runs. Each read alternates with its bare route, `--rounds` times
// `--duration` seconds each after a warm-up of both: medians, and the median of
// the rounds' ratios (this machine's speed drifts over a minute by more than
// the difference measured).
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { packageRoot } from '../src/common/paths.js';
import { Fleet, fleetPlan, PlacementWatch, quantile, type FleetDaemon, type VmSpec } from '../test/helpers/fleet.js';
import { benchArgs } from './args.js';

interface CannonResult {
  requests: { average: number };
  latency: { p50: number; p99: number };
  non2xx: number;
  errors: number;
}
const autocannon = createRequire(import.meta.url)('autocannon') as (opts: {
  url: string;
  connections: number;
  duration: number;
  headers?: Record<string, string>;
}) => Promise<CannonResult>;

const args = benchArgs(
  'usage: node dist/bench/scale.js [--vms 100000] [--hosts 5000] [--users 1000] [--direct] [--probe 1000]\n  [--concurrency 32] [--duration 3] [--rounds 5] [--connections 10]   (root; see the comment atop bench/scale.ts)',
  { vms: 100000, hosts: 5000, users: 1000, probe: 1000, concurrency: 32, duration: 3, rounds: 5, connections: 10 },
  { flags: ['direct'], zeroOk: ['probe'] },
);
const VMS = args.vms;
const HOSTS = args.hosts;
const USERS = args.users;
const PROBE = args.direct ? args.probe : 0;
const CONCURRENCY = args.concurrency;

const rows: [string, string][] = [];
const row = (what: string, value: string) => {
  rows.push([what, value]);
  console.log(`  ${what}: ${value}`);
};
const MiBof = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
const maxOf = (xs: Iterable<number>) => {
  let m = -Infinity;
  for (const x of xs) if (x > m) m = x;
  return m;
};
const minOf = (xs: Iterable<number>) => -maxOf([...xs].map((x) => -x));

/** CPU seconds a daemon used while `fn` ran. */
async function cpuDuring<T>(daemons: (FleetDaemon | undefined)[], fn: () => Promise<T>): Promise<{ result: T; cpu: number[] }> {
  const before = daemons.map((d) => d?.stats().cpuSeconds ?? 0);
  const result = await fn();
  return { result, cpu: daemons.map((d, i) => (d?.stats().cpuSeconds ?? 0) - before[i]!) };
}

/** Starts the bare route serving `body`; resolves to its URL and a stop. */
async function bareRoute(dir: string, name: string, body: Buffer, type: string): Promise<{ url: string; stop(): void }> {
  const file = join(dir, `bare-${name}.body`);
  writeFileSync(file, body);
  const child = spawn(process.execPath, [join(packageRoot(), 'dist', 'bench', 'bare-route.js'), file, type], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.once('data', (b: Buffer) => resolve(Number(b.toString().trim())));
    child.once('exit', (code) => reject(new Error(`bare route exited (${code})`)));
  });
  return { url: `http://[::1]:${port}`, stop: () => child.kill('SIGKILL') };
}

async function main(): Promise<void> {
  console.log(`scale: ${VMS} VMs${PROBE ? ` (+${PROBE} probe)` : ''}, ${HOSTS} hosts, ${USERS} users; ${args.direct ? 'records written straight to etcd, then placed' : 'created through the API while the scheduler runs'}`);
  const plan = fleetPlan(VMS + PROBE, USERS);
  const fleetVms = plan.slice(0, VMS);
  const probe: VmSpec[] = plan.slice(VMS);
  // UCLOUD_BENCH_CPU_PROF=<dir>: each daemon writes a V8 CPU profile there when it exits.
  // UCLOUD_BENCH_NODE_ARGS: more node flags for both daemons, space-separated (e.g. --trace-gc);
  // UCLOUD_BENCH_STDOUT_DIR: a folder for their stdout (api.out, scheduler.out), where --trace-gc writes.
  const prof = process.env.UCLOUD_BENCH_CPU_PROF;
  const nodeArgs = [...(prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : []), ...(process.env.UCLOUD_BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? [])];
  const stdoutDir = process.env.UCLOUD_BENCH_STDOUT_DIR;
  const fleet = await Fleet.start({ users: USERS, hosts: HOSTS, log: (l) => console.log(l), daemonNodeArgs: nodeArgs, ...(stdoutDir ? { daemonStdoutDir: stdoutDir } : {}) }, plan);
  try {
    const api = await fleet.startApi();
    const watch = await PlacementWatch.start(fleet.store, await fleet.revision());
    try {
      if (args.direct) {
        const { result: w, cpu } = await cpuDuring([api], () => fleet.createDirect(fleetVms));
        row('VM records written straight to etcd', `${VMS} in ${w.seconds.toFixed(1)} s (${(VMS / w.seconds).toFixed(0)}/s); API CPU meanwhile ${cpu[0]!.toFixed(1)} s (its cache follows)`);
        const t0 = performance.now();
        const sched = await fleet.startScheduler();
        const readyAt = performance.now();
        await watch.waitFor(VMS, 30 * 60_000, (n) => console.log(`  placed ${n} of ${VMS}`));
        const last = maxOf(watch.placedAt.values());
        const first = minOf(watch.placedAt.values());
        row('scheduler start → ready (lists the fleet)', `${((readyAt - t0) / 1000).toFixed(1)} s`);
        row('placements/s (backlog: first → last placement)', `${(VMS / ((last - first) / 1000)).toFixed(0)} (${((last - first) / 1000).toFixed(1)} s)`);
        row('placements/s (backlog: scheduler start → last placement)', `${(VMS / ((last - t0) / 1000)).toFixed(0)}`);
        row('scheduler CPU from start until the backlog is placed', `${sched.stats().cpuSeconds.toFixed(1)} s`);
      } else {
        await fleet.startScheduler();
      }
      const toCreate = args.direct ? probe : fleetVms;
      if (toCreate.length) {
        const { result: c, cpu } = await cpuDuring([api, fleet.scheduler], () => fleet.createViaApi(toCreate, { concurrency: CONCURRENCY }));
        if (c.refused.length) console.log(`  refused: ${c.refused.length}, e.g. ${c.refused[0]}`);
        const want = (args.direct ? VMS : 0) + c.sentAt.size;
        await watch.waitFor(want, 30 * 60_000, (n) => console.log(`  placed ${n} of ${want}`));
        const lag = [...c.sentAt].map(([id, t]) => watch.placedAt.get(id)! - t);
        const firstSent = minOf(c.sentAt.values());
        const lastPlaced = maxOf([...c.sentAt.keys()].map((id) => watch.placedAt.get(id)!));
        const what = args.direct ? `${c.sentAt.size} more on the live fleet` : `${c.sentAt.size}`;
        row(`creates/s through the API (concurrency ${CONCURRENCY}; ${what})`, `${(c.sentAt.size / c.seconds).toFixed(0)} (API CPU ${cpu[0]!.toFixed(1)} s, scheduler CPU ${cpu[1]!.toFixed(1)} s)`);
        row('placements/s (first create → last placement)', `${(c.sentAt.size / ((lastPlaced - firstSent) / 1000)).toFixed(0)}`);
        row('create → placed p50 / p99', `${quantile(lag, 0.5).toFixed(0)} / ${quantile(lag, 0.99).toFixed(0)} ms`);
      }
      row('VMs moved or placed twice (watch)', String(watch.moved.length));
    } finally {
      watch.close();
    }

    const report = await fleet.check();
    row(
      'fleet check',
      `${report.vms} VMs on ${report.hosts} hosts: unplaced ${report.unplaced.length}, overcommitted hosts ${report.overcommitted.length}, booked wrong ${report.notBooked.length + report.bookedElsewhere.length + report.phantomBookings.length + report.wrongSize.length}, mirror mismatches ${report.mirrorMismatch.length}, image index mismatches ${report.imageIndexMismatch.length}`,
    );

    // Reads: each against a bare route serving the very bytes it answered.
    const user = fleet.users[0]!;
    const mine = fleetVms.find((v) => v.owner === user.name)!;
    const reads: { name: string; path: string; token: string }[] = [
      { name: 'vm list (a page of 100)', path: '/v1/vms?limit=100', token: user.token },
      { name: 'vm show', path: `/v1/vms/${mine.name}`, token: user.token },
      { name: 'vm list --all (first page)', path: '/v1/vms?all=true', token: fleet.adminToken },
    ];
    const readRows: string[] = [];
    const { duration, connections, rounds } = args;
    const median = (xs: number[]) => quantile(xs, 0.5);
    for (const r of reads) {
      const sample = await fleet.http.call('GET', r.path, r.token);
      if (sample.status !== 200) throw new Error(`${r.name}: ${sample.status} ${sample.body.toString().slice(0, 200)}`);
      const bare = await bareRoute(fleet.dir, r.name.replace(/\W+/g, '-'), sample.body, sample.contentType);
      try {
        const oursRun = (secs: number) => autocannon({ url: `${fleet.apiUrl}${r.path}`, connections, duration: secs, headers: { authorization: `Bearer ${r.token}` } });
        const bareRun = (secs: number) => autocannon({ url: `${bare.url}${r.path}`, connections, duration: secs });
        // Warm-up: both sides' JIT and sockets, not counted.
        await oursRun(1);
        await bareRun(1);
        const ours: CannonResult[] = [];
        const base: CannonResult[] = [];
        const { cpu } = await cpuDuring([api], async () => {
          for (let i = 0; i < rounds; i++) {
            ours.push(await oursRun(duration));
            base.push(await bareRun(duration));
          }
        });
        const rps = (xs: CannonResult[]) => median(xs.map((x) => x.requests.average));
        const p = (xs: CannonResult[], k: 'p50' | 'p99') => median(xs.map((x) => x.latency[k]));
        const ratios = ours.map((o, i) => o.requests.average / base[i]!.requests.average);
        const line = `| \`${r.name}\` (${(sample.body.length / 1024).toFixed(1)} KiB) | ${rps(ours).toFixed(0)} req/s, p50 ${p(ours, 'p50')} ms, p99 ${p(ours, 'p99')} ms | ${rps(base).toFixed(0)} req/s, p50 ${p(base, 'p50')} ms, p99 ${p(base, 'p99')} ms | ${median(ratios).toFixed(2)} (${ratios.map((x) => x.toFixed(2)).join(', ')}) |`;
        readRows.push(line);
        const served = ours.reduce((a, o) => a + o.requests.average * duration, 0);
        const non2xx = ours.reduce((a, o) => a + o.non2xx, 0);
        const errors = ours.reduce((a, o) => a + o.errors, 0);
        console.log(`  ${line}  (API ${((cpu[0]! * 1e6) / served).toFixed(0)} µs CPU per request; non-2xx ${non2xx}, errors ${errors})`);
        if (non2xx || errors) console.log(`  ! ${r.name}: ${non2xx} non-2xx, ${errors} errors`);
      } finally {
        bare.stop();
      }
    }

    for (const d of [api, fleet.scheduler]) {
      if (!d) continue;
      const s = d.stats();
      row(`${d.name} process`, `${s.cpuSeconds.toFixed(1)} CPU s in all, RSS ${MiBof(s.rssBytes)} (peak ${MiBof(s.peakRssBytes)}); logged ${d.logged.errorCount} errors, ${d.logged.warnCount} warnings`);
      if (d.logged.errors.length) console.log(`  first errors of ${d.name}:\n    ${d.logged.errors.slice(0, 3).join('\n    ')}`);
    }
    const statuses = Object.fromEntries(fleet.http.statuses);
    row('HTTP statuses (harness requests)', JSON.stringify(statuses));

    console.log(`\n## scale: ${VMS} VMs, ${HOSTS} hosts, ${USERS} users${args.direct ? ' (--direct)' : ''}\n`);
    console.log('| measure | value |\n|---|---|');
    for (const [w, v] of rows) console.log(`| ${w} | ${v} |`);
    console.log(`\n| read (autocannon, ${connections} connections, ${rounds} alternating rounds of ${duration} s; medians) | ucloud API | bare Fastify route, same bytes | ratio (median; each round) |\n|---|---|---|---|`);
    for (const l of readRows) console.log(l);
  } finally {
    await fleet.stop();
  }
}

main().then(
  // The daemons, etcd and the bare routes are stopped; a lingering keep-alive socket must not hold the result.
  () => process.exit(0),
  (err: unknown) => {
    console.error(`scale: ${(err as Error).stack}`);
    process.exit(1);
  },
);
