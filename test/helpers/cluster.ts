import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Lease } from 'etcd3';
import { Client } from '../../src/client/client.js';
import { ConsoleManager } from '../../src/managers/consoles.js';
import { FileManager } from '../../src/managers/files.js';
import { HostManager } from '../../src/managers/hosts.js';
import { ImageManager } from '../../src/managers/images.js';
import { KeyManager } from '../../src/managers/keys.js';
import { NetworkManager } from '../../src/managers/networks.js';
import { UserManager } from '../../src/managers/users.js';
import { VmManager } from '../../src/managers/vms.js';
import { packageRoot } from '../../src/common/paths.js';
import * as qemuImg from '../../src/storage/qemu-img.js';
import { Keys, Kinds } from '../../src/store/keys.js';
import { Store, type StoreOptions } from '../../src/store/store.js';
import { startTestEtcd, startTestEtcdCluster, type TestEtcdCluster } from './etcd.js';
import { freePort, METRICS_OFF_ENV } from './ports.js';
import { API_ACTOR, type VmActor } from '../../src/model/vm-lifecycle.js';

/** The repository root, from test/ under vitest or from dist/test/ when a bench imports this compiled. */
export const ROOT = packageRoot();
export const UCLOUD = join(ROOT, 'bin', 'ucloud');
export const MiB = 2 ** 20;
export const GiB = 2 ** 30;

export interface Daemon {
  name: string;
  child: ChildProcess;
  stderr: () => string;
  /** Resolves when the daemon printed its "ready" line. */
  ready: Promise<void>;
  kill9(): Promise<void>;
  stop(): Promise<void>;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((r) => child.once('exit', () => r()));
}

/**
 * A whole ucloud on real parts for one test file: its own etcd, directories and
 * ports; daemons started as real processes of the built CLI, so they can be
 * killed with -9 like in production.
 */
export class TestCluster {
  readonly dir = mkdtempSync(join(tmpdir(), 'ucloud-test-'));
  env: NodeJS.ProcessEnv = {};
  stopEtcd!: () => Promise<void>;
  /** How the test's own Store reaches etcd (with credentials); for `ucloud up`'s etcd, known once `up` wrote its password file. */
  /** The test's own etcd's pid (not with `localEtcd`, nor `etcdMembers`): a test may freeze it. */
  etcdPid: number | undefined;
  /** With `etcdMembers`: the cluster, whose members a test may kill and restart. */
  etcdCluster: TestEtcdCluster | undefined;
  private etcdOptions!: () => StoreOptions;
  private ownStore?: Store;
  daemons: Daemon[] = [];
  private readonly hostLeases: Lease[] = [];
  adminToken = '';
  apiUrl = '';

  get runDir(): string {
    return join(this.dir, 'run');
  }
  /**
   * What is stored outside the audit log, as one value: every key and the
   * revision it was last written at. A refused request may add an event and
   * must change nothing else; a deletion changes this too.
   */
  async stateOutsideEvents(): Promise<string> {
    const { ns, close } = this.store.connection();
    try {
      const res = await ns.getAll().exec();
      return res.kvs
        .filter((kv) => !kv.key.toString().startsWith(Keys.events()))
        .map((kv) => `${kv.key.toString()}@${kv.mod_revision}`)
        .join('\n');
    } finally {
      close();
    }
  }

  get imagePath(): string {
    return join(this.dir, 'images');
  }

  /** The test's own connection to the cluster's etcd, with its credentials (made on first use). */
  get store(): Store {
    this.ownStore ??= this.newStore();
    return this.ownStore;
  }

  /** Another connection to the cluster's etcd (the caller closes it). */
  newStore(prefix = '/ucloud/'): Store {
    return new Store({ ...this.etcdOptions(), prefix });
  }

  /** With `localEtcd`, no etcd is started: `ucloud up` starts its own on a free port. */
  /** `etcdMembers` > 1: a real etcd cluster of that many members on `etcdHost`, every daemon given all of them. */
  static async start(opts: { localEtcd?: boolean; etcdHost?: string; etcdMembers?: number } = {}): Promise<TestCluster> {
    const c = new TestCluster();
    let etcdEnv: NodeJS.ProcessEnv;
    if (opts.localEtcd) {
      // `ucloud up` starts etcd and generates its password into the state dir.
      const url = `http://127.0.0.1:${await freePort()}`;
      etcdEnv = { UCLOUD_LOCAL_ETCD_URL: url };
      c.stopEtcd = async () => undefined;
      c.etcdOptions = () => ({ endpoints: [url], prefix: '/ucloud/', auth: { username: 'root', password: readFileSync(join(c.dir, 'state', 'etcd-password'), 'utf8').trim() } });
    } else if ((opts.etcdMembers ?? 1) > 1) {
      const etcd = await startTestEtcdCluster(opts.etcdMembers, opts.etcdHost);
      etcdEnv = etcd.env();
      c.stopEtcd = etcd.stop;
      c.etcdCluster = etcd;
      c.etcdOptions = () => etcd.storeOptions('/ucloud/');
    } else {
      const etcd = await startTestEtcd(opts.etcdHost);
      etcdEnv = etcd.env();
      c.stopEtcd = etcd.stop;
      c.etcdPid = etcd.process.pid;
      c.etcdOptions = () => etcd.storeOptions('/ucloud/');
    }
    const apiPort = await freePort('::1');
    // The metadata daemon listens on port 80 of each VM bridge's own addresses only,
    // so clusters side by side never collide there.
    c.apiUrl = `http://[::1]:${apiPort}`;
    writeFileSync(join(c.dir, 'ucloud.conf'), '# test cluster: everything comes from the environment\n');
    c.env = {
      PATH: process.env.PATH,
      HOME: c.dir,
      UCLOUD_CONFIG: join(c.dir, 'ucloud.conf'),
      UCLOUD_CLI_CONFIG: join(c.dir, 'cli.json'),
      ...etcdEnv,
      UCLOUD_STATE_DIR: join(c.dir, 'state'),
      UCLOUD_RUN_DIR: c.runDir,
      UCLOUD_LOG_DIR: join(c.dir, 'log'),
      IMAGE_PATH: c.imagePath,
      FILES_PATH: join(c.dir, 'files'),
      UCLOUD_FILESCANNER_INTERVAL: '1s',
      // Tests poll far faster than people (until() every 100 ms, many at once); test/integration/api-quotas.test.ts sets its own.
      UCLOUD_RATE_LIMIT_PER_MINUTE: '0',
      UCLOUD_API_LISTEN: `[::1]:${apiPort}`,
      UCLOUD_HOST_NAME: 'hv1',
      UCLOUD_ACCEL: 'tcg',
      UCLOUD_STOP_TIMEOUT: '20s',
      // host_lease_ttl and fence_timeout as in production (5 s, 4 s): a restarted agent must resume its lease within them.
      // Any free port: the agent announces the one it got, so test files never collide.
      UCLOUD_CONSOLE_LISTEN: '[::1]:0',
      ...METRICS_OFF_ENV,
    };
    return c;
  }

  /** The managers on the test's Store, or on `store` (another view of the same etcd). */
  managers(store: Store = this.store) {
    return { store, users: new UserManager(store), vms: new VmManager(store, { actor: API_ACTOR }), vmsAs: (actor: VmActor) => new VmManager(store, { actor }), hosts: new HostManager(store), images: new ImageManager(store), files: new FileManager(store), keys: new KeyManager(store), networks: new NetworkManager(store, { vniRange: { first: 10000, last: 16000000 }, ipv6Pool: 'fd75:636c:6f75::/48' }), consoles: new ConsoleManager(store) };
  }

  client(token = this.adminToken): Client {
    return new Client({ url: this.apiUrl, token });
  }

  /** A 64 MiB empty qcow2: enough for tests that validate or place VMs but boot none. */
  tinyImage(): string {
    const img = join(this.dir, 'tiny.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', img, '64M']);
    return img;
  }

  /** The records `ucloud up` would make: admin (token saved for the CLI), host hv1, store `local`, the test image. */
  async bootstrap(opts: { guestImage?: string; hosts?: { name: string; cpu: number; ram: number; disk: number }[] } = {}): Promise<void> {
    const m = this.managers();
    this.adminToken = (await m.users.create('admin', 'admin')).token;
    writeFileSync(this.env.UCLOUD_CLI_CONFIG!, JSON.stringify({ url: this.apiUrl, token: this.adminToken }), { mode: 0o600 });
    for (const h of opts.hosts ?? [{ name: 'hv1', cpu: 2, ram: 2 * GiB, disk: 20 * GiB }]) {
      await m.hosts.add(h.name, '::1', { cpu: h.cpu, ramBytes: h.ram, diskBytes: h.disk });
    }
    await m.images.ensureStore('local', 'fs', { path: this.imagePath });
    if (opts.guestImage) {
      const info = await qemuImg.info(opts.guestImage);
      const fh = await open(opts.guestImage, 'r');
      try {
        await m.images.importLocal('local', 'ucloud-test', 'admin', true, { fd: fh.fd, format: 'qcow2', virtualSize: info.virtualSize });
      } finally {
        await fh.close();
      }
    }
  }

  get filesPath(): string {
    return join(this.dir, 'files');
  }

  /**
   * Makes host `name` alive as its agent would (presence on a lease of `ttlMs`), with no agent running:
   * only the scheduler then decides. Revoking the returned lease is the host's death.
   */
  async announceHost(name: string, ttlMs = 10_000): Promise<Lease> {
    const lease = this.store.lease(ttlMs);
    this.hostLeases.push(lease);
    await this.store.put(Kinds.hostAlive, Keys.hostAlive(name), { name, pid: 1, accel: 'tcg', since: new Date().toISOString() }, lease);
    return lease;
  }

  /** Starts a daemon as a real process; `netns` runs it inside that network namespace (a host of its own). */
  spawn(name: 'api' | 'scheduler' | 'host' | 'up' | 'filescanner' | 'imagescanner' | 'metadata' | 'fence', env: NodeJS.ProcessEnv = {}, netns?: string): Daemon {
    const argv = [process.execPath, UCLOUD, ...(name === 'fence' ? ['host', 'fence'] : [name])];
    const [cmd, ...args] = netns ? ['ip', 'netns', 'exec', netns, ...argv] : argv;
    const child = spawn(cmd!, args, { env: { ...this.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    const readyText = { api: 'api ready', scheduler: 'scheduler ready', host: 'host agent ready', up: 'ucloud is up', filescanner: 'filescanner ready', imagescanner: 'imagescanner ready', metadata: 'metadata ready', fence: 'fence watchdog ready' }[name];
    const ready = new Promise<void>((resolve, reject) => {
      child.stderr!.on('data', (b: Buffer) => {
        err += b.toString();
        if (err.includes(readyText)) resolve();
      });
      child.once('exit', (code) => reject(new Error(`${name} exited (${code}) before ready:\n${err}`)));
    });
    ready.catch(() => undefined);
    child.stdout!.resume();
    const d: Daemon = {
      name,
      child,
      stderr: () => err,
      ready,
      kill9: async () => {
        child.kill('SIGKILL');
        await exited(child);
      },
      stop: async () => {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
        await exited(child);
        clearTimeout(t);
      },
    };
    this.daemons.push(d);
    return d;
  }

  /** Runs the CLI as a user would; never throws on a non-zero exit. */
  cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [UCLOUD, ...args], { env: { ...this.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
      child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
      child.on('exit', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    });
  }

  /** Pids of QEMU processes whose command line contains `text` (a VM id, or this cluster's dir). */
  qemuPids(text: string): number[] {
    return this.pidsMentioning(text, 'qemu-system');
  }

  /** Pids of processes (other than this one) whose command line contains `text`, optionally only those of `program`. */
  pidsMentioning(text: string, program?: string): number[] {
    const pids: number[] = [];
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
        if (Number(entry) !== process.pid && (!program || cmd.startsWith(program)) && cmd.includes(text) && !cmd.includes('vitest')) pids.push(Number(entry));
      } catch {
        // gone meanwhile
      }
    }
    return pids;
  }

  async stop(): Promise<void> {
    await Promise.all(this.hostLeases.map((l) => l.revoke().catch(() => undefined)));
    await Promise.all(this.daemons.map((d) => d.stop()));
    // QEMU and radvd outlive the agent by design: the test removes what it started (its paths are in our dir).
    for (const pid of this.pidsMentioning(this.dir)) process.kill(pid, 'SIGKILL');
    this.ownStore?.close();
    await this.stopEtcd();
    // UCLOUD_TEST_KEEP=1: left for its logs (README, Tests).
    if (!process.env.UCLOUD_TEST_KEEP) rmSync(this.dir, { recursive: true, force: true });
  }
}

export async function until<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 60_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
}
