// bench/routing: after a live migration, how soon the VM answers the internet
// again, next to the migration's own downtime as QEMU reports it.
//
// One two-host testbed with the routed set-up of test/e2e/routed-ipv6.test.ts
// (test/helpers/testbed.ts `upstream`: an upstream router namespace running
// BIRD 2 with a BGP session to each host, an internet namespace behind it; the
// hosts run route_mode bgp), one VM on a routed network, migrated back and
// forth RUNS times (`ucloud vm migrate --to HOST --wait`, shared store: RAM
// only). During each migration the internet namespace pings the VM every
// 10 ms (busybox ping -i 0.01), and `ip monitor route` in the upstream
// namespace notes when the upstream's route to the VM's /128 changes.
//
// Per migration:
//   gap:     the longest time between two echo replies (arrival in this
//            process): the VM unreachable from the internet.
//   downtime: QEMU's `downtime` (query-migrate, as `ucloud vm show` records
//            it): the guest paused, reachable from nowhere.
//   excess:  gap − downtime: unreachable beyond the guest's own pause, i.e.
//            after the migration's end (goal: within 1 s).
//   route:   from the last reply before the gap to the upstream's kernel
//            route pointing at the new host.
//
// Usage (root: makes namespaces, runs QEMU): npm run bench:routing [-- RUNS]
import { existsSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { canonicalIPv6 } from '../src/common/ipv6.js';
import { packageRoot } from '../src/common/paths.js';
import type { Vm } from '../src/model/index.js';
import { until } from '../test/helpers/cluster.js';
import { streamLines, type LineStream } from '../test/helpers/ssh.js';
import { Testbed } from '../test/helpers/testbed.js';
import { benchArgs } from './args.js';
import { median } from './harness.js';

const { runs } = benchArgs('usage: npm run bench:routing [-- RUNS=5]   (or --runs N; root: makes namespaces, runs QEMU)', { runs: 5 }, { positional: ['runs'] });
const RAM_MIB = 256;
const PING_INTERVAL_S = 0.01;

interface Figures {
  from: string;
  to: string;
  gapMs: number;
  downtimeMs: number;
  totalMs: number;
  /** Last reply before the gap → the upstream's route via the new host; undefined: not seen. */
  routeMs?: number;
  lost: number;
}

async function cli(tb: Testbed, args: string[]): Promise<Vm> {
  const r = await tb.c.cli([...args, '-o', 'json']);
  if (r.code !== 0) throw new Error(`ucloud ${args.join(' ')}: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as Vm;
}

const replies = (s: LineStream) => s.lines.filter((l) => /seq=\d+/.test(l.text));

async function migrateOnce(tb: Testbed, i: number, address: string): Promise<Figures> {
  const cur = await cli(tb, ['vm', 'show', 'r']);
  const from = tb.host(cur.host!);
  const to = tb.hosts.find((h) => h !== from)!;
  const monitor = streamLines(['ip', '-n', tb.upstreamNetns, '-6', 'monitor', 'route']);
  const ping = streamLines(['ip', 'netns', 'exec', tb.internetNetns, 'busybox', 'ping', '-6', '-i', String(PING_INTERVAL_S), address]);
  try {
    await until('echo replies from the internet', () => replies(ping).length >= 50, 60_000, 20);
    await cli(tb, ['vm', 'migrate', 'r', '--to', to.name, '--wait']);
    // The VM answers again, and goes on answering for a second.
    const atEnd = replies(ping).length;
    await until('echo replies after the migration', () => replies(ping).length >= atEnd + 100, 60_000, 20).catch(async (err: unknown) => {
      // What the operator would look at: the upstream's route, the new host's neighbour entry, the pinger's last words.
      console.error(`upstream route: ${await tb.upstreamRoute(address)}`);
      console.error(`${to.name} neighbour: ${(await tb.exec(to.name, ['ip', '-6', 'neigh', 'show', address])).stdout.trim()}`);
      console.error(`${to.name} route: ${(await tb.exec(to.name, ['ip', '-6', 'route', 'get', address])).stdout.trim()}`);
      console.error(`ping: ${ping.lines.slice(-3).map((l) => l.text).join(' | ')}; route changes: ${monitor.lines.map((l) => l.text).join(' | ')}`);
      throw err;
    });
    const vm = await cli(tb, ['vm', 'show', 'r']);
    const f = vm.lastMigration?.figures;
    if (vm.host !== to.name || !f) throw new Error(`migration ${i + 1} did not end on ${to.name}: ${JSON.stringify(vm.lastMigration)}`);
    const got = replies(ping);
    let gapMs = 0;
    let gapStart = got[0]!.at;
    for (let k = 1; k < got.length; k++) {
      const d = got[k]!.at - got[k - 1]!.at;
      if (d > gapMs) [gapMs, gapStart] = [d, got[k - 1]!.at];
    }
    const seqs = new Set(got.map((l) => Number(/seq=(\d+)/.exec(l.text)![1])));
    const lost = Math.max(...seqs) + 1 - seqs.size;
    const via = `via ${canonicalIPv6(to.address)}`;
    const moved = monitor.lines.find((l) => l.text.startsWith(`${address} `) && l.text.includes(via) && !l.text.startsWith('Deleted'));
    const fig: Figures = { from: from.name, to: to.name, gapMs, downtimeMs: f.downtimeMs, totalMs: f.totalMs, lost, ...(moved ? { routeMs: moved.at - gapStart } : {}) };
    console.error(
      `#${i + 1} ${from.name} → ${to.name}: unreachable ${gapMs} ms (${lost} of ${Math.max(...seqs) + 1} echoes lost), QEMU downtime ${f.downtimeMs} ms, ` +
        `excess ${gapMs - f.downtimeMs} ms, route via ${to.name} ${fig.routeMs ?? '?'} ms after the last reply; migration total ${f.totalMs} ms`,
    );
    return fig;
  } finally {
    ping.kill();
    monitor.kill();
    await Promise.all([ping.done, monitor.done]);
  }
}

async function main(): Promise<void> {
  const base = process.env.UCLOUD_BENCH_IMAGE ?? join(packageRoot(), '.cache', 'guest', 'ucloud-test.qcow2');
  if (!existsSync(base)) throw new Error(`no guest image at ${base}: run guest/build-image.sh (or set UCLOUD_BENCH_IMAGE)`);
  const load0 = loadavg();
  const tb = await Testbed.start({ hosts: 2, upstream: true, guestImage: base });
  const figs: Figures[] = [];
  let failures = 0;
  try {
    await cli(tb, ['network', 'create', 'rt', '--routed']);
    const vm = await cli(tb, ['vm', 'create', 'r', '--image', 'ucloud-test', '--network', 'rt', '--ram', `${RAM_MIB}MiB`, '--wait']);
    const address = vm.nics![0]!.address;
    // Settled: first-boot setup over, and announced.
    await until('guest settled', () => existsSync(vm.qemu!.serialLog) && readFileSync(vm.qemu!.serialLog, 'utf8').includes('UCLOUD-INIT-DONE'), 180_000);
    await until('the upstream routes the VM', () => tb.upstreamRoute(address), 30_000);
    for (let i = 0; i < runs; i++) {
      try {
        figs.push(await migrateOnce(tb, i, address));
      } catch (err) {
        // A VM that never answers again is a finding: counted, and the next migration still runs.
        console.error(`#${i + 1} failed: ${String((err as Error).message ?? err)}`);
        failures++;
        await until('the VM answers again', async () => (await tb.internetExec(['busybox', 'ping', '-6', '-c', '1', '-W', '2', address])).code === 0, 180_000, 1000).catch(() => undefined);
      }
    }
  } finally {
    await tb.stop();
  }
  const load1 = loadavg();
  const med = (pick: (f: Figures) => number | undefined) => {
    const v = figs.map(pick).filter((x): x is number => x !== undefined);
    return v.length ? `${median(v).toFixed(0)} ms` : '—';
  };
  console.log(`routing after live migration: ${RAM_MIB} MiB TCG guest, two netns hosts with BIRD 2 → upstream BIRD 2, echo every ${PING_INTERVAL_S * 1000} ms from the internet namespace; medians of ${runs}`);
  console.log(`load average (1 min) at start ${load0[0]!.toFixed(2)}, at end ${load1[0]!.toFixed(2)}`);
  console.log('| run | move | unreachable (echo gap) | QEMU downtime | excess (gap − downtime) | route moved (after last reply) | migration total |');
  console.log('|---|---|---|---|---|---|---|');
  figs.forEach((f, i) => console.log(`| ${i + 1} | ${f.from} → ${f.to} | ${f.gapMs} ms | ${f.downtimeMs} ms | ${f.gapMs - f.downtimeMs} ms | ${f.routeMs ?? '—'} ms | ${f.totalMs} ms |`));
  console.log(`| median | | ${med((f) => f.gapMs)} | ${med((f) => f.downtimeMs)} | ${med((f) => f.gapMs - f.downtimeMs)} | ${med((f) => f.routeMs)} | ${med((f) => f.totalMs)} |`);
  if (failures) console.log(`${failures} of ${runs} migrations left the VM unreachable from the internet for over 60 s (not in the medians)`);
  if (!figs.length) return;
  const excess = median(figs.map((f) => f.gapMs - f.downtimeMs));
  console.log(`reachable again ${excess.toFixed(0)} ms after the guest's own pause (median; goal ≤ 1000 ms): ${excess <= 1000 ? 'met' : 'not met'}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
