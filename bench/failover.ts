// bench/failover: host death → its HA VM running on another host, with the
// production defaults (host_lease_ttl 5 s, fence_timeout 4 s, failover_margin
// 2 s) unless the environment says otherwise. Two netns hosts on one
// underlay (test/helpers/testbed.ts), each with its agent, metadata server and
// fence watchdog; one HA VM (128 MiB, TCG) on a shared fs store. Each run
// kills the host holding it outright (every process, SIGKILL) and times, on
// one clock: the lease's end as the scheduler saw it, the failover write, the
// record saying running on the other host, and the first sight of its QEMU
// there. A probe sees every QEMU of the VM: two at once fails the run. The
// killed host is then started again (its daemons) and the next run kills the
// other one, so the VM goes back and forth.
//
// BENCH_STORE=ceph puts the VM's disk on the testbed's own Ceph instead, so
// each failover also fences its storage (the dead host's clients of the disk
// blocklisted before it is placed again): the row "storage fenced" says when.
//
// Usage (root): npm run bench:failover [-- RUNS]   (BENCH_STORE=ceph npm run bench:failover)
import { existsSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { CONFIG_KEYS } from '../src/common/config.js';
import { packageRoot } from '../src/common/paths.js';
import type { Vm } from '../src/model/index.js';
import { Keys, Kinds } from '../src/store/keys.js';
import { until } from '../test/helpers/cluster.js';
import { QemuProbe } from '../test/helpers/qemu-probe.js';
import { Testbed } from '../test/helpers/testbed.js';
import { benchArgs } from './args.js';
import { median } from './harness.js';

const { runs } = benchArgs('usage: npm run bench:failover [-- RUNS=5]   (or --runs N; root; BENCH_STORE=ceph for Ceph)', { runs: 5 }, { positional: ['runs'] });
const TTL = process.env.UCLOUD_HOST_LEASE_TTL ?? CONFIG_KEYS.host_lease_ttl.default;
const FENCE = process.env.UCLOUD_FENCE_TIMEOUT ?? CONFIG_KEYS.fence_timeout.default;
const MARGIN = process.env.UCLOUD_FAILOVER_MARGIN ?? CONFIG_KEYS.failover_margin.default;
const CEPH = process.env.BENCH_STORE === 'ceph';

interface Run {
  /** Kill → the scheduler's "host dead" log line (the lease ended and it saw it). */
  leaseEndMs?: number;
  /** Kill → the failover write (unplaced). */
  failoverMs?: number;
  /** Kill → its storage fenced (Ceph only). */
  fencedMs?: number;
  /** Kill → the record says running on the other host. */
  runningMs: number;
  /** Kill → its QEMU first seen on the other host. */
  qemuMs?: number;
  overlaps: number;
}

/** Time (epoch ms) of the first scheduler log record after `after` whose message includes `msg` (and mentions `needle`). */
function schedulerLogAt(tb: Testbed, after: number, msg: string, needle: string): number | undefined {
  const p = join(tb.c.dir, 'log', 'scheduler.log');
  if (!existsSync(p)) return undefined;
  for (const line of readFileSync(p, 'utf8').split('\n')) {
    if (!line.includes(msg) || !line.includes(needle)) continue;
    const t = (JSON.parse(line) as { time: number }).time;
    if (t >= after) return t;
  }
  return undefined;
}

async function main(): Promise<void> {
  const base = process.env.UCLOUD_BENCH_IMAGE ?? join(packageRoot(), '.cache', 'guest', 'ucloud-test.qcow2');
  if (!existsSync(base)) throw new Error(`no guest image at ${base}: run guest/build-image.sh (or set UCLOUD_BENCH_IMAGE)`);
  const load0 = loadavg()[0]!;
  // The scheduler reads failover_margin from the cluster's environment, the hosts the rest from theirs.
  process.env.UCLOUD_FAILOVER_MARGIN = MARGIN;
  const tb = await Testbed.start({ hosts: 2, guestImage: base, fence: true, ceph: CEPH, hostEnv: () => ({ UCLOUD_HOST_LEASE_TTL: TTL, UCLOUD_FENCE_TIMEOUT: FENCE }) });
  if (CEPH) await tb.importCephImage('ucloud-test-ceph');
  const out: Run[] = [];
  try {
    const cli = async (args: string[]) => {
      const r = await tb.c.cli([...args, '-o', 'json']);
      if (r.code !== 0) throw new Error(`ucloud ${args.join(' ')}: ${r.stderr}`);
      return JSON.parse(r.stdout) as Vm;
    };
    const get = async (id: string) => (await tb.c.store.get(Kinds.vm, Keys.vm(id)))!.value;
    await cli(['network', 'create', 'bench']);
    const created = await cli(['vm', 'create', 'ha', '--image', CEPH ? 'ucloud-test-ceph' : 'ucloud-test', '--network', 'bench', '--ram', '128MiB', '--ha']);
    const runDirs = Object.fromEntries(tb.hosts.map((h) => [h.name, h.runDir]));
    for (let i = 0; i < runs; i++) {
      const vm = await until('HA VM running and armed', async () => {
        const v = await get(created.id);
        return v.status === 'running' && v.haArmed && v.qemu ? v : undefined;
      }, 180_000, 100);
      const from = vm.host!;
      const to = from === 'h1' ? 'h2' : 'h1';
      const probe = new QemuProbe(vm.id, runDirs, 10);
      const t0 = Date.now();
      await tb.killHost(from);
      const running = await until('HA VM running elsewhere', async () => {
        const v = await get(vm.id);
        return v.host === to && v.status === 'running' ? Date.now() : undefined;
      }, 120_000, 20);
      await until('its QEMU seen', () => probe.on(to).length > 0, 10_000, 10);
      probe.stop();
      const r: Run = {
        leaseEndMs: (schedulerLogAt(tb, t0, 'host dead', `"host":"${from}"`) ?? NaN) - t0,
        failoverMs: (schedulerLogAt(tb, t0, 'failover: HA VM restarting', vm.id) ?? NaN) - t0,
        ...(CEPH ? { fencedMs: (schedulerLogAt(tb, t0, 'storage clients of the VM fenced', vm.id) ?? NaN) - t0 } : {}),
        runningMs: running - t0,
        qemuMs: probe.on(to)[0]!.firstSeen - t0,
        overlaps: probe.overlaps().length,
      };
      out.push(r);
      console.error(`run ${i + 1} (${from} killed → ${to}): lease end seen ${r.leaseEndMs} ms, failover ${r.failoverMs} ms,${CEPH ? ` storage fenced ${r.fencedMs} ms,` : ''} QEMU there ${r.qemuMs} ms, record running ${r.runningMs} ms${r.overlaps ? `, TWO QEMUs AT ONCE (${r.overlaps})` : ''}`);
      await tb.restartHost(from);
    }
  } finally {
    await tb.stop();
  }
  const load1 = loadavg()[0]!;
  const col = (f: (r: Run) => number | undefined) => out.map(f).filter((x): x is number => x !== undefined && Number.isFinite(x));
  const line = (name: string, xs: number[]) => `| ${name} | ${xs.length ? `${median(xs).toFixed(0)} ms` : '—'} | ${xs.length ? `${Math.max(...xs).toFixed(0)} ms` : '—'} |`;
  console.log(`failover of one HA VM (128 MiB, TCG, disk on ${CEPH ? 'Ceph' : 'a shared fs store'}) between two netns hosts; ${out.length} runs; host_lease_ttl ${TTL}, fence_timeout ${FENCE}, failover_margin ${MARGIN}; load average (1 min) ${load0.toFixed(2)} → ${load1.toFixed(2)}`);
  console.log('| from the host\'s death to | median | worst |');
  console.log('|---|---|---|');
  console.log(line('the scheduler sees its lease ended', col((r) => r.leaseEndMs)));
  console.log(line('the failover write (VM unplaced)', col((r) => r.failoverMs)));
  if (CEPH) console.log(line('its storage fenced (the dead host\'s clients blocklisted)', col((r) => r.fencedMs)));
  console.log(line('its QEMU running on the other host', col((r) => r.qemuMs)));
  console.log(line('`vm show` says running there', col((r) => r.runningMs)));
  const twice = out.reduce((n, r) => n + r.overlaps, 0);
  console.log(`two QEMUs of the VM at once: ${twice === 0 ? 'never' : `${twice} times`}; goal: median < 10 s with production defaults: ${median(col((r) => r.runningMs)) < 10_000 ? 'met' : 'not met'}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
