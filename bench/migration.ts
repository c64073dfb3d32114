// bench/migration: live migration of a 256 MiB TCG guest between two hosts,
// `ucloud vm migrate` against the limit: plain QEMU doing the same job by hand.
//
// Fairness is the point of the design. Each case starts one two-host testbed
// (test/helpers/testbed.ts: two network namespaces on an IPv6 underlay, each
// with its own `ucloud host` and metadata server, etcd/api/scheduler beside)
// and one ucloud VM (256 MiB, 1 vCPU, one NIC). Its "plain twin" is a second
// QEMU started by hand in the SAME namespace from that VM's own command line
// (/proc/<pid>/cmdline: machine type, CPU model, -drive options, virtio-net
// NIC, sandbox, -runas), rewritten only where two processes cannot share
// (name/uuid, sockets, pidfile, a tap of its own that is not on any bridge,
// a disk of its own on the same store). Both guests run side by side under the
// same daemons, and the runs alternate (ucloud, plain, plain, ucloud, …), so
// load on this shared machine falls on both sides alike. The twin is migrated
// by QMP with exactly the capabilities and parameters ucloud's source sets
// (src/host/migration/source.ts: events, auto-converge, return-path;
// downtime-limit = migration_max_downtime_ms, max-bandwidth "unlimited"):
// the difference left is ucloud's orchestration.
//
// Cases (each its own testbed):
//   shared: the fs store declared shared: RAM only.
//   copy:   the fs store not shared (local disks): ucloud copies the disk live
//           (blockdev-mirror to an NBD export on the destination); the twin
//           does the same by hand: a new empty standalone qcow2 on the
//           destination, nbd-server-start + block-export-add there,
//           blockdev-add nbd + blockdev-mirror sync=full on the source until
//           READY, RAM with pause-before-switchover, the ready mirror cancelled
//           and the NBD server stopped at pre-switchover, migrate-continue.
//   ceph:   the disk on the testbed's own single-node Ceph (store `ceph`,
//           bound to the underlay bridge's address so every host's QEMU
//           reaches it); the twin's disk is an rbd clone of the same image
//           snapshot.
// Besides QEMU's figures: RAM sent during the pause (downtime-bytes; ucloud's
// from the source agent's log), each idle guest's disk writes over 5 s before
// the runs (a write pending at the switch-over would be flushed in the pause),
// and in copy mode ucloud's real guest pause (its destination resumes the
// guest only once the settle places it there, after QEMU's downtime ends).
// A case ucloud refuses (e.g. copy before it is built) prints the refusal.
//
// Usage (root: makes namespaces, runs QEMU):
//   npm run bench:migration [-- RUNS] [--cases shared,copy,ceph] [--sweep 300,100,50] [--variants no-ac,no-rp,bare]
// --sweep L1,L2,…: on the shared testbed, also RUNS plain-twin migrations at
// each downtime-limit (ms): the evidence for the default of
// migration_max_downtime_ms. UCLOUD_MIGRATION_MAX_DOWNTIME_MS sets the limit
// both sides use (default: the config default). BENCH_CPU=1 also prints, for
// each run, the CPU each process (QEMU: each thread) used during the transfer
// (bench/cpu-sampler.ts). BENCH_SETTLE_MS (default 4000; 0: none) is the quiet
// before every run, so both sides start from memory the hypervisor has taken
// back (see SETTLE_MS).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, type Stats } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { CONFIG_KEYS } from '../src/common/config.js';
import { packageRoot } from '../src/common/paths.js';
import { blockdevAdd, blockdevMirror, blockExportAdd, blockJobCancel, nbdServerStart, nbdServerStop, queryBlock } from '../src/host/qemu/qmp-commands.js';
import { migrate, migrateIncoming, migrateSetCapabilities, migrateSetParameters, queryMigrate, queryStatus, waitForExit, QmpMonitor, type MigrationInfo } from '../src/host/qemu/index.js';
import type { Vm } from '../src/model/index.js';
import { until } from '../test/helpers/cluster.js';
import { Testbed, type TestbedHost } from '../test/helpers/testbed.js';
import { CpuSampler } from './cpu-sampler.js';
import { benchArgs, usageError } from './args.js';
import { median } from './harness.js';

const MODES = ['shared', 'copy', 'ceph'] as const;
type Mode = (typeof MODES)[number];

const USAGE = 'usage: npm run bench:migration [-- RUNS=5] [--cases shared,copy,ceph] [--sweep 300,100,50] [--variants no-ac,no-rp,bare]   (or --runs N; root: makes namespaces, runs QEMU)';
const args = benchArgs(USAGE, { runs: 5 }, { positional: ['runs'], strings: ['cases', 'sweep', 'variants'] });
const { runs } = args;
const cases = (args.cases?.split(',') ?? MODES).map((m) => (MODES.includes(m as Mode) ? (m as Mode) : usageError(USAGE, `--cases takes ${MODES.join(', ')}, not "${m}"`)));
const sweep = args.sweep?.split(',').map(Number);
if (sweep?.some((ms) => !(ms > 0))) usageError(USAGE, `--sweep takes downtime limits in ms above 0, not "${args.sweep}"`);
const RAM_MIB = 256;
/** The limit both sides switch over under: ucloud's default unless the environment says otherwise. */
const DOWNTIME_LIMIT_MS = Number(process.env.UCLOUD_MIGRATION_MAX_DOWNTIME_MS ?? CONFIG_KEYS.migration_max_downtime_ms.default);
/** What ucloud's source sets (src/host/migration/source.ts), so the twin migrates under the same rules. */
const SOURCE_CAPS = { events: true, 'auto-converge': true, 'return-path': true };
/**
 * --variants no-ac,no-rp,bare: at each sweep limit the twin also migrates with
 * auto-converge off, return-path off, or both (QEMU's defaults), alternating
 * with ucloud's capabilities: what each capability costs.
 */
const variants = (args.variants?.split(',') ?? []).map((v) => {
  const caps = ({ 'no-ac': { 'auto-converge': false }, 'no-rp': { 'return-path': false }, bare: { 'auto-converge': false, 'return-path': false } } as Record<string, object>)[v];
  if (!caps) usageError(USAGE, `--variants takes no-ac, no-rp and bare, not "${v}"`);
  return { name: v, caps: { ...SOURCE_CAPS, ...caps } };
});
/**
 * Quiet before every run, either side. On a VM whose hypervisor takes freed
 * memory back (virtio-balloon free page reporting, as on this machine: freed
 * 2 MiB blocks are handed back after about 2 s), memory freed moments ago is
 * still backed and a destination QEMU that gets it loads the stream up to 3×
 * faster than one that gets memory the host must fault in again. Without the
 * pause the twin, which stops its old source right before its next run, got
 * warm memory and ucloud (whose agent stops the source after the settle)
 * mostly cold: the "ucloud's incoming QEMU spends more CPU" of earlier rounds
 * was that (all of it kernel time zeroing huge pages, perf: clear_page_erms).
 * BENCH_SETTLE_MS=0 turns it off.
 */
const SETTLE_MS = Number(process.env.BENCH_SETTLE_MS ?? 4000);

/** Whether this machine's memory balloon reports free pages to its hypervisor (VIRTIO_BALLOON_F_REPORTING, feature bit 5). */
function freePageReporting(): boolean {
  try {
    return readdirSync('/sys/bus/virtio/devices').some((d) => {
      const dir = join('/sys/bus/virtio/devices', d);
      return readFileSync(join(dir, 'device'), 'utf8').trim() === '0x0005' && readFileSync(join(dir, 'features'), 'utf8')[5] === '1';
    });
  } catch {
    return false;
  }
}
/** source.ts's "no limit" (QEMU's own default would be 32 MiB/s). */
const UNLIMITED_BANDWIDTH = 2 ** 40;
/** Twin ports: below the ephemeral range and outside migration_ports (49152–49407), which the hosts' firewall guards. */
const twinPort = (): number => 30000 + 2 * Math.floor(Math.random() * 1000);
/** Stands for the VM's run directory in the twin's arguments until an incarnation gets its own. */
const RUN_DIR = '@RUNDIR@';

/** One migration's figures, in milliseconds (ramBytes: bytes of RAM sent). */
interface Figures {
  totalMs: number;
  downtimeMs: number;
  /** From the command (CLI spawn, or the twin's destination QEMU start) to the guest running on the destination. */
  wallMs: number;
  ramBytes?: number;
  /** copy: disk bytes mirrored before the RAM phase. */
  mirrorMs?: number;
  /**
   * twin only: the guest's real pause, the source's STOP event to the
   * destination's RESUME (QEMU's timestamps, one clock). With return-path
   * QEMU's downtime covers this; without, only the source's half.
   */
  pauseMs?: number;
  /** auto-converge's throttle at the end (0: it never slowed the guest). */
  throttlePct?: number;
  /** QEMU's downtime-bytes: RAM sent while the guest was paused (ucloud: from the source agent's log). */
  pauseBytes?: number;
  /** QEMU's dirty-sync-count: passes over RAM. */
  syncs?: number;
}


interface Row {
  side: string;
  mode: Mode;
  figs: Figures[];
  note?: string;
}

// ---------------------------------------------------------------- ucloud --

async function cli(tb: Testbed, args: string[]): Promise<Vm> {
  const r = await tb.c.cli([...args, '-o', 'json']);
  if (r.code !== 0) throw new Error(`ucloud ${args.join(' ')}: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as Vm;
}

async function ucloudRun(tb: Testbed, i: number, mode: Mode): Promise<Figures> {
  const cur = await cli(tb, ['vm', 'show', 'mig']);
  const to = cur.host === 'h1' ? 'h2' : 'h1';
  const t0 = performance.now();
  const t0Epoch = Date.now();
  const cpu = process.env.BENCH_CPU ? new CpuSampler() : undefined;
  await cli(tb, ['vm', 'migrate', 'mig', '--to', to, '--wait']);
  const wallMs = performance.now() - t0;
  cpu?.stop();
  const vm = await cli(tb, ['vm', 'show', 'mig']);
  const f = vm.lastMigration?.figures;
  if (vm.host !== to || vm.status !== 'running' || !f) throw new Error(`migration ${i + 1} did not end running on ${to}: ${JSON.stringify(vm.lastMigration)}`);
  const ram = completedRam(tb.host(cur.host!), vm.lastMigration!.id);
  const pauseBytes = ram?.['downtime-bytes'];
  const pauseMs = mode === 'copy' ? copyPauseMs(tb.host(cur.host!), tb.host(to), vm.id) : undefined;
  console.error(`ucloud ${mode} #${i + 1} (${cur.host} → ${to}): total ${f.totalMs} ms, downtime ${f.downtimeMs} ms, setup ${f.setupMs ?? '?'} ms, RAM ${mib(f.ramBytes)}, sent in pause ${mib(pauseBytes)}, syncs ${ram?.['dirty-sync-count'] ?? '?'},${pauseMs !== undefined ? ` guest pause ${pauseMs} ms,` : ''} wall ${wallMs.toFixed(0)} ms`);
  const started = logRecords(tb.host(cur.host!), vm.lastMigration!.id).find((r) => r.msg === 'migration started')?.time;
  // Where the wall time goes, by the agents' own records (ms after the command was spawned).
  const at = (h: string, msg: string) => logRecords(tb.host(h), vm.lastMigration!.id).find((r) => r.msg === msg && r.migration === vm.lastMigration!.id)?.time;
  const marks: [string, number | undefined][] = [['destination listening', at(to, 'incoming migration listening')], ['source started', started], ['source completed', at(cur.host!, 'migration completed')]];
  console.error(`  timeline: ${[...marks.map(([k, t]) => `${k} +${t === undefined ? '?' : t - t0Epoch}`), `CLI exited +${wallMs.toFixed(0)}`].join(', ')} ms`);
  if (cpu && started) console.error(`  CPU during ucloud's transfer: ${cpu.between(started, started + f.totalMs).map((c) => `${c.who} ${c.ms}`).join(', ')}`);
  return { totalMs: f.totalMs, downtimeMs: f.downtimeMs, wallMs, ramBytes: f.ramBytes, pauseBytes, syncs: ram?.['dirty-sync-count'], pauseMs };
}

interface LogRecord {
  msg?: string;
  time?: number;
  vm?: string;
  migration?: string;
  event?: string;
  at?: number;
  ram?: MigrationInfo['ram'];
}

/** The JSON log records of host `h`'s daemons that mention `needle`. */
function logRecords(h: TestbedHost, needle: string): LogRecord[] {
  const out: LogRecord[] = [];
  for (const name of readdirSync(h.logDir).filter((n) => n.endsWith('.log'))) {
    for (const line of readFileSync(join(h.logDir, name), 'utf8').split('\n')) {
      if (!line.includes(needle)) continue;
      try {
        out.push(JSON.parse(line) as LogRecord);
      } catch {
        // not a JSON line
      }
    }
  }
  return out;
}

/** QEMU's RAM counters of migration `id`, from the source agent's log (its 'migration completed' record). */
function completedRam(h: TestbedHost, id: string): MigrationInfo['ram'] | undefined {
  return logRecords(h, id).find((r) => r.msg === 'migration completed' && r.migration === id)?.ram;
}

/**
 * Mode copy: the guest's real pause, the source QEMU's STOP (its timestamp,
 * logged by the source agent) to the destination agent's `cont` (its log
 * time; same clock). QEMU's downtime stops at the source's completion, while
 * the destination keeps the guest paused until the settle places it there.
 */
function copyPauseMs(src: TestbedHost, dst: TestbedHost, vmId: string): number | undefined {
  const resumed = logRecords(dst, vmId).filter((r) => r.msg === 'disk copy arrived: guest resumed here').at(-1)?.time;
  if (resumed === undefined) return undefined;
  const stop = logRecords(src, vmId).filter((r) => r.msg === 'QEMU event' && r.event === 'STOP' && r.at !== undefined && r.at <= resumed).at(-1)?.at;
  return stop === undefined ? undefined : resumed - stop;
}

// ------------------------------------------------------------ plain twin --

interface Qemu {
  child: ChildProcess;
  qmp: QmpMonitor;
  host: TestbedHost;
  disk: string;
  serial?: string;
}

/**
 * The ucloud VM's QEMU, copied by hand: same arguments, own identity, own
 * sockets, own tap (not on a bridge: the twin has a NIC but no network), own
 * disk. Moved between the testbed's namespaces with plain QMP.
 */
class Twin {
  private cur!: Qemu;
  private serial = '';
  private serialSock?: Socket;
  private n = 0;
  private readonly dir: string;
  private readonly tap = `tw${randomBytes(3).toString('hex')}`;
  private readonly args: string[];
  private vmDiskFacts?: { st: Stats; info: { 'virtual-size': number; 'full-backing-filename'?: string; 'backing-filename-format'?: string } };

  private constructor(
    private readonly tb: Testbed,
    private readonly mode: Mode,
    vm: Vm,
    /** The VM's own disk (drive 0's file= value) and its owner, for the twin's copy. */
    private readonly vmDisk: string,
    private readonly rbd?: { conf: string; pool: string },
  ) {
    this.dir = join(tmpdir(), `ubtw-${randomBytes(2).toString('hex')}`);
    mkdirSync(this.dir, { recursive: true });
    chmodSync(this.dir, 0o755);
    const orig = readFileSync(`/proc/${vm.qemu!.pid}/cmdline`, 'utf8').split('\0').filter(Boolean).slice(1);
    const runDir = dirname(vm.qemu!.qmpSocket);
    const args: string[] = [];
    for (let i = 0; i < orig.length; i++) {
      const a = orig[i]!;
      const v = orig[i + 1] ?? '';
      if (a === '-incoming') {
        i++;
        continue;
      }
      if (a === '-name') args.push(a, 'guest=twin,debug-threads=on');
      else if (a === '-uuid') args.push(a, randomUUID());
      else if (a === '-netdev') args.push(a, v.replace(/ifname=[^,]+/, `ifname=${this.tap}`));
      else if (a === '-device' && v.startsWith('virtio-net')) args.push(a, v.replace(/mac=[^,]+/, 'mac=52:54:00:7e:57:01'));
      else if (i + 1 < orig.length && !v.startsWith('-') && a.startsWith('-')) args.push(a, v.replaceAll(runDir, RUN_DIR));
      else {
        args.push(a);
        continue;
      }
      i++;
    }
    this.args = args;
  }

  static async start(tb: Testbed, mode: Mode, vm: Vm): Promise<Twin> {
    const orig = readFileSync(`/proc/${vm.qemu!.pid}/cmdline`, 'utf8').split('\0');
    const drive = orig[orig.indexOf('-drive') + 1]!;
    const file = /(?:^|,)file=((?:[^,]|,,)+)/.exec(drive)![1]!.replaceAll(',,', ',');
    const t = new Twin(tb, mode, vm, file, mode === 'ceph' ? { conf: tb.ceph!.conf, pool: tb.cephPool! } : undefined);
    const host = tb.hosts.find((h) => h.name === vm.host)!;
    for (const h of tb.hosts) {
      execFileSync('ip', ['-n', h.netns, 'tuntap', 'add', 'dev', t.tap, 'mode', 'tap']);
      execFileSync('ip', ['-n', h.netns, 'link', 'set', t.tap, 'up']);
    }
    const disk = t.makeDisk(true);
    t.cur = await t.launch(host, disk, false);
    await t.readSerial();
    return t;
  }

  /** The twin's own disk: an overlay on the VM's backing image (fs) or an rbd clone of its parent snapshot (ceph); `fromImage` false: a blank standalone qcow2 of the same size (a copy's target). */
  private makeDisk(fromImage: boolean): string {
    const tag = `twin-${randomBytes(3).toString('hex')}`;
    if (this.rbd) {
      const m = /^rbd:([^/]+)\/([^:]+)/.exec(this.vmDisk);
      if (!m) throw new Error(`cannot read the rbd image of ${this.vmDisk}`);
      const info = JSON.parse(execFileSync('rbd', ['-c', this.rbd.conf, 'info', '--format', 'json', `${m[1]}/${m[2]}`]).toString()) as { parent?: { pool: string; image: string; snapshot: string } };
      const p = info.parent;
      if (p) execFileSync('rbd', ['-c', this.rbd.conf, 'clone', `${p.pool}/${p.image}@${p.snapshot}`, `${m[1]}/${tag}`]);
      else execFileSync('rbd', ['-c', this.rbd.conf, 'cp', `${m[1]}/${m[2]}`, `${m[1]}/${tag}`]);
      return this.vmDisk.replace(`${m[1]}/${m[2]}`, `${m[1]}/${tag}`);
    }
    // Read once, at the start: a copy-mode migration of the ucloud VM deletes this volume (its disks move to new ones).
    this.vmDiskFacts ??= {
      st: statSync(this.vmDisk),
      info: JSON.parse(execFileSync('qemu-img', ['info', '--output=json', '-U', this.vmDisk]).toString()) as { 'virtual-size': number; 'full-backing-filename'?: string; 'backing-filename-format'?: string },
    };
    const { st, info } = this.vmDiskFacts;
    const path = join(dirname(this.vmDisk), `${tag}.qcow2`);
    if (fromImage && info['full-backing-filename']) {
      execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', info['full-backing-filename'], '-F', info['backing-filename-format'] ?? 'raw', path, String(info['virtual-size'])]);
    } else {
      execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', path, String(info['virtual-size'])]);
    }
    chownSync(path, st.uid, st.gid);
    chmodSync(path, st.mode & 0o777);
    return path;
  }

  /** Each incarnation its own run directory (sockets, pidfile): source and destination live side by side. */
  private argsFor(runDir: string, disk: string, standalone: boolean, incoming: boolean): string[] {
    const a = this.args.map((x) => x.replaceAll(RUN_DIR, runDir));
    const d = a.indexOf('-drive');
    let drive = a[d + 1]!.replace(/(^|,)file=((?:[^,]|,,)+)/, `$1file=${disk.replaceAll(',', ',,')}`);
    if (standalone) drive = drive.replace(/,backing\.[^=]+=((?:[^,]|,,)+)/g, '');
    a[d + 1] = drive;
    if (incoming) a.push('-incoming', 'defer');
    return a;
  }

  private async launch(host: TestbedHost, disk: string, incoming: boolean, standalone = false): Promise<Qemu> {
    const runDir = join(this.dir, String(this.n++));
    mkdirSync(runDir, { mode: 0o755 });
    const args = this.argsFor(runDir, disk, standalone, incoming);
    const qmpSock = /^unix:([^,]+)/.exec(args[args.indexOf('-qmp') + 1]!)![1]!;
    const child = spawn('ip', ['netns', 'exec', host.netns, 'qemu-system-x86_64', ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
    const qmp = await QmpMonitor.connect(qmpSock, { timeoutMs: 20_000 });
    const serial = args.find((x) => x.startsWith('socket,id=serial0'))?.match(/path=([^,]+)/)?.[1];
    return { child, qmp, host, disk, serial };
  }

  private async readSerial(): Promise<void> {
    const path = this.cur.serial;
    if (!path) throw new Error('the VM has no serial socket to read the twin from');
    this.serialSock = await until('twin serial socket', () => new Promise<Socket | false>((res) => {
      const s = connect(path);
      s.once('connect', () => res(s));
      s.once('error', () => res(false));
    }), 20_000);
    this.serialSock.on('data', (b: Buffer) => (this.serial += b.toString()));
  }

  /**
   * Booted. Its ucloud-init then looks for a network it does not have (a
   * shell loop reading /proc/net/if_inet6 five times a second, for minutes):
   * that barely touches RAM — both guests send the same ~100 MiB (the RAM
   * column) — so the bench does not wait for it to give up.
   */
  async settled(): Promise<void> {
    await until('twin guest booted', () => this.serial.includes('UCLOUD-GUEST-BOOTED'), 180_000);
    this.serialSock?.destroy();
  }

  get host(): string {
    return this.cur.host.name;
  }

  diskWrites(): Promise<string> {
    return diskWritesOn(this.cur.qmp);
  }

  /** One plain migration to the other host, with ucloud's capabilities and parameters at `limitMs`. */
  async migrate(limitMs: number, caps: typeof SOURCE_CAPS = SOURCE_CAPS): Promise<Figures> {
    const src = this.cur;
    const to = this.tb.hosts.find((h) => h !== src.host)!;
    const copy = this.mode === 'copy';
    const t0 = performance.now();
    const disk = copy ? this.makeDisk(false) : src.disk;
    const dst = await this.launch(to, disk, true, copy);
    try {
      const port = twinPort();
      await migrateSetCapabilities(dst.qmp, { events: true, 'return-path': caps['return-path'] });
      await migrateIncoming(dst.qmp, `tcp:[${to.address}]:${port}`);
      let mirrorMs: number | undefined;
      if (copy) {
        const nbdPort = String(port + 1);
        await nbdServerStart(dst.qmp, to.address, nbdPort);
        await blockExportAdd(dst.qmp, 'twin-exp0', await diskNode(dst.qmp), 'disk0', true);
        await blockdevAdd(src.qmp, { driver: 'nbd', 'node-name': 'twin-nbd0', server: { type: 'inet', host: to.address, port: nbdPort }, export: 'disk0' });
        const snode = await diskNode(src.qmp);
        const ready = src.qmp.waitForEvent('BLOCK_JOB_READY', 300_000, (e) => (e.data as { device?: string } | undefined)?.device === 'twin-mirror0');
        await blockdevMirror(src.qmp, 'twin-mirror0', snode, 'twin-nbd0', 'full');
        await ready;
        mirrorMs = performance.now() - t0;
      }
      await migrateSetCapabilities(src.qmp, { ...caps, 'pause-before-switchover': copy });
      await migrateSetParameters(src.qmp, { 'downtime-limit': limitMs, 'max-bandwidth': UNLIMITED_BANDWIDTH });
      const resumed = dst.qmp.waitForEvent('RESUME', 120_000);
      const stopped = src.qmp.waitForEvent('STOP', 120_000);
      const paused = copy ? src.qmp.waitForEvent('MIGRATION', 120_000, (e) => (e.data as { status?: string } | undefined)?.status === 'pre-switchover') : undefined;
      const cpu = process.env.BENCH_CPU ? new CpuSampler() : undefined;
      const begun = Date.now();
      await migrate(src.qmp, `tcp:[${to.address}]:${port}`);
      if (paused) {
        await paused;
        // The guest is paused: cancelling the ready mirror leaves the target a consistent copy.
        const done = src.qmp.waitForEvent('BLOCK_JOB_COMPLETED', 60_000, (e) => (e.data as { device?: string } | undefined)?.device === 'twin-mirror0');
        await blockJobCancel(src.qmp, 'twin-mirror0');
        await done;
        await nbdServerStop(dst.qmp);
        await src.qmp.execute('migrate-continue', { state: 'pre-switchover' });
      }
      const info = await finalFigures(src.qmp);
      cpu?.stop();
          if (cpu) console.error(`  CPU during the twin's transfer: ${cpu.between(begun, begun + (info['total-time'] ?? 0)).map((c) => `${c.who} ${c.ms}`).join(', ')}`);
      const pauseMs = (await resumed).timestampMs - (await stopped).timestampMs;
      const wallMs = performance.now() - t0;
      if ((await queryStatus(dst.qmp)).status !== 'running') throw new Error('twin not running after migration');
      this.cur = dst;
      await this.kill(src);
      if (copy) rmSync(src.disk, { force: true });
      const throttlePct = (info as { 'cpu-throttle-percentage'?: number })['cpu-throttle-percentage'] ?? 0;
      return { totalMs: info['total-time'] ?? NaN, downtimeMs: info.downtime ?? NaN, wallMs, ramBytes: info.ram?.transferred, mirrorMs, pauseMs, throttlePct, pauseBytes: info.ram?.['downtime-bytes'], syncs: info.ram?.['dirty-sync-count'] };
    } catch (err) {
      await this.kill(dst);
      if (copy) rmSync(disk, { force: true });
      throw err;
    }
  }

  private async kill(q: Qemu): Promise<void> {
    await q.qmp.close().catch(() => undefined);
    q.child.kill('SIGKILL');
    if (q.child.pid) await waitForExit(q.child.pid, 10_000).catch(() => undefined);
  }

  async stop(): Promise<void> {
    this.serialSock?.destroy();
    if (this.cur) {
      await this.kill(this.cur);
      if (!this.rbd) rmSync(this.cur.disk, { force: true });
    }
    for (const h of this.tb.hosts) {
      try {
        execFileSync('ip', ['-n', h.netns, 'link', 'del', this.tap], { stdio: 'ignore' });
      } catch {
        // gone with its namespace
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const WRITE_PROBE_MS = 5000;

/** Writes and flushes of drive disk0 over WRITE_PROBE_MS (query-blockstats), on QMP socket `sock` (free between migrations). */
async function diskWrites(sock: string): Promise<string> {
  const qmp = await QmpMonitor.connect(sock, { timeoutMs: 10_000 });
  try {
    return await diskWritesOn(qmp);
  } finally {
    await qmp.close();
  }
}

async function diskWritesOn(qmp: QmpMonitor): Promise<string> {
  type Stats = { device?: string; qdev?: string; stats: { wr_operations: number; wr_bytes: number; flush_operations: number } }[];
  const read = async () => ((await qmp.execute('query-blockstats')) as Stats).find((b) => b.device === 'disk0')?.stats;
  const a = await read();
  await new Promise((r) => setTimeout(r, WRITE_PROBE_MS));
  const b = await read();
  if (!a || !b) return '?';
  return `${b.wr_operations - a.wr_operations} writes (${((b.wr_bytes - a.wr_bytes) / 1024).toFixed(0)} KiB), ${b.flush_operations - a.flush_operations} flushes`;
}

/** The top block node of drive disk0 (the command line's id). */
async function diskNode(qmp: QmpMonitor): Promise<string> {
  const node = (await queryBlock(qmp)).find((b) => b.device === 'disk0')?.inserted?.['node-name'];
  if (!node) throw new Error('QEMU has no drive disk0');
  return node;
}

/** query-migrate can say `completed` with zero times before the source reaches postmigrate: wait for that, then read. */
async function finalFigures(qmp: QmpMonitor): Promise<MigrationInfo> {
  for (;;) {
    const info = await queryMigrate(qmp);
    if (info.status === 'failed' || info.status === 'cancelled') throw new Error(`migration ${info.status}: ${info['error-desc'] ?? ''}`);
    if (info.status === 'completed' && (await queryStatus(qmp)).status === 'postmigrate') return queryMigrate(qmp);
    await new Promise((r) => setTimeout(r, 10));
  }
}

// ----------------------------------------------------------------- cases --

async function runCase(mode: Mode, base: string, rows: Row[]): Promise<void> {
  const tb = await Testbed.start({
    hosts: 2,
    guestImage: base,
    sharedStore: mode !== 'copy',
    ...(mode === 'ceph' ? { ceph: 'optional' as const } : {}),
    hostEnv: () => ({ UCLOUD_MIGRATION_MAX_DOWNTIME_MS: String(DOWNTIME_LIMIT_MS) }),
  });
  let twin: Twin | undefined;
  try {
    let image = 'ucloud-test';
    if (mode === 'ceph') {
      if (!tb.ceph) {
        rows.push({ side: 'ucloud vm migrate', mode, figs: [], note: 'Ceph did not come up: skipped' });
        return;
      }
      image = 'ucloud-test-ceph';
      await tb.importCephImage(image, base);
    }
    await cli(tb, ['network', 'create', 'bench']);
    const vm = await cli(tb, ['vm', 'create', 'mig', '--image', image, '--network', 'bench', '--ram', `${RAM_MIB}MiB`, '--wait']);
    twin = await Twin.start(tb, mode, vm);
    // Both settled: booted, first-boot setup over (ucloud's reached its metadata server; the twin's gave up), nothing left dirtying RAM.
    await until('ucloud guest settled', () => existsSync(vm.qemu!.serialLog) && readFileSync(vm.qemu!.serialLog, 'utf8').includes('UCLOUD-INIT-DONE'), 180_000);
    await twin.settled();
    // What each guest writes to its disk while idle: a write since the last flush makes the switch-over's pause flush it (fdatasync).
    const [ours5, twin5] = await Promise.all([diskWrites(vm.qemu!.qmpSocket), twin.diskWrites()]);
    console.error(`idle guests' disk writes in ${WRITE_PROBE_MS / 1000} s: ucloud ${ours5}; twin ${twin5}`);
    const ours: Figures[] = [];
    const plain: Figures[] = [];
    let note: string | undefined;
    for (let i = 0; i < runs; i++) {
      // Alternating which goes first, so a burst of load elsewhere hits both sides alike.
      const order = i % 2 === 0 ? ['ucloud', 'plain'] : ['plain', 'ucloud'];
      for (const side of order) {
        if (SETTLE_MS) await new Promise((r) => setTimeout(r, SETTLE_MS));
        if (side === 'plain') {
          const from = twin.host;
          const f = await twin.migrate(DOWNTIME_LIMIT_MS);
          console.error(`plain ${mode} #${i + 1} (${from} → ${twin.host}): total ${f.totalMs} ms, downtime ${f.downtimeMs} ms, pause ${f.pauseMs} ms, RAM ${mib(f.ramBytes)}, sent in pause ${mib(f.pauseBytes)}, syncs ${f.syncs ?? '?'}, throttle ${f.throttlePct}%, wall ${f.wallMs.toFixed(0)} ms${f.mirrorMs !== undefined ? `, mirror ${f.mirrorMs.toFixed(0)} ms` : ''}`);
          plain.push(f);
        } else if (!note) {
          try {
            ours.push(await ucloudRun(tb, i, mode));
          } catch (err) {
            const m = /MIGRATION_NOT_SUPPORTED|not supported/i.exec(String(err));
            if (!m) throw err;
            note = `refused: ${String((err as Error).message).split('\n')[0]}`;
            console.error(`ucloud ${mode}: ${note}`);
          }
        }
      }
    }
    rows.push({ side: 'plain QEMU (twin)', mode, figs: plain });
    rows.push({ side: 'ucloud vm migrate', mode, figs: ours, note });
    if (mode === 'shared' && sweep) {
      for (const limit of sweep) {
        const all = [{ name: "ucloud's capabilities", caps: SOURCE_CAPS }, ...variants].map((v) => ({ ...v, figs: [] as Figures[] }));
        for (let i = 0; i < runs; i++) {
          // Rotated each round, so no variant always follows the same one.
          for (let k = 0; k < all.length; k++) {
            const v = all[(i + k) % all.length]!;
            v.figs.push(await twin.migrate(limit, v.caps));
          }
        }
        for (const v of all) {
          console.error(`plain sweep, downtime-limit ${limit} ms, ${v.name}: downtime ${v.figs.map((f) => f.downtimeMs).join(' / ')} ms; pause ${v.figs.map((f) => f.pauseMs).join(' / ')} ms; total ${v.figs.map((f) => f.totalMs).join(' / ')} ms; throttle ${v.figs.map((f) => f.throttlePct).join(' / ')} %`);
          rows.push({ side: `plain QEMU (twin), limit ${limit} ms, ${v.name}`, mode, figs: v.figs });
        }
      }
    }
  } finally {
    await twin?.stop().catch((err: unknown) => console.error('twin stop:', err));
    await tb.stop();
  }
}

const mib = (b: number | undefined): string => (b === undefined ? '?' : `${(b / 2 ** 20).toFixed(1)} MiB`);
const med = (xs: (number | undefined)[]): number | undefined => {
  const v = xs.filter((x): x is number => x !== undefined && Number.isFinite(x));
  return v.length ? median(v) : undefined;
};
const fmt = (x: number | undefined, unit = 'ms'): string => (x === undefined ? '—' : `${x.toFixed(0)} ${unit}`);

async function main(): Promise<void> {
  const base = process.env.UCLOUD_BENCH_IMAGE ?? join(packageRoot(), '.cache', 'guest', 'ucloud-test.qcow2');
  if (!existsSync(base)) throw new Error(`no guest image at ${base}: run guest/build-image.sh (or set UCLOUD_BENCH_IMAGE)`);
  const load0 = loadavg();
  const rows: Row[] = [];
  for (const mode of cases) {
    try {
      await runCase(mode, base, rows);
    } catch (err) {
      // One case's failure (a refused or failed migration, Ceph trouble) is a finding, not the end of the others.
      console.error(`case ${mode} failed:`, err);
      rows.push({ side: 'case', mode, figs: [], note: `failed: ${String((err as Error).message ?? err).split('\n')[0]}` });
    }
  }
  const load1 = loadavg();
  console.log(`live migration, ${RAM_MIB} MiB guest under TCG, between two netns hosts; medians of ${runs} runs; downtime-limit ${DOWNTIME_LIMIT_MS} ms on both sides`);
  console.log(`load average (1 min) at start ${load0[0]!.toFixed(2)}, at end ${load1[0]!.toFixed(2)}`);
  console.log(`${SETTLE_MS} ms of quiet before every run (BENCH_SETTLE_MS); free page reporting to a hypervisor: ${freePageReporting() ? 'on (freed memory goes cold after ~2 s)' : 'off'}`);
  console.log('| side | disk | total-time | downtime | guest pause | RAM sent | sent in pause | mirror to READY | wall |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    if (!r.figs.length) {
      console.log(`| ${r.side} | ${r.mode} | ${r.note ?? 'no runs'} | | | | | | |`);
      continue;
    }
    const ram = med(r.figs.map((f) => f.ramBytes));
    const inPause = med(r.figs.map((f) => f.pauseBytes));
    console.log(`| ${r.side} | ${r.mode} | ${fmt(med(r.figs.map((f) => f.totalMs)))} | ${fmt(med(r.figs.map((f) => f.downtimeMs)))} | ${fmt(med(r.figs.map((f) => f.pauseMs)))} | ${ram === undefined ? '—' : mib(ram)} | ${inPause === undefined ? '—' : mib(inPause)} | ${fmt(med(r.figs.map((f) => f.mirrorMs)))} | ${fmt(med(r.figs.map((f) => f.wallMs)))} |`);
  }
  for (const mode of cases) {
    const [plain, ours] = ['plain QEMU (twin)', 'ucloud vm migrate'].map((side) => rows.find((r) => r.side === side && r.mode === mode)?.figs ?? []);
    if (!plain?.length || !ours?.length) continue;
    const ratio = (pick: (f: Figures) => number) => (median(ours.map(pick)) / median(plain.map(pick))).toFixed(2);
    const down = median(ours.map((f) => f.downtimeMs));
    console.log(`${mode}: ucloud / plain QEMU: total-time ${ratio((f) => f.totalMs)}x (goal ≤ 1.2x), downtime ${ratio((f) => f.downtimeMs)}x; ucloud downtime median ${down.toFixed(0)} ms (goal < 100 ms); wall ${ratio((f) => f.wallMs)}x`);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
