// bench/migration: live migration of a 256 MiB TCG guest between two network
// namespaces (two "hosts" joined by a veth pair over IPv6), done by hand with
// plain QEMU and QMP — the physical limit ucloud's own migration is measured
// against. Two cases:
//   shared: both QEMUs open the same qcow2 path (a store declared shared);
//           destination `-incoming defer` + `migrate-incoming tcp:[addr]:0`
//           (port read back from query-migrate), source `migrate`.
//   copy:   local disks: the destination has an empty qcow2 of the same size
//           exported over NBD (nbd-server-start, block-export-add); the source
//           adds it (blockdev-add nbd) and mirrors its disk into it
//           (blockdev-mirror sync=full) until BLOCK_JOB_READY, migrates RAM,
//           pausing at pre-switchover to block-job-cancel the ready mirror
//           and stop the NBD server before the switch (libvirt's order).
// Each case runs `runs` times (default 5) on a freshly booted guest; medians of
// query-migrate's total-time and downtime are printed (and, for copy, the
// mirror's time to READY and the wall time of the whole move).
//
// The ucloud side: UCLOUD_RUNS below holds, per case, an optional function that
// makes one `ucloud vm migrate` run and returns the same figures; the table gets
// a ucloud row beside each plain row for every slot filled in. `shared` is
// filled: a two-host testbed (test/helpers/testbed.ts: two namespaces on an
// underlay bridge, each with its own `ucloud host`, the fs store declared
// shared), one 256 MiB VM of the same image moved back and forth with
// `ucloud vm migrate mig --to OTHER --wait` under the default settings
// (migration_max_bandwidth 0: unlimited; migration_max_downtime_ms 300, the
// same limit the plain runs set). `copy` is refused by ucloud today
// (MIGRATION_NOT_SUPPORTED): the table says so instead of a row.
//
// Usage: npm run bench:migration [-- runs]   (root: makes namespaces, runs QEMU)
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../src/common/paths.js';
import { blockdevAdd, blockdevMirror, blockExportAdd, blockJobCancel, nbdServerStart, nbdServerStop } from '../src/host/qemu/qmp-commands.js';
import {
  migrate,
  migrateIncoming,
  migrateSetCapabilities,
  migrateSetParameters,
  queryMigrate,
  queryStatus,
  waitForExit,
  QmpMonitor,
  type MigrationInfo,
} from '../src/host/qemu/index.js';
import type { Vm } from '../src/model/index.js';
import { until } from '../test/helpers/cluster.js';
import { Testbed } from '../test/helpers/testbed.js';
import { median } from './harness.js';

const runs = Number(process.argv[2] ?? 5);
const RAM_MIB = 256;
const MARKER = 'UCLOUD-GUEST-BOOTED';
/** QEMU 7.2's default max-bandwidth is 32 MiB/s: lift it, this is the physical limit. */
const MAX_BANDWIDTH = 10 * 2 ** 30;
/** ucloud's default migration_max_downtime_ms, so both sides switch over under the same rule. */
const DOWNTIME_LIMIT_MS = 300;
const NBD_PORT = '10809';

export type Mode = 'shared' | 'copy';

/** One migration's figures, in milliseconds. */
export interface MigrationFigures {
  /** query-migrate total-time on the source (RAM phase only for copy). */
  totalMs: number;
  downtimeMs: number;
  /** From the first command to a running destination, disk copy included. */
  wallMs: number;
  /** copy only: blockdev-mirror start to BLOCK_JOB_READY. */
  mirrorMs?: number;
}

/**
 * The slot for ucloud's own runs (part of issue 11): one function per mode that
 * performs ONE `ucloud vm migrate NAME --to OTHER --wait` of a 256 MiB guest and
 * returns its figures (lastMigration.figures: totalMs, downtimeMs; wallMs timed
 * around the CLI). It is called `runs` times; set up its cloud lazily on the
 * first call and tear it down in `done`.
 */
export interface UcloudSlot {
  run(i: number): Promise<MigrationFigures>;
  done(): Promise<void>;
}
const UCLOUD_RUNS: Partial<Record<Mode, (base: string) => UcloudSlot>> = { shared: ucloudShared };

/** One VM on a two-host testbed, its disk on the shared fs store; each run moves it to the other host. */
function ucloudShared(base: string): UcloudSlot {
  let tb: Testbed | undefined;
  let vm: Vm | undefined;
  const cli = async (args: string[]): Promise<Vm> => {
    const r = await tb!.c.cli([...args, '-o', 'json']);
    if (r.code !== 0) throw new Error(`ucloud ${args.join(' ')}: ${r.stderr}`);
    return JSON.parse(r.stdout) as Vm;
  };
  const start = async (): Promise<Vm> => {
    tb = await Testbed.start({ hosts: 2, guestImage: base });
    await cli(['network', 'create', 'bench']);
    const created = await cli(['vm', 'create', 'mig', '--image', 'ucloud-test', '--network', 'bench', '--ram', `${RAM_MIB}MiB`, '--wait']);
    // Settled as the plain guests are: booted, and its first-boot setup done (nothing left dirtying RAM).
    await until('guest booted', () => existsSync(created.qemu!.serialLog) && readFileSync(created.qemu!.serialLog, 'utf8').includes('UCLOUD-INIT-DONE'), 180_000);
    return created;
  };
  return {
    async run(i) {
      vm ??= await start();
      const to = vm.host === 'h1' ? 'h2' : 'h1';
      const t0 = performance.now();
      await cli(['vm', 'migrate', 'mig', '--to', to, '--wait']);
      const wallMs = performance.now() - t0;
      vm = await cli(['vm', 'show', 'mig']);
      const f = vm.lastMigration?.figures;
      if (vm.host !== to || vm.status !== 'running' || !f) throw new Error(`migration ${i + 1} did not end running on ${to}: ${JSON.stringify(vm.lastMigration)}`);
      console.error(`ucloud shared #${i + 1} (${vm.lastMigration!.source} → ${to}): total ${f.totalMs} ms, downtime ${f.downtimeMs} ms, setup ${f.setupMs ?? '?'} ms, wall ${wallMs.toFixed(0)} ms`);
      return { totalMs: f.totalMs, downtimeMs: f.downtimeMs, wallMs };
    },
    async done() {
      await tb?.stop();
    },
  };
}

/** Two namespaces joined by a veth pair; a is fd96:<id>::a, b is fd96:<id>::b. */
function twoHosts(id: string) {
  const ns = { a: `ubm${id}-a`, b: `ubm${id}-b` };
  const addr = { a: `fd96:${id}::a`, b: `fd96:${id}::b` };
  execFileSync('ip', ['netns', 'add', ns.a]);
  execFileSync('ip', ['netns', 'add', ns.b]);
  execFileSync('ip', ['-n', ns.a, 'link', 'add', 'u0', 'type', 'veth', 'peer', 'name', 'u0', 'netns', ns.b]);
  for (const side of ['a', 'b'] as const) {
    execFileSync('ip', ['-n', ns[side], 'addr', 'add', `${addr[side]}/64`, 'dev', 'u0', 'nodad']);
    execFileSync('ip', ['-n', ns[side], 'link', 'set', 'u0', 'up']);
    execFileSync('ip', ['-n', ns[side], 'link', 'set', 'lo', 'up']);
  }
  return {
    ns,
    addr,
    remove() {
      for (const n of [ns.a, ns.b]) {
        try {
          execFileSync('ip', ['netns', 'del', n]);
        } catch {
          // already gone
        }
      }
    },
  };
}

interface Qemu {
  child: ChildProcess;
  qmp: QmpMonitor;
  console: string;
}

/** A guest as ucloud would run it, minus NICs: TCG, 256 MiB, one virtio disk (node `disk0`). */
async function startQemu(netns: string, dir: string, name: string, disk: string, incoming: boolean): Promise<Qemu> {
  const qmpSock = join(dir, `${name}.qmp`);
  const console = join(dir, `${name}.console`);
  const args = [
    '-accel', 'tcg', '-machine', 'q35', '-m', String(RAM_MIB), '-smp', '1', '-nodefaults', '-display', 'none', '-no-user-config',
    '-qmp', `unix:${qmpSock},server=on,wait=off`,
    '-serial', `file:${console}`,
    '-blockdev', `driver=file,filename=${disk},node-name=file0,cache.direct=off`,
    '-blockdev', 'driver=qcow2,file=file0,node-name=disk0',
    '-device', 'virtio-blk-pci,drive=disk0,id=vd0,bootindex=1',
    ...(incoming ? ['-incoming', 'defer'] : []),
  ];
  const child = spawn('ip', ['netns', 'exec', netns, 'qemu-system-x86_64', ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
  const qmp = await QmpMonitor.connect(qmpSock, { timeoutMs: 20_000 });
  return { child, qmp, console };
}

async function stopQemu(q: Qemu | undefined): Promise<void> {
  if (!q) return;
  await q.qmp.close().catch(() => undefined);
  q.child.kill('SIGKILL');
  if (q.child.pid) await waitForExit(q.child.pid, 10_000).catch(() => undefined);
}

async function untilBooted(q: Qemu, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(existsSync(q.console) && readFileSync(q.console, 'utf8').includes(MARKER))) {
    if (Date.now() > deadline) throw new Error('guest did not boot');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** query-migrate can say `completed` with zero times before the source reaches postmigrate: wait for that, then read. */
async function finalFigures(src: Qemu): Promise<MigrationInfo> {
  for (;;) {
    const info = await queryMigrate(src.qmp);
    if (info.status === 'failed' || info.status === 'cancelled') throw new Error(`migration ${info.status}: ${info['error-desc'] ?? ''}`);
    if (info.status === 'completed' && (await queryStatus(src.qmp)).status === 'postmigrate') return queryMigrate(src.qmp);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Destination listening on any port of its address; returns the port it bound. */
async function listen(dst: Qemu, addr: string): Promise<string> {
  await migrateSetCapabilities(dst.qmp, { events: true });
  await migrateIncoming(dst.qmp, `tcp:[${addr}]:0`);
  const port = (await queryMigrate(dst.qmp))['socket-address']?.find((s) => s.port)?.port;
  if (!port) throw new Error('destination reported no listening port');
  return port;
}

/**
 * Migrates RAM. With `beforeSwitchover` (copy): the source pauses at
 * pre-switchover (guest stopped, nothing more written), the hook finishes the
 * disk copy, then migrate-continue — libvirt's order, so the destination's
 * disk is whole and released by the NBD export before it activates.
 */
async function migrateRam(src: Qemu, dst: Qemu, addr: string, port: string, beforeSwitchover?: () => Promise<void>): Promise<MigrationInfo> {
  await migrateSetCapabilities(src.qmp, { events: true, 'pause-before-switchover': beforeSwitchover !== undefined });
  await migrateSetParameters(src.qmp, { 'downtime-limit': DOWNTIME_LIMIT_MS, 'max-bandwidth': MAX_BANDWIDTH });
  const resumed = dst.qmp.waitForEvent('RESUME', 120_000);
  const paused = beforeSwitchover && src.qmp.waitForEvent('MIGRATION', 120_000, (e) => (e.data as { status?: string } | undefined)?.status === 'pre-switchover');
  await migrate(src.qmp, `tcp:[${addr}]:${port}`);
  if (paused && beforeSwitchover) {
    await paused;
    await beforeSwitchover();
    await src.qmp.execute('migrate-continue', { state: 'pre-switchover' });
  }
  const info = await finalFigures(src);
  await resumed;
  return info;
}

/** One plain-QEMU migration of a freshly booted guest from a to b. */
async function plainRun(mode: Mode, hosts: ReturnType<typeof twoHosts>, base: string, dir: string, i: number): Promise<MigrationFigures> {
  const srcDisk = join(dir, `src${i}.qcow2`);
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', base, '-F', 'qcow2', srcDisk]);
  let dstDisk = srcDisk;
  if (mode === 'copy') {
    dstDisk = join(dir, `dst${i}.qcow2`);
    const size = (JSON.parse(execFileSync('qemu-img', ['info', '--output=json', srcDisk]).toString()) as { 'virtual-size': number })['virtual-size'];
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', dstDisk, String(size)]);
  }
  let src: Qemu | undefined;
  let dst: Qemu | undefined;
  try {
    src = await startQemu(hosts.ns.a, dir, `src${i}`, srcDisk, false);
    await untilBooted(src);
    dst = await startQemu(hosts.ns.b, dir, `dst${i}`, dstDisk, true);
    const t0 = performance.now();
    let mirrorMs: number | undefined;
    if (mode === 'copy') {
      await nbdServerStart(dst.qmp, hosts.addr.b, NBD_PORT);
      await blockExportAdd(dst.qmp, 'exp0', 'disk0', 'disk0');
      await blockdevAdd(src.qmp, { driver: 'nbd', 'node-name': 'nbd0', server: { type: 'inet', host: hosts.addr.b, port: NBD_PORT }, export: 'disk0' });
      const ready = src.qmp.waitForEvent('BLOCK_JOB_READY', 300_000, (e) => (e.data as { device?: string } | undefined)?.device === 'mirror0');
      await blockdevMirror(src.qmp, 'mirror0', 'disk0', 'nbd0', 'full');
      await ready;
      mirrorMs = performance.now() - t0;
    }
    const port = await listen(dst, hosts.addr.b);
    const s = src;
    const d = dst;
    const finishCopy = async () => {
      // The guest is paused: cancelling the ready mirror leaves the target a consistent copy.
      const done = s.qmp.waitForEvent('BLOCK_JOB_COMPLETED', 60_000, (e) => (e.data as { device?: string } | undefined)?.device === 'mirror0');
      await blockJobCancel(s.qmp, 'mirror0');
      await done;
      await nbdServerStop(d.qmp);
    };
    const info = await migrateRam(src, dst, hosts.addr.b, port, mode === 'copy' ? finishCopy : undefined);
    const wallMs = performance.now() - t0;
    if ((await queryStatus(dst.qmp)).status !== 'running') throw new Error('destination not running after migration');
    return { totalMs: info['total-time'] ?? NaN, downtimeMs: info.downtime ?? NaN, wallMs, mirrorMs };
  } finally {
    await stopQemu(src);
    await stopQemu(dst);
    rmSync(srcDisk, { force: true });
    if (dstDisk !== srcDisk) rmSync(dstDisk, { force: true });
  }
}

const fmt = (xs: (number | undefined)[]): string => {
  const v = xs.filter((x): x is number => x !== undefined && Number.isFinite(x));
  return v.length ? `${median(v).toFixed(0)} ms` : '—';
};

async function main(): Promise<void> {
  const base = process.env.UCLOUD_BENCH_IMAGE ?? join(packageRoot(), '.cache', 'guest', 'ucloud-test.qcow2');
  if (!existsSync(base)) throw new Error(`no guest image at ${base}: run guest/build-image.sh (or set UCLOUD_BENCH_IMAGE)`);
  const id = randomBytes(2).toString('hex');
  const dir = mkdtempSync(join(tmpdir(), 'ucloud-bench-migration-'));
  const hosts = twoHosts(id);
  const rows: { side: string; mode: Mode; figs: MigrationFigures[] }[] = [];
  const stopAll = () => {
    // QEMUs run under `ip netns exec`: anything left in the namespaces goes with them.
    for (const n of [hosts.ns.a, hosts.ns.b]) {
      try {
        for (const p of execFileSync('ip', ['netns', 'pids', n]).toString().split('\n').filter(Boolean)) process.kill(Number(p), 'SIGKILL');
      } catch {
        // gone
      }
    }
    hosts.remove();
    rmSync(dir, { recursive: true, force: true });
  };
  let slot: UcloudSlot | undefined;
  process.once('SIGINT', () => {
    void Promise.resolve(slot?.done())
      .catch(() => undefined)
      .finally(() => {
        stopAll();
        process.exit(130);
      });
  });
  try {
    for (const mode of ['shared', 'copy'] as const) {
      const figs: MigrationFigures[] = [];
      for (let i = 0; i < runs; i++) {
        const f = await plainRun(mode, hosts, base, dir, i);
        console.error(`plain ${mode} #${i + 1}: total ${f.totalMs} ms, downtime ${f.downtimeMs} ms, wall ${f.wallMs.toFixed(0)} ms${f.mirrorMs !== undefined ? `, mirror ${f.mirrorMs.toFixed(0)} ms` : ''}`);
        figs.push(f);
      }
      rows.push({ side: 'plain QEMU', mode, figs });
      slot = UCLOUD_RUNS[mode]?.(base);
      if (slot) {
        const uf: MigrationFigures[] = [];
        try {
          for (let i = 0; i < runs; i++) uf.push(await slot.run(i));
        } finally {
          await slot.done();
          slot = undefined;
        }
        rows.push({ side: 'ucloud vm migrate', mode, figs: uf });
      }
    }
  } finally {
    stopAll();
  }
  console.log(`live migration, ${RAM_MIB} MiB guest under TCG, between two network namespaces; medians of ${runs} runs`);
  console.log('| side | disk | total-time | downtime | mirror to READY | wall |');
  console.log('|---|---|---|---|---|---|');
  for (const r of rows) {
    console.log(`| ${r.side} | ${r.mode} | ${fmt(r.figs.map((f) => f.totalMs))} | ${fmt(r.figs.map((f) => f.downtimeMs))} | ${fmt(r.figs.map((f) => f.mirrorMs))} | ${fmt(r.figs.map((f) => f.wallMs))} |`);
  }
  for (const mode of ['shared', 'copy'] as const) {
    if (!UCLOUD_RUNS[mode]) console.log(`ucloud vm migrate, ${mode}: not supported yet (refused with MIGRATION_NOT_SUPPORTED)`);
  }
  for (const mode of ['shared', 'copy'] as const) {
    const [plain, ours] = ['plain QEMU', 'ucloud vm migrate'].map((side) => rows.find((r) => r.side === side && r.mode === mode)?.figs ?? []);
    if (!plain?.length || !ours?.length) continue;
    const ratio = (pick: (f: MigrationFigures) => number) => (median(ours.map(pick)) / median(plain.map(pick))).toFixed(2);
    console.log(`${mode}: ucloud / plain QEMU: total-time ${ratio((f) => f.totalMs)}x, downtime ${ratio((f) => f.downtimeMs)}x, wall ${ratio((f) => f.wallMs)}x`);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
