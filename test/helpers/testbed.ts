// A many-host testbed on one machine: each hypervisor is a network namespace
// joined to the others by an underlay bridge with IPv6 (the bridge itself holds
// <net6>::1, where etcd listens); api and scheduler run in the root namespace,
// each host runs its own `ucloud host` and metadata server inside its namespace
// with its own run and log dirs. Storage: the bootstrap's fs store `local`
// (a directory every namespace sees) is declared `shared: true`, as an operator
// would for NFS; optionally a single-node test Ceph as store `ceph`: the
// testbed's own, bound to the underlay bridge's address, so QEMU inside the
// host namespaces reaches it (the shared test Ceph listens on 127.0.0.1 of the
// root namespace only).
//
// Names (bridge, veths, namespaces, IPv6 prefix) carry a random suffix so test
// files can run side by side; stop() removes everything even after a failed
// start, and is safe to call twice.
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RbdClient } from '../../src/storage/rbd.js';
import { Keys, Kinds } from '../../src/store/keys.js';
import { startCeph, uniquePool, type TestCeph } from './ceph.js';
import { GiB, TestCluster, type Daemon } from './cluster.js';
import { ssh as sshRun, sshSession, type SshOptions, type SshResult } from './ssh.js';

const sh = (cmd: string, args: string[]): string => execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
const quietly = (cmd: string, args: string[]): void => {
  try {
    sh(cmd, args);
  } catch {
    // already gone
  }
};

export interface TestbedOptions {
  /** Number of hypervisors (default 2); named h1…hN. */
  hosts?: number;
  /** etcd members on the underlay bridge's address (default 1); with 3, `tb.c.etcdCluster` kills and restarts them. */
  etcdMembers?: number;
  /** Capacity each host is registered with (default 2 vCPU, 1 GiB RAM, 10 GiB disk). */
  capacity?: { cpu: number; ramBytes: number; diskBytes: number };
  /** Guest image imported as public `ucloud-test` (usually `inject('guestImage')`). */
  guestImage?: string;
  /** Extra environment for every host's agent and metadata server (e.g. migration settings). */
  hostEnv?: (host: TestbedHost) => NodeJS.ProcessEnv;
  /**
   * Also start a single-node test Ceph of this testbed's own on the underlay bridge's
   * address (the hosts' QEMU opens rbd disks over the underlay; the root namespace
   * reaches it as a local address) and create store `ceph` on a pool of it (~10 s,
   * ~400 MiB). `'optional'`: if Ceph does not come up within `cephTimeoutMs`,
   * carry on without it (`tb.ceph` stays undefined; tests skip what needs it).
   */
  ceph?: boolean | 'optional';
  cephTimeoutMs?: number;
  /** Declare the fs store shared (default true). */
  sharedStore?: boolean;
  /**
   * Routed IPv6 (issue 12): an `upstream` router namespace on the underlay
   * (`upstreamAddress`) running BIRD 2 with a BGP session to every host (AS
   * UPSTREAM_AS; hosts are BGP_HOST_AS), which puts what it learns into its
   * kernel table; an `internet` namespace behind it (`internetAddress`); each
   * host's default route points at the upstream; every daemon runs with
   * route_mode bgp and bgp_peers = the upstream.
   */
  upstream?: boolean;
  /** Each host also runs its fence watchdog (HA VMs are armed only where one runs). */
  fence?: boolean;
}

export const UPSTREAM_AS = 65000;
export const BGP_HOST_AS = 65001;

export interface TestbedHost {
  /** Host name in ucloud (h1, h2, …). */
  name: string;
  /** Its network namespace. */
  netns: string;
  /** Its underlay address. */
  address: string;
  runDir: string;
  logDir: string;
  agent?: Daemon;
  metadata?: Daemon;
  /** Its fence watchdog (`ucloud host fence`), with `fence: true`. */
  fence?: Daemon;
}

export class Testbed {
  readonly id = randomBytes(3).toString('hex');
  readonly underlay = `utb${this.id}`;
  /** The underlay's /64 (without the length); the bridge is ::1, host i (0-based) is ::1i. */
  readonly net6 = `fd97:${this.id.slice(0, 4)}:${this.id.slice(4)}:1`;
  c!: TestCluster;
  hosts: TestbedHost[] = [];
  ceph?: TestCeph;
  cephPool?: string;
  /** Where this testbed's own Ceph keeps its config, keyrings and daemons' data. */
  readonly cephDir = join(tmpdir(), `ucloud-tb-ceph-${this.id}`);
  /** With `upstream`: the router's namespace and underlay address, the internet namespace and its one address. */
  readonly upstreamNetns = `utb${this.id}-up`;
  readonly upstreamAddress = `${this.net6}::fe`;
  readonly internetNetns = `utb${this.id}-in`;
  readonly internetAddress = `fd97:${this.id.slice(0, 4)}:${this.id.slice(4)}:2::2`;
  private opts: TestbedOptions = {};
  private stopped = false;

  static async start(opts: TestbedOptions = {}): Promise<Testbed> {
    const tb = new Testbed();
    tb.opts = opts;
    try {
      await tb.setUp();
    } catch (err) {
      await tb.stop();
      throw err;
    }
    return tb;
  }

  private async setUp(): Promise<void> {
    const n = this.opts.hosts ?? 2;
    sh('ip', ['link', 'add', this.underlay, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0', 'mcast_snooping', '0']);
    sh('ip', ['addr', 'add', `${this.net6}::1/64`, 'dev', this.underlay, 'nodad']);
    sh('ip', ['link', 'set', this.underlay, 'up']);
    for (let i = 0; i < n; i++) {
      const h: TestbedHost = { name: `h${i + 1}`, netns: `utb${this.id}-h${i + 1}`, address: `${this.net6}::1${i}`, runDir: '', logDir: '' };
      this.hosts.push(h);
      sh('ip', ['netns', 'add', h.netns]);
      sh('ip', ['link', 'add', `${this.underlay}h${i}`, 'type', 'veth', 'peer', 'name', 'u0', 'netns', h.netns]);
      sh('ip', ['link', 'set', `${this.underlay}h${i}`, 'master', this.underlay, 'up']);
      sh('ip', ['-n', h.netns, 'addr', 'add', `${h.address}/64`, 'dev', 'u0', 'nodad']);
      sh('ip', ['-n', h.netns, 'link', 'set', 'u0', 'up']);
      sh('ip', ['-n', h.netns, 'link', 'set', 'lo', 'up']);
    }
    this.c = await TestCluster.start({ etcdHost: `${this.net6}::1`, etcdMembers: this.opts.etcdMembers });
    if (this.opts.upstream) this.startUpstream();
    for (const h of this.hosts) {
      h.runDir = join(this.c.dir, `run-${h.name}`);
      h.logDir = join(this.c.dir, `log-${h.name}`);
    }
    await this.c.bootstrap({ guestImage: this.opts.guestImage, hosts: [] });
    const m = this.c.managers();
    const cap = this.opts.capacity ?? { cpu: 2, ramBytes: 1 * GiB, diskBytes: 10 * GiB };
    for (const h of this.hosts) await m.hosts.add(h.name, h.address, cap);
    if (this.opts.sharedStore ?? true) {
      // Every namespace sees the same directory: declare it shared, as an operator would for NFS.
      const store = (await this.c.store.get(Kinds.imageStore, Keys.imageStore('local')))!;
      await this.c.store.put(Kinds.imageStore, store.key, { ...store.value, settings: { ...store.value.settings, shared: true } });
    }
    if (this.opts.ceph) await this.startCephStore();
    await Promise.all([this.c.spawn('api').ready, this.c.spawn('scheduler').ready]);
    // The watchdog first: an agent arms HA VMs only once it sees the watchdog beat.
    if (this.opts.fence) await Promise.all(this.hosts.map((h) => this.startFence(h)));
    await Promise.all(this.hosts.flatMap((h) => [this.startAgent(h), this.startMetadata(h)]));
  }

  /** The upstream router and the internet behind it (see TestbedOptions.upstream). */
  private startUpstream(): void {
    const up = this.upstreamNetns;
    const inet = this.internetNetns;
    const inet6 = this.internetAddress.replace(/::2$/, '');
    sh('ip', ['netns', 'add', up]);
    sh('ip', ['netns', 'add', inet]);
    sh('ip', ['link', 'add', `${this.underlay}up`, 'type', 'veth', 'peer', 'name', 'u0', 'netns', up]);
    sh('ip', ['link', 'set', `${this.underlay}up`, 'master', this.underlay, 'up']);
    sh('ip', ['-n', up, 'link', 'add', 'i0', 'type', 'veth', 'peer', 'name', 'i0', 'netns', inet]);
    sh('ip', ['netns', 'exec', up, 'sysctl', '-qw', 'net.ipv6.conf.all.forwarding=1']);
    sh('ip', ['-n', up, 'addr', 'add', `${this.upstreamAddress}/64`, 'dev', 'u0', 'nodad']);
    sh('ip', ['-n', up, 'addr', 'add', `${inet6}::1/64`, 'dev', 'i0', 'nodad']);
    sh('ip', ['-n', inet, 'addr', 'add', `${this.internetAddress}/64`, 'dev', 'i0', 'nodad']);
    for (const [ns, dev] of [[up, 'u0'], [up, 'i0'], [up, 'lo'], [inet, 'i0'], [inet, 'lo']] as const) sh('ip', ['-n', ns, 'link', 'set', dev, 'up']);
    sh('ip', ['-n', inet, 'route', 'add', 'default', 'via', `${inet6}::1`]);
    for (const h of this.hosts) sh('ip', ['-n', h.netns, 'route', 'add', 'default', 'via', this.upstreamAddress]);
    const dir = join(this.c.dir, 'upstream');
    mkdirSync(dir, { recursive: true });
    const conf = [
      'router id 192.0.2.254;',
      `log "${join(dir, 'bird.log')}" all;`,
      'protocol device {}',
      'protocol kernel { ipv6 { import none; export all; }; }',
      ...this.hosts.map((h) => `protocol bgp ${h.name} { local as ${UPSTREAM_AS}; neighbor ${h.address} as ${BGP_HOST_AS}; ipv6 { import all; export none; }; }`),
      '',
    ].join('\n');
    writeFileSync(join(dir, 'bird.conf'), conf);
    sh('ip', ['netns', 'exec', up, 'bird', '-c', join(dir, 'bird.conf'), '-s', join(dir, 'bird.ctl'), '-P', join(dir, 'bird.pid')]);
    Object.assign(this.c.env, { UCLOUD_ROUTE_MODE: 'bgp', UCLOUD_BGP_PEERS: `${this.upstreamAddress} as ${UPSTREAM_AS}`, UCLOUD_BGP_LOCAL_AS: String(BGP_HOST_AS) });
  }

  /** The upstream's kernel route to `address` (a /128 learnt by BGP), or undefined. */
  async upstreamRoute(address: string): Promise<string | undefined> {
    const out = await new Promise<string>((resolve) => execFile('ip', ['-n', this.upstreamNetns, '-6', 'route', 'show', `${address}/128`], (_e, stdout) => resolve(String(stdout))));
    return out.trim() || undefined;
  }

  /** Runs argv inside the internet namespace; never throws on a non-zero exit. */
  internetExec(argv: string[], timeoutMs = 30_000): Promise<{ code: number; stdout: string; stderr: string }> {
    return this.execIn(this.internetNetns, argv, timeoutMs);
  }

  /** Runs argv inside the upstream router's namespace; never throws on a non-zero exit. */
  upstreamExec(argv: string[], timeoutMs = 30_000): Promise<{ code: number; stdout: string; stderr: string }> {
    return this.execIn(this.upstreamNetns, argv, timeoutMs);
  }

  private async startCephStore(): Promise<void> {
    const timeoutMs = this.opts.cephTimeoutMs ?? 120_000;
    let timer: NodeJS.Timeout | undefined;
    const starting = startCeph(this.cephDir, { address: `${this.net6}::1` });
    try {
      this.ceph = await Promise.race([starting, new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new Error(`Ceph not up within ${timeoutMs} ms`)), timeoutMs)))]);
    } catch (err) {
      // A start that finishes later must still be left (the script counts users).
      starting.then((c) => c.stop()).catch(() => undefined);
      if (this.opts.ceph !== 'optional') throw err;
      console.log(`testbed: carrying on without Ceph: ${(err as Error).message}`);
      return;
    } finally {
      clearTimeout(timer);
    }
    this.cephPool = uniquePool('tb');
    await this.ceph.ensurePool(this.cephPool);
    await this.c.managers().images.ensureStore('ceph', 'ceph', { pool: this.cephPool, conf: this.ceph.conf });
  }

  /** Imports qcow2 `file` (default: the testbed's guest image) into store `ceph` as public image `name`. */
  async importCephImage(name: string, file = this.opts.guestImage): Promise<void> {
    if (!this.ceph || !file) throw new Error('testbed has no Ceph store or no image to import');
    const size = (JSON.parse(sh('qemu-img', ['info', '--output=json', file])) as { 'virtual-size': number })['virtual-size'];
    const fh = await open(file, 'r');
    try {
      await this.c.managers().images.importLocal('ceph', name, 'admin', true, { fd: fh.fd, format: 'qcow2', virtualSize: size });
    } finally {
      await fh.close();
    }
  }

  host(name: string): TestbedHost {
    const h = this.hosts.find((x) => x.name === name);
    if (!h) throw new Error(`testbed has no host ${name}`);
    return h;
  }

  /** The environment a host's daemons run with. */
  envOf(h: TestbedHost): NodeJS.ProcessEnv {
    return {
      UCLOUD_HOST_NAME: h.name,
      UCLOUD_HOST_ADDRESS: h.address,
      UCLOUD_VXLAN_UNDERLAY: 'u0',
      UCLOUD_RUN_DIR: h.runDir,
      UCLOUD_LOG_DIR: h.logDir,
      ...(this.opts.hostEnv?.(h) ?? {}),
    };
  }

  private async startAgent(h: TestbedHost): Promise<void> {
    h.agent = this.c.spawn('host', this.envOf(h), h.netns);
    await h.agent.ready;
  }

  private async startFence(h: TestbedHost): Promise<void> {
    h.fence = this.c.spawn('fence', this.envOf(h), h.netns);
    await h.fence.ready;
  }

  private async startMetadata(h: TestbedHost): Promise<void> {
    h.metadata = this.c.spawn('metadata', this.envOf(h), h.netns);
    await h.metadata.ready;
  }

  /**
   * Pid of the host's `ucloud host` process itself (the agent runs under
   * `ip netns exec`, which execs into node: same pid).
   */
  agentPid(name: string): number {
    const pid = this.host(name).agent?.child.pid;
    if (!pid) throw new Error(`no agent running on ${name}`);
    return pid;
  }

  /** SIGKILLs the host's agent, as a crash would; its QEMUs live on. */
  async killAgent(name: string): Promise<void> {
    await this.host(name).agent?.kill9();
  }

  /** Starts the host's agent again (after killAgent, or stops it first) and waits for it to be ready. */
  async restartAgent(name: string): Promise<void> {
    const h = this.host(name);
    if (h.agent && h.agent.child.exitCode === null && h.agent.child.signalCode === null) await h.agent.stop();
    await this.startAgent(h);
  }

  /** Runs the CLI with `-o json` and parses its answer; a non-zero exit throws with its stderr. */
  async cliJson<T>(args: string[]): Promise<T> {
    const r = await this.c.cli([...args, '-o', 'json']);
    if (r.code !== 0) throw new Error(`ucloud ${args.join(' ')}: ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  }

  /** Runs the CLI; a non-zero exit throws with its stderr. */
  async cliOk(args: string[]): Promise<void> {
    const r = await this.c.cli(args);
    if (r.code !== 0) throw new Error(`ucloud ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  }

  /** Kills host `name` outright, as a power cut would: its daemons and every process of its run dir (QEMUs, keepers, radvd), SIGKILL. */
  async killHost(name: string): Promise<void> {
    const h = this.host(name);
    await Promise.all([h.agent?.kill9(), h.fence?.kill9(), h.metadata?.kill9()]);
    for (const pid of this.c.pidsMentioning(h.runDir)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
  }

  /** Starts a killed host's daemons again (its watchdog first), as after a reboot. */
  async restartHost(name: string): Promise<void> {
    const h = this.host(name);
    if (this.opts.fence) await this.startFence(h);
    await Promise.all([this.startAgent(h), this.startMetadata(h)]);
  }

  /** Runs argv inside the host's namespace; resolves with exit code and output, never throws on a non-zero exit. */
  exec(name: string, argv: string[], timeoutMs = 30_000): Promise<{ code: number; stdout: string; stderr: string }> {
    return this.execIn(this.host(name).netns, argv, timeoutMs);
  }

  private execIn(netns: string, argv: string[], timeoutMs: number): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      execFile('ip', ['netns', 'exec', netns, ...argv], { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
        resolve({ code, stdout, stderr });
      });
    });
  }

  /** One ssh command to `address` from inside host `name`'s namespace (where the VM's bridge is). */
  ssh(name: string, key: string, address: string, command: string, o: SshOptions = {}): Promise<SshResult> {
    return sshRun(key, address, command, { ...o, netns: this.host(name).netns });
  }

  /** As ssh(), retried until the guest's sshd answers. */
  sshSession(name: string, key: string, address: string, command: string, o: SshOptions & { attempts?: number } = {}): Promise<SshResult> {
    return sshSession(key, address, command, { ...o, netns: this.host(name).netns });
  }

  /** Stops every daemon, QEMU and radvd it started, the Ceph pool, then the namespaces, links and dirs. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    try {
      await this.c?.stop();
    } finally {
      if (this.ceph) {
        if (this.cephPool) await new RbdClient({ conf: this.ceph.conf }).deletePool(this.cephPool).catch(() => undefined);
        await this.ceph.stop().catch(() => undefined);
      }
      // Its daemons are gone (stopped above, or never started): what they wrote goes too.
      if (this.opts.ceph) rmSync(this.cephDir, { recursive: true, force: true });
      // Whatever still runs inside a host (a QEMU an agent started while the cluster stopped) goes with it.
      for (const h of this.hosts) {
        for (const pid of netnsPids(h.netns)) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // gone meanwhile
          }
        }
      }
      // Deleting a namespace takes its end of each veth (and VXLANs, bridges, taps inside) with it.
      for (const h of this.hosts) quietly('ip', ['netns', 'del', h.netns]);
      if (this.opts.upstream) {
        quietly('ip', ['netns', 'del', this.upstreamNetns]);
        quietly('ip', ['netns', 'del', this.internetNetns]);
        quietly('ip', ['link', 'del', `${this.underlay}up`]);
      }
      for (let i = 0; i < this.hosts.length; i++) quietly('ip', ['link', 'del', `${this.underlay}h${i}`]);
      quietly('ip', ['link', 'del', this.underlay]);
    }
  }
}

/** The pids of the processes in network namespace `netns` (none when it is gone). */
function netnsPids(netns: string): number[] {
  try {
    return execFileSync('ip', ['netns', 'pids', netns], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}
