// The fleet harness shared by test/scale/fleet.test.ts and bench/scale.ts: a
// real etcd (default message limits), the real api and scheduler daemons of the
// built CLI as processes (so their CPU and RSS can be read from /proc), users
// with tokens, hosts registered with capacity and made alive through their
// presence keys (no agent, no QEMU), VMs created through the HTTP API with
// every response's status counted, and a check of the whole fleet's records.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import type { IKeyValue, Lease } from 'etcd3';
import { allowedOf, DIMENSIONS, sumResources } from '../../src/common/capacity.js';
import { HostManager } from '../../src/managers/hosts.js';
import { UserManager } from '../../src/managers/users.js';
import { stageUsage, usageOfVm } from '../../src/managers/usage.js';
import { backfillImageIndex } from '../../src/managers/image-vm-index.js';
import { resourcesOf, stageVmWrite, VmManager } from '../../src/managers/vms.js';
import { nowIso, type Resources, type Vm } from '../../src/model/index.js';
import { Keys, Kinds } from '../../src/store/keys.js';
import { Store } from '../../src/store/store.js';
import { daemonArgv } from '../../src/up/services.js';
import { startTestEtcd, type TestEtcd } from './etcd.js';

/** What the fleet needs of its etcd: one member (startTestEtcd) or a cluster (startTestEtcdCluster). */
export type FleetEtcd = Pick<TestEtcd, 'dir' | 'storeOptions' | 'env' | 'stop'>;
import { freePort, METRICS_OFF_ENV } from './ports.js';
import { vmRecord } from './vm-record.js';
import { API_ACTOR } from '../../src/model/vm-lifecycle.js';

const MiB = 2 ** 20;
const GiB = 2 ** 30;
/** The etcd client's default answer limit: no page of any list may come near it. */
export const ETCD_MAX_RECEIVE = 4 * MiB;
/** The public image every fleet VM is made from (a record only: nothing is ever imported or booted). */
export const FLEET_IMAGE = 'base';

export interface VmSpec {
  owner: string;
  name: string;
  cpu: number;
  ramBytes: number;
  diskBytes: number;
}

/** A mix of sizes, so hosts fill unevenly and a booking counted wrong would show as an overcommit. */
const SIZES: Resources[] = [
  { cpu: 1, ramBytes: 256 * MiB, diskBytes: 1 * GiB },
  { cpu: 2, ramBytes: 512 * MiB, diskBytes: 2 * GiB },
  { cpu: 1, ramBytes: 1024 * MiB, diskBytes: 4 * GiB },
  { cpu: 4, ramBytes: 512 * MiB, diskBytes: 1 * GiB },
  { cpu: 1, ramBytes: 256 * MiB, diskBytes: 2 * GiB },
];

export const userName = (u: number): string => `u${String(u).padStart(4, '0')}`;
export const hostName = (h: number): string => `hv${String(h).padStart(5, '0')}`;

/** VM i belongs to user i mod users; names are unique per user. */
export function fleetPlan(vms: number, users: number): VmSpec[] {
  return Array.from({ length: vms }, (_, i) => ({ owner: userName(i % users), name: `vm${i}`, ...SIZES[(i * 7 + (i >> 3)) % SIZES.length]! }));
}

/**
 * Host capacities for a plan: together `headroom` × what the plan books in every
 * dimension, split unevenly (every other host half again as large as its
 * neighbour), CPU as cores at the default 4:1 ratio, RAM and disk 1:1.
 */
export function hostCapacities(plan: readonly VmSpec[], hosts: number, headroom = 1.3): Resources[] {
  const total = sumResources(plan.map((v) => ({ cpu: v.cpu, ramBytes: v.ramBytes, diskBytes: v.diskBytes })));
  return Array.from({ length: hosts }, (_, h) => {
    const share = (headroom * (h % 2 ? 1.2 : 0.8)) / hosts;
    return {
      cpu: Math.max(1, Math.ceil((total.cpu * share) / 4)),
      ramBytes: Math.max(1, Math.ceil((total.ramBytes * share) / GiB)) * GiB,
      diskBytes: Math.max(1, Math.ceil((total.diskBytes * share) / GiB)) * GiB,
    };
  });
}

async function pool<T>(items: readonly T[], concurrency: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i]!, i);
      }
    }),
  );
}

export interface Answer {
  status: number;
  body: Buffer;
  contentType: string;
}

/**
 * HTTP to the API over kept-alive connections, counting the status of every
 * answer (0: no answer at all) and keeping the first few 5xx for the report.
 */
export class Http {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 256 });
  readonly statuses = new Map<number, number>();
  readonly serverErrors: string[] = [];

  constructor(readonly base: URL) {}

  call(method: 'GET' | 'POST' | 'DELETE', path: string, token: string, body?: unknown): Promise<Answer> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve) => {
      const done = (a: Answer) => {
        this.statuses.set(a.status, (this.statuses.get(a.status) ?? 0) + 1);
        if ((a.status >= 500 || a.status === 0) && this.serverErrors.length < 20) this.serverErrors.push(`${method} ${path} → ${a.status} ${a.body.toString().slice(0, 300)}`);
        resolve(a);
      };
      const req = request(
        {
          agent: this.agent,
          host: this.base.hostname.replace(/^\[|\]$/g, ''),
          port: this.base.port,
          method,
          path,
          headers: { authorization: `Bearer ${token}`, ...(payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {}) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => done({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), contentType: String(res.headers['content-type'] ?? '') }));
          res.on('error', (err) => done({ status: 0, body: Buffer.from(String(err)), contentType: '' }));
        },
      );
      req.on('error', (err) => done({ status: 0, body: Buffer.from(String(err)), contentType: '' }));
      req.end(payload);
    });
  }

  /** Answers counted so far whose status is 5xx or none. */
  failures(): number {
    return [...this.statuses].filter(([s]) => s >= 500 || s === 0).reduce((a, [, n]) => a + n, 0);
  }

  close(): void {
    this.agent.destroy();
  }
}

export interface Listed {
  items: Vm[];
  pages: number;
  /** The largest page's body, in bytes. */
  maxPageBytes: number;
  /** Pages whose `items` held more than the limit asked for. */
  oversizedPages: number;
}

/** A `vm list` as the CLI runs it: page after page, following `next` until there is none. */
export async function listVms(http: Http, token: string, opts: { all?: boolean; limit?: number } = {}): Promise<Listed> {
  const out: Listed = { items: [], pages: 0, maxPageBytes: 0, oversizedPages: 0 };
  let cursor: string | undefined;
  for (;;) {
    const q = new URLSearchParams();
    if (opts.all) q.set('all', 'true');
    if (opts.limit) q.set('limit', String(opts.limit));
    if (cursor) q.set('cursor', cursor);
    const qs = q.toString();
    const res = await http.call('GET', `/v1/vms${qs ? `?${qs}` : ''}`, token);
    if (res.status !== 200) throw new Error(`vm list page ${out.pages + 1}: ${res.status} ${res.body.toString().slice(0, 300)}`);
    const page = JSON.parse(res.body.toString()) as { items: Vm[]; next?: string };
    if (!Array.isArray(page.items)) throw new Error(`vm list page ${out.pages + 1} is not { items, next }: ${res.body.toString().slice(0, 200)}`);
    out.pages++;
    out.maxPageBytes = Math.max(out.maxPageBytes, res.body.length);
    if (page.items.length > (opts.limit ?? 100)) out.oversizedPages++;
    out.items.push(...page.items);
    if (!page.next) return out;
    if (page.next === cursor) throw new Error('vm list: the same cursor twice');
    cursor = page.next;
  }
}

/** CPU seconds and memory of a process, from /proc. */
export interface ProcStats {
  cpuSeconds: number;
  rssBytes: number;
  peakRssBytes: number;
}

export function procStats(pid: number): ProcStats {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of stat(5), in clock ticks (100 per second on Linux).
  const cpuSeconds = (Number(f[11]) + Number(f[12])) / 100;
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return { cpuSeconds, rssBytes: kb('VmRSS'), peakRssBytes: kb('VmHWM') };
}

export interface FleetDaemon {
  name: 'api' | 'scheduler';
  child: ChildProcess;
  pid: number;
  ready: Promise<void>;
  /** The last 64 KiB it wrote to stderr. */
  stderr(): string;
  /** Its ERROR and FATAL lines (the first 20) and how many WARN lines it wrote. */
  logged: { errors: string[]; errorCount: number; warnCount: number };
  stats(): ProcStats;
  stop(): Promise<void>;
}

/** Where every VM of the plan stands, from an etcd watch on the VM records. */
export class PlacementWatch {
  /** VM id → when the watch first saw it with a host (performance.now()). */
  readonly placedAt = new Map<string, number>();
  readonly hostOf = new Map<string, string>();
  /** VMs seen on one host and later on another (or placed, then hostless while wanting to run): must stay empty. */
  readonly moved: string[] = [];
  private session: { close(): void } | undefined;
  private revision = '0';
  private closed = false;
  private readonly waiters: (() => void)[] = [];

  private constructor(private readonly store: Store) {}

  static async start(store: Store, fromRevision: string): Promise<PlacementWatch> {
    const w = new PlacementWatch(store);
    w.revision = fromRevision;
    await w.open();
    return w;
  }

  private async open(): Promise<void> {
    const s = await this.store.watch(Keys.vms(), String(BigInt(this.revision) + 1n));
    if (this.closed) return s.close();
    this.session = s;
    s.watcher.on('put', (kv: IKeyValue) => this.seen(kv));
    s.watcher.on('error', () => {
      if (this.closed || this.session !== s) return;
      s.close();
      this.session = undefined;
      void this.open();
    });
  }

  private seen(kv: IKeyValue): void {
    this.revision = kv.mod_revision;
    const vm = JSON.parse(kv.value.toString()) as Pick<Vm, 'id' | 'host' | 'desired'>;
    const had = this.hostOf.get(vm.id);
    if (vm.host) {
      if (had && had !== vm.host) this.moved.push(`${vm.id}: ${had} → ${vm.host}`);
      if (!had) {
        this.hostOf.set(vm.id, vm.host);
        this.placedAt.set(vm.id, performance.now());
        for (const w of this.waiters.splice(0)) w();
      }
    } else if (had && vm.desired === 'running') this.moved.push(`${vm.id}: ${had} → none`);
  }

  /** Resolves once `n` VMs have a host (woken by each placement the watch sees); `onProgress` every 5 s. */
  async waitFor(n: number, timeoutMs: number, onProgress?: (placed: number) => void): Promise<void> {
    if (this.placedAt.size >= n) return;
    const progress = onProgress ? setInterval(() => onProgress(this.placedAt.size), 5000) : undefined;
    let deadline: NodeJS.Timeout | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        deadline = setTimeout(() => reject(new Error(`only ${this.placedAt.size} of ${n} VMs placed after ${timeoutMs} ms`)), timeoutMs);
        const check = () => (this.placedAt.size >= n ? resolve() : this.waiters.push(check));
        check();
      });
    } finally {
      clearTimeout(deadline);
      clearInterval(progress);
    }
  }

  close(): void {
    this.closed = true;
    this.session?.close();
  }
}

export interface FleetReport {
  vms: number;
  hosts: number;
  /** Records that failed their schema (any prefix read). */
  skipped: string[];
  unplaced: string[];
  /** Placed VMs missing from their host's allocation. */
  notBooked: string[];
  /** VM ids booked on a host other than their own (or on two hosts). */
  bookedElsewhere: string[];
  /** Bookings of VMs that do not exist. */
  phantomBookings: string[];
  /** Bookings whose resources differ from the VM's. */
  wrongSize: string[];
  /** Hosts whose bookings exceed what they allow in some dimension. */
  overcommitted: string[];
  /** Placed VMs without their host's mirror (host-vm/<host>/<id>), or mirrors that disagree with the record. */
  mirrorMismatch: string[];
  /** VMs without their entry in the image index (image-vm/…/<id>), and entries no VM calls for or that name it wrongly. */
  imageIndexMismatch: string[];
}

export interface FleetOptions {
  users: number;
  hosts: number;
  /** Extra environment for both daemons (e.g. UCLOUD_LOG_LEVEL). */
  daemonEnv?: NodeJS.ProcessEnv;
  /** Extra node flags for both daemons (e.g. --cpu-prof, which NODE_OPTIONS may not carry). */
  daemonNodeArgs?: string[];
  /** A folder for each daemon's stdout, `<name>.out` (what --trace-gc writes); default: discarded. */
  daemonStdoutDir?: string;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
  /** Its etcd (default: startTestEtcd); the fleet stops it. */
  etcd?: () => Promise<FleetEtcd>;
}

/**
 * One fleet: its etcd, records and daemons. `start` makes the users, the image
 * and the hosts; `startApi`/`startScheduler` run the daemons.
 */
export class Fleet {
  readonly users: { name: string; token: string }[] = [];
  readonly hosts: string[] = [];
  adminToken = '';
  apiUrl = '';
  http!: Http;
  api?: FleetDaemon;
  scheduler?: FleetDaemon;
  private lease?: Lease;
  private env: NodeJS.ProcessEnv = {};

  private constructor(
    readonly etcd: FleetEtcd,
    readonly store: Store,
    private readonly opts: FleetOptions,
  ) {}

  get dir(): string {
    return this.etcd.dir;
  }

  private log(line: string): void {
    this.opts.log?.(line);
  }

  static async start(opts: FleetOptions, plan: readonly VmSpec[]): Promise<Fleet> {
    const etcd = await (opts.etcd ?? startTestEtcd)();
    const f = new Fleet(etcd, new Store(etcd.storeOptions('/ucloud/')), opts);
    try {
      await f.setUp(plan);
    } catch (err) {
      await f.stop();
      throw err;
    }
    return f;
  }

  private async setUp(plan: readonly VmSpec[]): Promise<void> {
    const port = await freePort('::1');
    this.apiUrl = `http://[::1]:${port}`;
    this.http = new Http(new URL(this.apiUrl));
    for (const d of ['log', 'state', 'run', 'files', 'images']) mkdirSync(join(this.dir, d), { recursive: true });
    writeFileSync(join(this.dir, 'ucloud.conf'), '# fleet: everything comes from the environment\n');
    this.env = {
      PATH: process.env.PATH,
      HOME: this.dir,
      UCLOUD_CONFIG: join(this.dir, 'ucloud.conf'),
      ...this.etcd.env(),
      UCLOUD_STATE_DIR: join(this.dir, 'state'),
      UCLOUD_RUN_DIR: join(this.dir, 'run'),
      UCLOUD_LOG_DIR: join(this.dir, 'log'),
      IMAGE_PATH: join(this.dir, 'images'),
      FILES_PATH: join(this.dir, 'files'),
      UCLOUD_API_LISTEN: `[::1]:${port}`,
      UCLOUD_HOST_NAME: 'fleet',
      ...METRICS_OFF_ENV,
      // The fleet measures the API, not its limits: 200 VMs a user and thousands of requests a minute.
      UCLOUD_QUOTA_VMS: '0',
      UCLOUD_QUOTA_VCPUS: '0',
      UCLOUD_QUOTA_RAM: '0',
      UCLOUD_QUOTA_DISK: '0',
      UCLOUD_RATE_LIMIT_PER_MINUTE: '0',
      ...this.opts.daemonEnv,
    };
    const t0 = performance.now();
    const users = new UserManager(this.store);
    this.adminToken = (await users.create('admin', 'admin')).token;
    const names = Array.from({ length: this.opts.users }, (_, u) => userName(u));
    const tokens = new Array<string>(names.length);
    await pool(names, 16, async (name, i) => {
      tokens[i] = (await users.create(name, 'user')).token;
    });
    names.forEach((name, i) => this.users.push({ name, token: tokens[i]! }));
    const now = nowIso();
    // Ready as if imported: the API checks only its record (status, size); no VM here ever boots.
    await this.store.put(Kinds.image, Keys.image('admin', FLEET_IMAGE), {
      name: FLEET_IMAGE,
      store: 'local',
      owner: 'admin',
      public: true,
      status: 'ready',
      volume: { ref: 'fleet-base.qcow2', format: 'qcow2', virtualSize: 512 * MiB },
      createdAt: now,
      updatedAt: now,
    });
    // A cluster's first scheduler writes the index markers on an empty vm/ (src/scheduler/main.ts); a fleet
    // whose VMs are all written before its scheduler first runs would otherwise pay the one-time backfill
    // for clusters from before the indexes (two reads of all of vm/, one beside placement) in every run.
    await new VmManager(this.store, { actor: API_ACTOR }).backfillHostIndex();
    await backfillImageIndex(this.store);
    const capacities = hostCapacities(plan, this.opts.hosts);
    const hosts = new HostManager(this.store);
    for (let h = 0; h < this.opts.hosts; h++) this.hosts.push(hostName(h));
    await pool(this.hosts, 16, async (name, h) => {
      await hosts.add(name, `fd00::${(h + 1).toString(16)}`, capacities[h]!);
    });
    // Alive as an agent would announce it, with no agent: one lease for all, kept alive by this process.
    this.lease = this.store.lease(30_000);
    for (let h = 0; h < this.hosts.length; h += 60) {
      const batch = this.hosts.slice(h, h + 60);
      const t = this.store.txn();
      for (const name of batch) t.absent(Keys.hostAlive(name)).put(Kinds.hostAlive, Keys.hostAlive(name), { name, pid: 1, accel: 'tcg', since: now }, this.lease);
      if (!(await t.commit())) throw new Error('host presence: a key existed already');
    }
    this.log(`fleet: ${this.opts.users} users, ${this.opts.hosts} hosts registered and alive in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }

  /** The etcd revision now: a watch from here sees every later write. */
  async revision(): Promise<string> {
    return (await this.store.list(Kinds.meta, Keys.meta('fleet-revision'))).revision;
  }

  private spawnDaemon(name: 'api' | 'scheduler'): FleetDaemon {
    const out = this.opts.daemonStdoutDir === undefined ? 'ignore' : openSync(join(this.opts.daemonStdoutDir, `${name}.out`), 'w');
    // Started as `ucloud up` starts it, with the caller's node flags too.
    const child = spawn(process.execPath, daemonArgv(name, [], this.opts.daemonNodeArgs), { env: this.env, stdio: ['ignore', out, 'pipe'] });
    if (typeof out === 'number') closeSync(out);
    let err = '';
    let partial = '';
    const logged = { errors: [] as string[], errorCount: 0, warnCount: 0 };
    const ready = new Promise<void>((resolve, reject) => {
      child.stderr!.on('data', (b: Buffer) => {
        const text = b.toString();
        err = (err + text).slice(-65_536);
        const lines = (partial + text).split('\n');
        partial = lines.pop()!;
        for (const line of lines) {
          if (/^\S+ (ERROR|FATAL) /.test(line)) {
            if (logged.errors.length < 20) logged.errors.push(line);
            logged.errorCount++;
          } else if (/^\S+ WARN /.test(line)) logged.warnCount++;
        }
        if (err.includes(`${name} ready`)) resolve();
      });
      child.once('exit', (code) => reject(new Error(`${name} exited (${code}):\n${err}`)));
    });
    ready.catch(() => undefined);
    const d: FleetDaemon = {
      name,
      child,
      pid: child.pid!,
      ready,
      stderr: () => err,
      logged,
      stats: () => procStats(child.pid!),
      stop: async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const gone = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await gone;
        clearTimeout(t);
      },
    };
    return d;
  }

  async startApi(): Promise<FleetDaemon> {
    this.api = this.spawnDaemon('api');
    await this.api.ready;
    return this.api;
  }

  async startScheduler(): Promise<FleetDaemon> {
    this.scheduler = this.spawnDaemon('scheduler');
    await this.scheduler.ready;
    return this.scheduler;
  }

  tokenOf(owner: string): string {
    return this.users.find((u) => u.name === owner)!.token;
  }

  /**
   * `vm create` for each spec through the API, `concurrency` at a time.
   * `showEvery` n: every n-th create is followed at once by a `vm show` of it
   * through the same client (read-your-writes); a 404 there is counted.
   * `onCreated` hears the count after each created VM.
   * Returns the ids and when each request was sent (performance.now()).
   */
  async createViaApi(specs: readonly VmSpec[], opts: { concurrency: number; showEvery?: number; onCreated?: (count: number) => void }): Promise<{ sentAt: Map<string, number>; refused: string[]; rywMisses: string[]; seconds: number }> {
    const tokens = new Map(this.users.map((u) => [u.name, u.token]));
    const sentAt = new Map<string, number>();
    const refused: string[] = [];
    const rywMisses: string[] = [];
    const t0 = performance.now();
    let lastReport = t0;
    await pool(specs, opts.concurrency, async (s, i) => {
      const token = tokens.get(s.owner)!;
      const t = performance.now();
      const res = await this.http.call('POST', '/v1/vms', token, { name: s.name, image: FLEET_IMAGE, cpu: s.cpu, ram: `${s.ramBytes / MiB}MiB`, disk: `${s.diskBytes / GiB}GiB`, networks: [] });
      if (res.status !== 201) {
        refused.push(`${s.owner}/${s.name}: ${res.status} ${res.body.toString().slice(0, 200)}`);
        return;
      }
      const { id } = JSON.parse(res.body.toString()) as { id: string };
      sentAt.set(id, t);
      opts.onCreated?.(sentAt.size);
      if (opts.showEvery && i % opts.showEvery === 0) {
        const shown = await this.http.call('GET', `/v1/vms/${s.name}`, token);
        if (shown.status !== 200) rywMisses.push(`${s.owner}/${s.name}: ${shown.status}`);
      }
      if (performance.now() - lastReport > 5000) {
        lastReport = performance.now();
        this.log(`  created ${sentAt.size} of ${specs.length} (${Math.round(sentAt.size / ((lastReport - t0) / 1000))}/s)`);
      }
    });
    return { sentAt, refused, rywMisses, seconds: (performance.now() - t0) / 1000 };
  }

  /**
   * Writes the VM records straight to etcd, as VmManager.create would (record,
   * name, through stageVmWrite), `perTxn` VMs per transaction (2 compares and 2
   * ops each, within etcd's 128), to make a large fleet quickly, then each
   * owner's usage record as the creates would have left it (without one, the
   * API's first create of each owner would count their records first). No API
   * involved.
   */
  async createDirect(specs: readonly VmSpec[], opts: { perTxn?: number; concurrency?: number } = {}): Promise<{ writtenAt: Map<string, number>; seconds: number }> {
    const perTxn = opts.perTxn ?? 32;
    const batches: VmSpec[][] = [];
    for (let i = 0; i < specs.length; i += perTxn) batches.push(specs.slice(i, i + perTxn));
    const writtenAt = new Map<string, number>();
    const t0 = performance.now();
    let lastReport = t0;
    await pool(batches, opts.concurrency ?? 4, async (batch) => {
      const t = this.store.txn();
      const ids: string[] = [];
      for (const s of batch) {
        const vm: Vm = {
          ...vmRecord(s.owner, s.name),
          image: { store: 'local', owner: 'admin', name: FLEET_IMAGE },
          cpu: s.cpu,
          ramBytes: s.ramBytes,
          diskBytes: s.diskBytes,
          reason: 'waiting for the scheduler',
        };
        const nameKey = Keys.vmName(s.owner, s.name);
        stageVmWrite(t, undefined, vm, API_ACTOR).absent(nameKey).put(Kinds.vmName, nameKey, { id: vm.id });
        ids.push(vm.id);
      }
      if (!(await t.commit())) throw new Error(`direct create: a batch starting at ${batch[0]!.owner}/${batch[0]!.name} conflicted`);
      const at = performance.now();
      for (const id of ids) writtenAt.set(id, at);
      if (at - lastReport > 5000) {
        lastReport = at;
        this.log(`  written ${writtenAt.size} of ${specs.length}`);
      }
    });
    const usage = new Map<string, ReturnType<typeof usageOfVm>>();
    for (const s of specs) {
      const add = usageOfVm(s);
      const u = usage.get(s.owner);
      if (!u) usage.set(s.owner, add);
      else for (const k of Object.keys(add) as (keyof typeof add)[]) u[k] += add[k];
    }
    // As the API's creates change it: added to in a transaction that compares it (stageUsage).
    await pool([...usage], opts.concurrency ?? 4, async ([owner, add]) => {
      const key = Keys.usage(owner);
      const cur = await this.store.get(Kinds.usage, key);
      const t = this.store.txn();
      if (cur) stageUsage(t, cur, add);
      else t.absent(key).put(Kinds.usage, key, add);
      if (!(await t.commit())) throw new Error(`direct create: the usage record of ${owner} changed meanwhile`);
    });
    return { writtenAt, seconds: (performance.now() - t0) / 1000 };
  }

  /**
   * Reads every VM, host, booking and per-host mirror from etcd (paged reads)
   * and reports each way the fleet's records disagree with one another.
   */
  async check(opts: { mirrors?: boolean } = {}): Promise<FleetReport> {
    const [vms, hosts, allocs] = await Promise.all([this.store.list(Kinds.vm, Keys.vms()), this.store.list(Kinds.host, Keys.hosts()), this.store.list(Kinds.hostAlloc, Keys.hostAllocs())]);
    const r: FleetReport = {
      vms: vms.items.length,
      hosts: hosts.items.length,
      skipped: [...vms.skipped, ...hosts.skipped, ...allocs.skipped],
      unplaced: [],
      notBooked: [],
      bookedElsewhere: [],
      phantomBookings: [],
      wrongSize: [],
      overcommitted: [],
      mirrorMismatch: [],
      imageIndexMismatch: [],
    };
    const vmById = new Map(vms.items.map((v) => [v.value.id, v.value]));
    const hostByName = new Map(hosts.items.map((h) => [h.value.name, h.value]));
    const bookedOn = new Map<string, string[]>();
    for (const a of allocs.items) {
      const host = a.key.slice(a.key.lastIndexOf('/') + 1);
      for (const [id, res] of Object.entries(a.value.vms)) {
        bookedOn.set(id, [...(bookedOn.get(id) ?? []), host]);
        const vm = vmById.get(id);
        if (!vm) r.phantomBookings.push(`${id} on ${host}`);
        else if (DIMENSIONS.some((d) => resourcesOf(vm)[d] !== res[d])) r.wrongSize.push(`${id} on ${host}`);
      }
      const h = hostByName.get(host);
      const used = sumResources(Object.values(a.value.vms));
      const allowed = h ? allowedOf(h) : undefined;
      if (!allowed || DIMENSIONS.some((d) => used[d] > allowed[d])) r.overcommitted.push(`${host}: used ${JSON.stringify(used)} allowed ${JSON.stringify(allowed)}`);
    }
    for (const vm of vmById.values()) {
      const on = bookedOn.get(vm.id) ?? [];
      if (!vm.host) {
        r.unplaced.push(`${vm.owner}/${vm.name} (${vm.status}: ${vm.reason ?? ''})`);
        if (on.length) r.bookedElsewhere.push(`${vm.id}: no host, booked on ${on.join(',')}`);
        continue;
      }
      if (!on.includes(vm.host)) r.notBooked.push(`${vm.id} on ${vm.host}`);
      if (on.some((h) => h !== vm.host)) r.bookedElsewhere.push(`${vm.id}: on ${vm.host}, booked on ${on.join(',')}`);
    }
    if (opts.mirrors !== false) {
      const mirrored = new Map<string, string[]>();
      await pool([...hostByName.keys()], 16, async (host) => {
        const { items, skipped } = await this.store.list(Kinds.vm, Keys.hostVms(host));
        r.skipped.push(...skipped);
        for (const m of items) {
          const id = m.key.slice(m.key.lastIndexOf('/') + 1);
          mirrored.set(id, [...(mirrored.get(id) ?? []), host]);
          const vm = vmById.get(id);
          if (!vm || vm.host !== host || JSON.stringify(vm) !== JSON.stringify(m.value)) r.mirrorMismatch.push(`host-vm ${host}/${id} disagrees with vm/${id}`);
        }
      });
      for (const vm of vmById.values()) if (vm.host && !(mirrored.get(vm.id) ?? []).includes(vm.host)) r.mirrorMismatch.push(`${vm.id}: no mirror under ${vm.host}`);
    }
    const index = await this.store.list(Kinds.imageVm, Keys.imageVmIndex());
    r.skipped.push(...index.skipped);
    const entryAt = new Map(index.items.map((e) => [e.key, e.value]));
    for (const vm of vmById.values()) {
      const e = entryAt.get(Keys.imageVm(vm.image, vm.id));
      if (!e || e.owner !== vm.owner || e.name !== vm.name) r.imageIndexMismatch.push(`${vm.id}: ${e ? 'a wrong' : 'no'} entry in the image index`);
      entryAt.delete(Keys.imageVm(vm.image, vm.id));
    }
    for (const key of entryAt.keys()) r.imageIndexMismatch.push(`${key}: no VM calls for it`);
    return r;
  }

  async stop(): Promise<void> {
    await Promise.all([this.api?.stop(), this.scheduler?.stop()]);
    this.http?.close();
    await this.lease?.revoke().catch(() => undefined);
    this.store.close();
    await this.etcd.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The value at quantile q (0..1) of a list of numbers. */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}
