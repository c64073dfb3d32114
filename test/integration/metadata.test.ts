import { execFile, execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { createLogger } from '../../src/common/logger.js';
import { ensureBridge, removeBridge } from '../../src/host/network/bridge.js';
import { Ip } from '../../src/host/network/ip.js';
import { KeyManager } from '../../src/managers/keys.js';
import { NetworkManager } from '../../src/managers/networks.js';
import { VmManager } from '../../src/managers/vms.js';
import { expandIPv6, formatIPv6, linkLocalAddress, slaacAddress } from '../../src/common/eui64.js';
import { claimedMac, nicOnArrival, type Arrival } from '../../src/metadata/identity.js';
import { buildMetadataServer, EC2_VERSIONS, OPENSTACK_VERSIONS, type MetadataVm } from '../../src/metadata/server.js';
import type { Network, Vm } from '../../src/model/index.js';
import { API_ACTOR } from '../../src/model/vm-lifecycle.js';
import { TestCluster, until, type Daemon } from '../helpers/cluster.js';
import { guestNs, ip, IP, removeNs } from '../helpers/guest-ns.js';
import { freePort } from '../helpers/ports.js';

const root = join(import.meta.dirname, '..', '..');
const log = createLogger({ component: 'metadata-test', level: 'warn', stderr: false });

// Two VMs on one network (VNI 7, fd00:1:2:3::/64, bridge br-u1), one MAC each,
// a third on another network, with real keys from ssh-keygen.
const MAC_A = '02:75:63:00:00:0a';
const MAC_B = '02:75:63:00:00:0b';
const MAC_C = '02:75:63:00:00:0c';
const MAC_NOBODY = '02:75:63:00:00:99';
const NET: Arrival = { bridge: 'br-u1', vni: 7, prefix: 'fd00:1:2:3::/64' };
const OTHER_NET: Arrival = { bridge: 'br-u2', vni: 8, prefix: 'fd00:1:2:4::/64' };
const nicOn = (mac: string, net: Arrival) => [{ mac, vni: net.vni, prefix: net.prefix }];
const keyDir = mkdtempSync(join(tmpdir(), 'ucloud-md-keys-'));
function sshKey(name: string, type = 'ed25519'): string {
  const file = join(keyDir, name);
  execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', `${name}@test`, '-f', file]);
  return readFileSync(`${file}.pub`, 'utf8').trim();
}
const KEY_A = sshKey('alice-laptop');
const KEY_B1 = sshKey('bob-laptop');
const KEY_B2 = sshKey('bob-desk', 'ecdsa');
const blobOf = (k: string) => k.split(' ')[1]!;

const vms = new Map<string, MetadataVm>([
  [MAC_A, { instanceId: 'c0ffee00-0000-4000-8000-00000000000a', hostname: 'vm-a', owner: 'alice', publicKeys: [{ name: 'laptop', key: KEY_A }], nics: nicOn(MAC_A, NET) }],
  [MAC_C, { instanceId: 'c0ffee00-0000-4000-8000-00000000000c', hostname: 'vm-c', owner: 'carol', publicKeys: [{ name: 'laptop', key: KEY_A }], nics: nicOn(MAC_C, OTHER_NET) }],
  [
    MAC_B,
    {
      instanceId: 'c0ffee00-0000-4000-8000-00000000000b',
      hostname: 'vm-b',
      owner: 'bob',
      publicKeys: [
        { name: 'laptop', key: KEY_B1 },
        { name: 'desk', key: KEY_B2 },
      ],
      nics: nicOn(MAC_B, NET),
    },
  ],
]);
const lookups: string[] = [];
const lookup = async (mac: string) => {
  lookups.push(mac);
  return vms.get(mac);
};

function noKeyMaterial(body: string): void {
  for (const k of [KEY_A, KEY_B1, KEY_B2]) expect(body).not.toContain(blobOf(k).slice(0, 40));
  expect(body).not.toMatch(/ssh-ed25519|ecdsa-sha2|AAAA/);
  expect(body).not.toMatch(/vm-a|vm-b|vm-c|c0ffee/);
}

afterAll(() => rmSync(keyDir, { recursive: true, force: true }));

// ------------------------------------------------------------------------
// The real daemon (`ucloud metadata`, a process) on real bridges, with a real
// etcd holding the networks, VMs and keys. Guests are network namespaces on
// veth pairs whose host ends are ports of the bridges, each guest with its
// VM's MAC and SLAAC addresses. Attackers: a namespace on network B's bridge
// using VM A's addresses, and a namespace on a plain veth (no bridge) that the
// host routes a foreign /64 to. A small Node client in each namespace binds to
// the source address asked for.
// ------------------------------------------------------------------------
const canNetns = process.getuid?.() === 0 && IP !== undefined && existsSync('/usr/bin/busybox');

const CLIENT = `
import http from 'node:http';
import { createInterface } from 'node:readline';
const out = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
createInterface({ input: process.stdin }).on('line', (line) => {
  const q = JSON.parse(line);
  const req = http.request({ host: q.host, port: q.port, path: q.path, method: q.method || 'GET', localAddress: q.localAddress, headers: q.headers, agent: false }, (res) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (d) => (body += d));
    res.on('end', () => out({ id: q.id, status: res.statusCode, body }));
  });
  // from the start, connecting included (a SYN nobody answers is retried for minutes)
  const timer = setTimeout(() => req.destroy(Object.assign(new Error('no answer'), { code: 'ETIMEDOUT' })), q.timeoutMs);
  req.on('close', () => clearTimeout(timer));
  req.on('error', (e) => out({ id: q.id, error: e.code || e.message }));
  req.end();
});
`;

interface Answer {
  status?: number;
  body?: string;
  /** ECONNREFUSED, ETIMEDOUT, … */
  error?: string;
}

/** A long-lived HTTP client inside a network namespace. */
class NsClient {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly pending = new Map<number, (a: Answer) => void>();
  private next = 1;

  constructor(readonly ns: string) {
    this.child = spawn(IP!, ['netns', 'exec', ns, process.execPath, '--input-type=module', '-e', CLIENT], { stdio: 'pipe' });
    this.child.stderr.on('data', (b: Buffer) => process.stderr.write(`[${ns}] ${b.toString()}`));
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      const r = JSON.parse(line) as Answer & { id: number };
      this.pending.get(r.id)?.(r);
      this.pending.delete(r.id);
    });
  }

  request(from: string, to: string, port: number, path: string, init: { method?: string; headers?: Record<string, string>; timeoutMs?: number } = {}): Promise<Answer> {
    const id = this.next++;
    const done = new Promise<Answer>((resolve) => this.pending.set(id, resolve));
    this.child.stdin.write(`${JSON.stringify({ id, host: to, port, path, localAddress: from, timeoutMs: 10_000, ...init })}\n`);
    return done;
  }

  kill(): void {
    this.child.kill();
  }
}

describe.skipIf(!canNetns)('the metadata daemon on real bridges: identity = prefix + interface id + arrival', () => {
  const tag = randomBytes(2).toString('hex');
  // VNIs above the default vni_range, so no other test cluster's bridges share their names.
  const vniBase = 16_100_000 + randomInt(0, 600_000);
  const pool = `fd${randomBytes(1).toString('hex')}:${randomBytes(2).toString('hex')}:${randomBytes(2).toString('hex')}::/48`;
  const foreignPrefix = `2001:db8:${tag}:1::/64`;
  const ns = { a: `ucmd-${tag}-a`, b: `ucmd-${tag}-b`, x: `ucmd-${tag}-x`, n: `ucmd-${tag}-n` };
  const hostEnd = { a: `umd${tag}a`, b: `umd${tag}b`, x: `umd${tag}x`, n: `umd${tag}n` };
  const hostIp = new Ip();
  let c: TestCluster;
  let daemon: Daemon;
  let port = 0;
  let netA: Network;
  let netB: Network;
  let netC: Network;
  let vmA: Vm;
  let vmB: Vm;
  let keyA = '';
  let keyB = '';
  const clients: Partial<Record<keyof typeof ns, NsClient>> = {};
  let bbDir = '';
  const bridge = (n: Network) => `ucbr${n.vni}`;
  const gateway = (n: Network) => formatIPv6([...expandIPv6(n.prefix.split('/')[0]!)!.slice(0, 4), 0, 0, 0, 1]);
  const macOf = (vm: Vm) => vm.nics![0]!.mac;

  /** Sockets the daemon listens on: `ss` as the kernel has them. */
  const listening = () =>
    execFileSync('ss', ['-Hltn', `sport = :${port}`])
      .toString()
      .split('\n')
      .map((l) => l.trim().split(/\s+/)[3])
      .filter((s): s is string => !!s)
      .map((s) => s.replace(/:\d+$/, '').replace(/^\[|\]$/g, '').replace(/\]%/, '%'))
      .sort();

  beforeAll(async () => {
    c = await TestCluster.start();
    const nets = new NetworkManager(c.store, { vniRange: { first: vniBase, last: vniBase + 99 }, ipv6Pool: pool });
    const keys = new KeyManager(c.store);
    const vms = new VmManager(c.store, { actor: API_ACTOR });
    netA = await nets.create('alice', 'lab');
    netB = await nets.create('bob', 'other');
    netC = await nets.create('alice', 'late');
    keyA = sshKey(`alice-${tag}`);
    keyB = sshKey(`bob-${tag}`);
    await keys.add('alice', 'laptop', keyA);
    await keys.add('bob', 'laptop', keyB);
    const vm = async (owner: string, name: string, net: Network) =>
      vms.create({ owner, name, image: { store: 'local', name: 'x' }, cpu: 1, ramBytes: 128 * 2 ** 20, diskBytes: 2 ** 30, networks: [(await nets.get(owner, net.name))!] });
    vmA = await vm('alice', 'vm-a', netA);
    vmB = await vm('bob', 'vm-b', netB);

    // The bridges as the host agent makes them (its own code), without taps or nft.
    for (const n of [netA, netB]) await ensureBridge(hostIp, bridge(n), { globalAddress: `${gateway(n)}/64` });
    guestNs(ns.a, hostEnd.a, macOf(vmA), bridge(netA), [linkLocalAddress(macOf(vmA)), slaacAddress(netA.prefix, macOf(vmA))]);
    guestNs(ns.b, hostEnd.b, macOf(vmB), bridge(netB), [linkLocalAddress(macOf(vmB)), slaacAddress(netB.prefix, macOf(vmB))]);
    // On B's bridge: VM A's link-local address, VM A's EUI-64 in B's /64, and VM A's own global address.
    guestNs(ns.x, hostEnd.x, macOf(vmA), bridge(netB), [linkLocalAddress(macOf(vmA)), slaacAddress(netB.prefix, macOf(vmA)), slaacAddress(netA.prefix, macOf(vmA))]);
    // Not a bridge: a veth whose host end has fe80::1 too and routes a foreign /64 (as an uplink would).
    guestNs(ns.n, hostEnd.n, macOf(vmA), undefined, [linkLocalAddress(macOf(vmA)), slaacAddress(foreignPrefix, macOf(vmA))]);
    ip('addr', 'add', 'fe80::1/64', 'dev', hostEnd.n, 'nodad');
    ip('addr', 'add', `${gateway({ prefix: foreignPrefix } as Network)}/64`, 'dev', hostEnd.n, 'nodad');
    ip('-n', ns.n, 'route', 'add', netA.prefix, 'via', 'fe80::1', 'dev', 'eth0');
    for (const k of Object.keys(ns) as (keyof typeof ns)[]) clients[k] = new NsClient(ns[k]);

    port = await freePort('::1');
    daemon = c.spawn('metadata', { UCLOUD_METADATA_PORT: String(port), UCLOUD_METADATA_RECHECK: '300ms' });
    await daemon.ready;

    bbDir = mkdtempSync(join(tmpdir(), 'ucloud-md-bb-'));
    for (const applet of ['sh', 'wget', 'timeout', 'hostname', 'grep', 'tail', 'mktemp', 'cp', 'mv', 'chmod', 'mkdir', 'cat', 'sleep', 'rm', 'pidof']) {
      symlinkSync('/usr/bin/busybox', join(bbDir, applet));
    }
  }, 60_000);

  // A failure here has so far come only in full runs, never alone: what the daemon said and what the host's firewall held then.
  afterEach((ctx) => {
    if (ctx.task.result?.state !== 'fail') return;
    const fw = (() => {
      try {
        return execFileSync('nft', ['list', 'chain', 'inet', 'ucloud', 'input']).toString();
      } catch {
        return '(no inet ucloud table)';
      }
    })();
    console.log(`metadata daemon (pid ${daemon?.child.pid}, exit ${daemon?.child.exitCode}) stderr tail:\n${daemon?.stderr().slice(-4000)}\nroot ns input chain:\n${fw}\nss:\n${execFileSync('ss', ['-Htn', `sport = :${port}`]).toString()}`);
  });

  afterAll(async () => {
    for (const cl of Object.values(clients)) cl?.kill();
    await c?.stop();
    for (const name of Object.values(ns)) removeNs(name);
    for (const n of [netA, netB, netC]) if (n) await removeBridge(hostIp, bridge(n)).catch(() => undefined);
    if (bbDir) rmSync(bbDir, { recursive: true, force: true });
  });

  const get = (who: keyof typeof ns, from: string, to: string, path = '/v1/meta-data', init = {}) => clients[who]!.request(from, to, port, path, init);
  const refused = (r: Answer) => {
    expect(r.status, JSON.stringify(r)).toBe(403);
    expect(JSON.parse(r.body!).code).toBe('FORBIDDEN');
    for (const k of [keyA, keyB]) expect(r.body).not.toContain(blobOf(k).slice(0, 40));
    expect(r.body).not.toContain(vmA.id);
    expect(r.body).not.toContain('vm-a');
  };

  it('listens on each bridge\'s fe80::1 and <prefix>::1 only: not [::], not loopback, not a plain veth', async () => {
    const want = [`fe80::1%${bridge(netA)}`, gateway(netA), `fe80::1%${bridge(netB)}`, gateway(netB)].sort();
    expect(await until('the listeners', () => JSON.stringify(listening()) === JSON.stringify(want) && listening(), 10_000)).toEqual(want);
    await expect(fetch(`http://[::1]:${port}/v1/meta-data`)).rejects.toThrow();
  });

  it("answers each VM from its own link-local and global addresses, on all its paths", async () => {
    const a = { ll: `${linkLocalAddress(macOf(vmA))}%eth0`, global: slaacAddress(netA.prefix, macOf(vmA)) };
    for (const [from, to] of [
      [a.ll, 'fe80::1%eth0'],
      [a.global, 'fe80::1%eth0'],
      [a.global, gateway(netA)],
    ] as const) {
      const r = await get('a', from, to);
      expect(r.status, `${from} → ${to}: ${JSON.stringify(r)}`).toBe(200);
      expect(JSON.parse(r.body!)).toEqual({ instanceId: vmA.id, hostname: 'vm-a', publicKeys: [keyA] });
    }
    // the NoCloud seed at http://[<prefix>::1]/nocloud/ (what stock cloud images will be pointed at)
    const seed = await get('a', a.global, gateway(netA), '/nocloud/meta-data');
    expect(parseYaml(seed.body!)).toMatchObject({ 'instance-id': vmA.id, 'local-hostname': 'vm-a', 'public-keys': [keyA] });
    const os = await get('a', a.global, gateway(netA), '/openstack/latest/meta_data.json');
    expect(JSON.parse(os.body!).uuid).toBe(vmA.id);
    const ec2 = await get('a', a.ll, 'fe80::1%eth0', '/latest/meta-data/public-keys/0/openssh-key');
    expect(ec2.body).toBe(keyA);
    const b = await get('b', `${linkLocalAddress(macOf(vmB))}%eth0`, 'fe80::1%eth0', '/v1/public-keys');
    expect(b.body).toBe(`${keyB}\n`);
    const bGlobal = await get('b', slaacAddress(netB.prefix, macOf(vmB)), gateway(netB), '/v1/hostname');
    expect(bGlobal.body).toBe('vm-b\n');
  });

  it("refuses VM A's EUI-64 behind a foreign prefix: on another network's bridge, and routed in from outside", async () => {
    const fromB = slaacAddress(netB.prefix, macOf(vmA));
    refused(await get('x', fromB, 'fe80::1%eth0'));
    refused(await get('x', fromB, gateway(netB)));
    refused(await get('n', slaacAddress(foreignPrefix, macOf(vmA)), gateway(netA)));
  });

  it("refuses VM A's own addresses arriving on another network's bridge", async () => {
    refused(await get('x', `${linkLocalAddress(macOf(vmA))}%eth0`, 'fe80::1%eth0'));
    // VM A's global address on B's bridge: the listener is bound to B's bridge,
    // A's /64 is not on it, so the connection is never even established.
    const global = await get('x', slaacAddress(netA.prefix, macOf(vmA)), 'fe80::1%eth0', '/v1/meta-data', { timeoutMs: 3000 });
    if (global.status !== undefined) refused(global);
    else expect(global.error).toMatch(/ETIMEDOUT|EHOSTUNREACH|ECONNREFUSED/);
    // …while VM A itself, on its own bridge, is still answered
    expect((await get('a', `${linkLocalAddress(macOf(vmA))}%eth0`, 'fe80::1%eth0')).status).toBe(200);
  });

  it('refuses a connection from an interface that is not a network bridge', async () => {
    const r = await get('n', `${linkLocalAddress(macOf(vmA))}%eth0`, 'fe80::1%eth0');
    expect(r.error, JSON.stringify(r)).toBe('ECONNREFUSED');
    // the host itself, from its own address on the network
    const res = await fetch(`http://[${gateway(netA)}]:${port}/v1/public-keys`);
    expect(res.status).toBe(403);
    expect(await res.text()).not.toContain('ssh-');
  });

  it('follows bridges: a new one is served, a removed one let go, one made again served again', async () => {
    const c0 = [`fe80::1%${bridge(netC)}`, gateway(netC)];
    await ensureBridge(hostIp, bridge(netC), { globalAddress: `${gateway(netC)}/64` });
    await until('the new bridge is served', () => c0.every((a) => listening().includes(a)), 10_000);
    await removeBridge(hostIp, bridge(netC));
    await until('the removed bridge is let go', () => !listening().some((a) => c0.includes(a)), 10_000);
    // A's bridge made again (a new ifindex): VM A is answered again without a restart.
    await removeBridge(hostIp, bridge(netA));
    await ensureBridge(hostIp, bridge(netA), { globalAddress: `${gateway(netA)}/64` });
    ip('link', 'set', hostEnd.a, 'master', bridge(netA));
    ip('-n', ns.a, 'neigh', 'flush', 'dev', 'eth0'); // the new bridge has a new MAC
    const again = await until(
      'VM A answered on the new bridge',
      async () => {
        const r = await get('a', `${linkLocalAddress(macOf(vmA))}%eth0`, 'fe80::1%eth0', '/v1/instance-id', { timeoutMs: 2000 });
        return r.status === 200 && r;
      },
      20_000,
      200,
    );
    expect(again.body).toBe(`${vmA.id}\n`);
    expect(daemon.child.exitCode).toBe(null);
  });

  // The daemon is another process: the scripts run asynchronously.
  const sh = promisify(execFile);

  it('guest/ucloud-init (busybox sh + wget) installs the keys once and sets the hostname', async () => {
    const guestRoot = mkdtempSync(join(tmpdir(), 'ucloud-md-guest-'));
    try {
      mkdirSync(join(guestRoot, 'etc'));
      mkdirSync(join(guestRoot, 'root', '.ssh'), { recursive: true });
      // a key the user put there by hand, without a final newline: kept
      writeFileSync(join(guestRoot, 'root', '.ssh', 'authorized_keys'), 'ssh-ed25519 AAAAhandmade user@elsewhere');
      const env = {
        PATH: `${bbDir}:/usr/bin:/bin`,
        UCLOUD_IFACE: 'eth0',
        UCLOUD_METADATA_URL: `http://[fe80::1%eth0]:${port}/`,
        UCLOUD_ROOT: guestRoot,
        UCLOUD_CONSOLE: join(guestRoot, 'console'),
        UCLOUD_HTTP_CLIENT: 'wget',
        UCLOUD_ADDR_TIMEOUT: '5',
        UCLOUD_FETCH_TRIES: '5',
      };
      const script = join(root, 'guest', 'ucloud-init');
      // its own UTS namespace: setting the hostname must not touch this machine's
      const run = async () => {
        const { stdout } = await sh(IP!, ['netns', 'exec', ns.a, 'unshare', '--uts', '/usr/bin/busybox', 'sh', '-c', `busybox sh "$0" && echo "HOSTNAME=$(hostname)"`, script], {
          env,
          encoding: 'utf8',
          timeout: 60_000,
        });
        return { stdout, console: readFileSync(env.UCLOUD_CONSOLE, 'utf8') };
      };
      const first = await run();
      expect(first.console).toBe('UCLOUD-INIT-DONE keys=1\n');
      expect(first.stdout).toContain('HOSTNAME=vm-a');
      const second = await run();
      expect(second.console).toBe('UCLOUD-INIT-DONE keys=1\n');
      const ak = readFileSync(join(guestRoot, 'root', '.ssh', 'authorized_keys'), 'utf8');
      expect(ak).toBe(`ssh-ed25519 AAAAhandmade user@elsewhere\n${keyA}\n`);
      expect(statSync(join(guestRoot, 'root', '.ssh', 'authorized_keys')).mode & 0o777).toBe(0o600);
      expect(statSync(join(guestRoot, 'root', '.ssh')).mode & 0o777).toBe(0o700);
      expect(readFileSync(join(guestRoot, 'etc', 'hostname'), 'utf8')).toBe('vm-a\n');
    } finally {
      rmSync(guestRoot, { recursive: true, force: true });
    }
  }, 90_000);

  it('guest/ucloud-init with curl says FAILED when the server refuses it (VM A\'s MAC on the wrong bridge)', async () => {
    const guestRoot = mkdtempSync(join(tmpdir(), 'ucloud-md-guest-'));
    try {
      const { stdout: out } = await sh(IP!, ['netns', 'exec', ns.x, 'sh', '-c', `sh "$0" || echo "rc=$?"`, join(root, 'guest', 'ucloud-init')], {
        env: {
          PATH: '/usr/bin:/bin',
          UCLOUD_IFACE: 'eth0',
          UCLOUD_METADATA_URL: `http://[fe80::1%eth0]:${port}`,
          UCLOUD_ROOT: guestRoot,
          UCLOUD_CONSOLE: join(guestRoot, 'console'),
          UCLOUD_HTTP_CLIENT: 'curl',
          UCLOUD_ADDR_TIMEOUT: '1',
          UCLOUD_FETCH_TRIES: '2',
          UCLOUD_SET_HOSTNAME: '0',
        },
        encoding: 'utf8',
        timeout: 60_000,
      });
      expect(readFileSync(join(guestRoot, 'console'), 'utf8')).toMatch(/^UCLOUD-INIT-FAILED no answer from the metadata server/);
      expect(out).toContain('rc=1');
      expect(existsSync(join(guestRoot, 'root', '.ssh', 'authorized_keys'))).toBe(false);
    } finally {
      rmSync(guestRoot, { recursive: true, force: true });
    }
  }, 60_000);
});

// ------------------------------------------------------------------------
// Every path stock cloud-init reads, through Fastify's inject with a
// remoteAddress (what req.socket.remoteAddress says on a real socket).
// ------------------------------------------------------------------------
describe('metadata server paths (inject)', () => {
  const A = `${linkLocalAddress(MAC_A)}%br-u1`;
  const B = slaacAddress('fd00:1:2:3::/64', MAC_B);
  let app: FastifyInstance;

  beforeAll(async () => {
    app = buildMetadataServer({ lookup, log, arrival: () => NET });
    await app.ready();
  });
  afterAll(() => app.close());

  const get = (url: string, remoteAddress = B, headers: Record<string, string> = {}) => app.inject({ method: 'GET', url, remoteAddress, headers });

  describe('identification', () => {
    it.each([
      ['IPv4-mapped', '::ffff:127.0.0.1'],
      ['IPv4-mapped that looks like EUI-64', '::ffff:254.1.2.3'],
      ['loopback', '::1'],
      ['IPv4', '127.0.0.1'],
      ['privacy address', 'fd00:1:2:3:a9c4:31f2:8be0:1d07'],
      ['unknown MAC', `${linkLocalAddress(MAC_NOBODY)}%br-u1`],
      ["a VM's EUI-64 in a foreign prefix", slaacAddress('2001:db8:ffff:1::/64', MAC_B)],
      ["a VM's EUI-64 in another network's prefix", slaacAddress(OTHER_NET.prefix, MAC_B)],
      ["a VM's link-local address arriving on another bridge", `${linkLocalAddress(MAC_A)}%br-u2`],
      ['a link-local address without its arrival interface', linkLocalAddress(MAC_A)],
      ["another network's VM, at its own address", slaacAddress(OTHER_NET.prefix, MAC_C)],
      ["another network's VM, with an address in this network", slaacAddress(NET.prefix, MAC_C)],
    ])('%s → 403 without data', async (_why, remoteAddress) => {
      for (const url of ['/', '/v1/meta-data', '/openstack/latest/meta_data.json', '/latest/meta-data/', '/nocloud/meta-data', '/nope']) {
        const r = await get(url, remoteAddress);
        expect(r.statusCode, url).toBe(403);
        expect(r.json()).toMatchObject({ code: 'FORBIDDEN' });
        expect(Object.keys(r.json()).sort()).toEqual(['code', 'message']);
        noKeyMaterial(r.body);
      }
    });

    it('refuses what arrived on no network bridge, whatever the source', async () => {
      const nowhere = buildMetadataServer({ lookup, log, arrival: () => undefined });
      const r = await nowhere.inject({ url: '/v1/meta-data', remoteAddress: B });
      expect(r.statusCode).toBe(403);
      noKeyMaterial(r.body);
      await nowhere.close();
    });

    it('refuses a source with no EUI-64, or outside the network, without looking anything up', async () => {
      const before = lookups.length;
      for (const remoteAddress of ['fd00:1:2:3::1234', '::1', slaacAddress('2001:db8::/64', MAC_A), `${linkLocalAddress(MAC_A)}%eth9`]) {
        expect((await get('/v1/meta-data', remoteAddress)).statusCode).toBe(403);
      }
      expect(lookups.length).toBe(before);
    });

    it('ignores X-Forwarded-For and friends', async () => {
      const r = await get('/v1/meta-data', '::1', { 'x-forwarded-for': B, forwarded: `for="[${B}]"`, 'x-real-ip': B });
      expect(r.statusCode).toBe(403);
    });

    it('a known VM gets 404 on an unknown path', async () => {
      const r = await get('/v2/everything', B);
      expect(r.statusCode).toBe(404);
      expect(r.json().code).toBe('NOT_FOUND');
    });

    it('a lookup that fails is a 500 without internals', async () => {
      const broken = buildMetadataServer({ lookup: async () => Promise.reject(new Error('etcd said no at 10.1.2.3')), log, arrival: () => NET });
      const r = await broken.inject({ url: '/v1/meta-data', remoteAddress: B });
      expect(r.statusCode).toBe(500);
      expect(r.body).not.toContain('etcd');
      await broken.close();
    });

    it('skips stored keys that do not parse, and keys that would add lines', async () => {
      const odd = buildMetadataServer({
        lookup: async () => ({
          instanceId: 'i-odd',
          hostname: 'odd',
          owner: 'carol',
          publicKeys: [
            { name: 'good', key: KEY_A },
            { name: 'two-lines', key: `${KEY_B1}\n${KEY_B2}` },
            { name: 'junk', key: 'not a key' },
            { name: 'good', key: KEY_B2 },
          ],
          nics: nicOn(MAC_B, NET),
        }),
        log,
        arrival: () => NET,
      });
      const r = await odd.inject({ url: '/v1/public-keys', remoteAddress: B });
      expect(r.body).toBe(`${KEY_A}\n${KEY_B2}\n`);
      const os = await odd.inject({ url: '/openstack/latest/meta_data.json', remoteAddress: B });
      expect(os.json().public_keys).toEqual({ good: KEY_A, 'good-2': KEY_B2 });
      await odd.close();
    });
  });

  describe("ucloud's own paths", () => {
    it.each(['/', '/v1/meta-data', '/v1/meta-data/'])('%s', async (url) => {
      const r = await get(url, A);
      expect(r.statusCode).toBe(200);
      expect(r.json()).toEqual({ instanceId: vms.get(MAC_A)!.instanceId, hostname: 'vm-a', publicKeys: [KEY_A] });
    });

    it('plain text for sh', async () => {
      expect((await get('/v1/public-keys')).body).toBe(`${KEY_B1}\n${KEY_B2}\n`);
      expect((await get('/v1/hostname')).body).toBe('vm-b\n');
      expect((await get('/v1/instance-id')).body).toBe(`${vms.get(MAC_B)!.instanceId}\n`);
      expect((await get('/v1/hostname')).headers['content-type']).toMatch(/^text\/plain/);
    });

    it('HEAD works', async () => {
      const r = await app.inject({ method: 'HEAD', url: '/v1/meta-data', remoteAddress: B });
      expect(r.statusCode).toBe(200);
    });
  });

  describe('NoCloud seed (ds=nocloud-net;s=http://…/nocloud/)', () => {
    it('meta-data is YAML with instance-id, local-hostname, public-keys', async () => {
      const r = await get('/nocloud/meta-data');
      expect(r.statusCode).toBe(200);
      expect(parseYaml(r.body)).toEqual({
        'instance-id': vms.get(MAC_B)!.instanceId,
        'local-hostname': 'vm-b',
        hostname: 'vm-b',
        'public-keys': [KEY_B1, KEY_B2],
      });
    });
    it.each(['/nocloud/user-data', '/nocloud/vendor-data'])('%s is 200 and empty', async (url) => {
      const r = await get(url);
      expect(r.statusCode).toBe(200);
      expect(r.body).toBe('');
    });
  });

  describe('OpenStack (DataSourceOpenStack, helpers/openstack.py MetadataReader.read_v2)', () => {
    it('/openstack lists every version cloud-init knows, and latest', async () => {
      for (const url of ['/openstack', '/openstack/']) {
        const r = await get(url);
        expect(r.statusCode).toBe(200);
        const lines = r.body.split('\n');
        expect(lines).toEqual([...OPENSTACK_VERSIONS]);
        for (const v of ['2012-08-10', '2013-04-04', '2013-10-17', '2015-10-15', '2016-06-30', '2016-10-06', '2017-02-22', '2018-08-27', 'latest']) {
          expect(lines).toContain(v);
        }
      }
    });

    it.each([...OPENSTACK_VERSIONS])('%s/meta_data.json', async (v) => {
      const r = await get(`/openstack/${v}/meta_data.json`);
      expect(r.statusCode).toBe(200);
      expect(r.headers['content-type']).toMatch(/^application\/json/);
      const md = r.json();
      expect(md).toMatchObject({
        uuid: vms.get(MAC_B)!.instanceId,
        hostname: 'vm-b',
        name: 'vm-b',
        launch_index: 0,
        public_keys: { laptop: KEY_B1, desk: KEY_B2 },
        keys: [
          { name: 'laptop', type: 'ssh', data: KEY_B1 },
          { name: 'desk', type: 'ssh', data: KEY_B2 },
        ],
        meta: {},
      });
      expect(Buffer.from(md.random_seed, 'base64')).toHaveLength(512);
    });

    it.each([...OPENSTACK_VERSIONS])('%s: user_data 404, vendor data {}, network_data from 2015-10-15', async (v) => {
      expect((await get(`/openstack/${v}/user_data`)).statusCode).toBe(404);
      expect((await get(`/openstack/${v}/vendor_data.json`)).json()).toEqual({});
      const vd2 = await get(`/openstack/${v}/vendor_data2.json`);
      const nd = await get(`/openstack/${v}/network_data.json`);
      if (v === 'latest' || v >= '2016-10-06') expect(vd2.json()).toEqual({});
      else expect(vd2.statusCode).toBe(404);
      if (v === 'latest' || v >= '2015-10-15') {
        expect(nd.json()).toEqual({
          links: [{ id: 'ucloud0', type: 'phy', ethernet_mac_address: MAC_B }],
          networks: [{ id: 'network0', link: 'ucloud0', type: 'ipv6_slaac' }],
          services: [],
        });
      } else {
        expect(nd.statusCode).toBe(404);
      }
      const listing = await get(`/openstack/${v}`);
      expect(listing.body.split('\n')).toContain('meta_data.json');
    });

    it('an unknown version is 404', async () => {
      expect((await get('/openstack/2099-01-01/meta_data.json')).statusCode).toBe(404);
    });
  });

  describe('EC2 (DataSourceEc2, helpers/ec2.py)', () => {
    it.each([...EC2_VERSIONS])('%s: everything the materializer crawls', async (v) => {
      const listing = await get(`/${v}/meta-data/`);
      expect(listing.statusCode).toBe(200);
      expect(listing.body.split('\n')).toEqual(['hostname', 'instance-id', 'local-hostname', 'mac', 'public-keys/']);
      expect((await get(`/${v}/meta-data`)).body).toBe(listing.body);
      // leaves carry no newline: cloud-init would turn them into lists
      expect((await get(`/${v}/meta-data/instance-id`)).body).toBe(vms.get(MAC_B)!.instanceId);
      expect((await get(`/${v}/meta-data/hostname`)).body).toBe('vm-b');
      expect((await get(`/${v}/meta-data/local-hostname`)).body).toBe('vm-b');
      expect((await get(`/${v}/meta-data/mac`)).body).toBe(MAC_B);
      expect((await get(`/${v}/meta-data/public-keys/`)).body).toBe('0=laptop\n1=desk');
      expect((await get(`/${v}/meta-data/public-keys/0/`)).body).toBe('openssh-key');
      expect((await get(`/${v}/meta-data/public-keys/0/openssh-key`)).body).toBe(KEY_B1);
      expect((await get(`/${v}/meta-data/public-keys/1/openssh-key`)).body).toBe(KEY_B2);
      expect((await get(`/${v}/meta-data/public-keys/2/openssh-key`)).statusCode).toBe(404);
      expect((await get(`/${v}/meta-data/public-keys/01/openssh-key`)).statusCode).toBe(404);
      expect((await get(`/${v}/user-data`)).statusCode).toBe(404);
      expect((await get(`/${v}/`)).body).toBe('dynamic\nmeta-data');
      expect((await get(`/${v}/dynamic/`)).body).toBe('instance-identity/');
      expect((await get(`/${v}/dynamic/instance-identity/`)).body).toBe('document');
      expect(JSON.parse((await get(`/${v}/dynamic/instance-identity/document`)).body)).toEqual({ instanceId: vms.get(MAC_B)!.instanceId });
    });

    it('a VM without keys has no public-keys/ entry', async () => {
      const bare = buildMetadataServer({ lookup: async () => ({ instanceId: 'i-bare', hostname: 'bare', owner: 'dave', publicKeys: [], nics: nicOn(MAC_B, NET) }), log, arrival: () => NET });
      const r = await bare.inject({ url: '/latest/meta-data/', remoteAddress: B });
      expect(r.body).toBe('hostname\ninstance-id\nlocal-hostname\nmac');
      expect((await bare.inject({ url: '/latest/meta-data/public-keys/', remoteAddress: B })).statusCode).toBe(404);
      await bare.close();
    });

    it('unknown versions are 404', async () => {
      expect((await get('/2099-01-01/meta-data/instance-id')).statusCode).toBe(404);
      expect((await get('/v1/user-data')).statusCode).toBe(404);
    });

    describe('IMDSv2 token', () => {
      const put = (headers: Record<string, string>, remoteAddress = B) => app.inject({ method: 'PUT', url: '/latest/api/token', remoteAddress, headers });

      it('is given for a TTL of 1..21600 seconds and accepted back', async () => {
        const r = await put({ 'X-aws-ec2-metadata-token-ttl-seconds': '21600' });
        expect(r.statusCode).toBe(200);
        expect(r.headers['x-aws-ec2-metadata-token-ttl-seconds']).toBe('21600');
        const token = r.body;
        for (const v of EC2_VERSIONS) {
          const ok = await get(`/${v}/meta-data/instance-id`, B, { 'X-aws-ec2-metadata-token': token });
          expect(ok.statusCode).toBe(200);
        }
      });

      it.each<Record<string, string>>([{}, { 'X-aws-ec2-metadata-token-ttl-seconds': '0' }, { 'X-aws-ec2-metadata-token-ttl-seconds': '21601' }, { 'X-aws-ec2-metadata-token-ttl-seconds': 'soon' }])(
        'is refused with a bad TTL header %j',
        async (headers) => {
          const r = await put(headers);
          expect(r.statusCode).toBe(400);
          expect(r.json().code).toBe('VALIDATION_FAILED');
        },
      );

      it('is refused through a proxy (X-Forwarded-For), and to strangers', async () => {
        expect((await put({ 'X-aws-ec2-metadata-token-ttl-seconds': '60', 'X-Forwarded-For': '1.2.3.4' })).statusCode).toBe(403);
        expect((await put({ 'X-aws-ec2-metadata-token-ttl-seconds': '60' }, '::1')).statusCode).toBe(403);
      });

      it("a forged, expired or other VM's token is 401", async () => {
        const other = (await put({ 'X-aws-ec2-metadata-token-ttl-seconds': '60' }, A)).body;
        const past = `${Math.floor(Date.now() / 1000) - 10}.${'A'.repeat(43)}`;
        for (const token of [other, past, 'garbage', `${other}x`]) {
          const r = await get('/latest/meta-data/instance-id', B, { 'X-aws-ec2-metadata-token': token });
          expect(r.statusCode, token).toBe(401);
          noKeyMaterial(r.body);
        }
      });

      it('GET on the token path is 404', async () => {
        expect((await get('/latest/api/token')).statusCode).toBe(404);
      });
    });
  });
});

describe('user-data and vendor-data, per VM (inject)', () => {
  const A = slaacAddress(NET.prefix, MAC_A);
  const B = slaacAddress(NET.prefix, MAC_B);
  const USER_DATA = '#cloud-config\nruncmd: [[touch, /var/tmp/a-only]]\n';
  const VENDOR = 'Content-Type: multipart/mixed; boundary="x"\n\n--x--\n';
  const reads: string[] = [];
  const lines: Record<string, unknown>[] = [];
  let app: FastifyInstance;

  beforeAll(async () => {
    // VM A has user-data; VM B, on the same network, has none
    const withSeed = async (mac: string): Promise<MetadataVm | undefined> => {
      const vm = vms.get(mac);
      if (!vm) return undefined;
      return {
        ...vm,
        userData: async () => {
          reads.push(vm.instanceId);
          return mac === MAC_A ? USER_DATA : '';
        },
        vendorData: async () => VENDOR,
      };
    };
    const memory = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) });
    app = buildMetadataServer({ lookup: withSeed, log: memory, arrival: () => NET });
    await app.ready();
  });
  afterAll(() => app.close());

  const get = (url: string, remoteAddress: string) => app.inject({ method: 'GET', url, remoteAddress });

  it("gives VM A its user-data on the NoCloud, OpenStack and EC2 paths, read when asked for", async () => {
    const before = reads.length;
    for (const url of ['/nocloud/user-data', ...OPENSTACK_VERSIONS.map((v) => `/openstack/${v}/user_data`), ...EC2_VERSIONS.map((v) => `/${v}/user-data`)]) {
      const r = await get(url, A);
      expect(r.statusCode, url).toBe(200);
      expect(r.body, url).toBe(USER_DATA);
    }
    expect(reads.length - before).toBe(1 + OPENSTACK_VERSIONS.length + EC2_VERSIONS.length);
    // a request that is not about user-data does not read it
    await get('/nocloud/meta-data', A);
    expect(reads.length - before).toBe(1 + OPENSTACK_VERSIONS.length + EC2_VERSIONS.length);
  });

  it('gives VM B on the same network none of it: empty on NoCloud, 404 on OpenStack and EC2', async () => {
    expect((await get('/nocloud/user-data', B)).body).toBe('');
    expect((await get('/openstack/latest/user_data', B)).statusCode).toBe(404);
    expect((await get('/latest/user-data', B)).statusCode).toBe(404);
    for (const url of ['/nocloud/user-data', '/openstack/latest/user_data', '/latest/user-data']) expect((await get(url, B)).body).not.toContain('a-only');
    // and a stranger nothing at all
    const r = await get('/nocloud/user-data', slaacAddress(NET.prefix, MAC_NOBODY));
    expect(r.statusCode).toBe(403);
    expect(r.body).not.toContain('a-only');
  });

  it('vendor-data on NoCloud as is, on OpenStack as {"cloud-init": …}', async () => {
    expect((await get('/nocloud/vendor-data', A)).body).toBe(VENDOR);
    expect((await get('/openstack/latest/vendor_data.json', A)).json()).toEqual({ 'cloud-init': VENDOR });
    expect((await get('/openstack/2013-04-04/vendor_data.json', B)).json()).toEqual({ 'cloud-init': VENDOR });
    expect((await get('/openstack/latest/vendor_data2.json', A)).json()).toEqual({});
  });

  it('logs every request it answers at info, with VM, MAC, path and status; a refusal with its reason', async () => {
    lines.length = 0;
    await get('/nocloud/user-data', A);
    await get('/latest/user-data', B);
    await get('/nope', B);
    await get('/nocloud/meta-data', 'fd00:1:2:3::1234');
    const answered = lines.filter((l) => l.msg === 'metadata request' || l.msg === 'metadata: refused');
    expect(answered).toHaveLength(4);
    expect(answered.every((l) => l.level === 30)).toBe(true);
    expect(answered[0]).toMatchObject({ msg: 'metadata request', method: 'GET', path: '/nocloud/user-data', status: 200, vm: vms.get(MAC_A)!.instanceId, name: 'vm-a', mac: MAC_A });
    expect(answered[1]).toMatchObject({ path: '/latest/user-data', status: 404, vm: vms.get(MAC_B)!.instanceId, mac: MAC_B });
    expect(answered[2]).toMatchObject({ path: '/nope', status: 404, mac: MAC_B });
    expect(answered[3]).toMatchObject({ msg: 'metadata: refused', path: '/nocloud/meta-data', status: 403, why: 'no EUI-64 interface id in the source' });
    expect(JSON.stringify(lines)).not.toContain('a-only');
  });
});

describe('identity = prefix + interface id + arrival (pure)', () => {
  it('takes the MAC only from an address a NIC of the arrival network forms', () => {
    expect(claimedMac(slaacAddress(NET.prefix, MAC_A), NET)).toEqual({ mac: MAC_A });
    expect(claimedMac(`${linkLocalAddress(MAC_A)}%br-u1`, NET)).toEqual({ mac: MAC_A });
    // written differently, same address
    expect(claimedMac(slaacAddress(NET.prefix, MAC_A).toUpperCase().replace('FD00:1:2:3:', 'fd00:0001:0002:0003:'), NET)).toEqual({ mac: MAC_A });
    for (const source of [
      slaacAddress(OTHER_NET.prefix, MAC_A),
      `${linkLocalAddress(MAC_A)}%br-u2`,
      linkLocalAddress(MAC_A),
      `${slaacAddress(NET.prefix, MAC_A)}%br-u1`,
      'fd00:1:2:3::1',
      '10.0.0.1',
      '',
    ]) {
      expect(claimedMac(source, NET), source).toHaveProperty('refused');
    }
  });

  it('wants the NIC with that MAC on the arrival VNI and /64', () => {
    expect(nicOnArrival(nicOn(MAC_A, NET), MAC_A, NET)).toBe(true);
    expect(nicOnArrival([{ mac: MAC_A, vni: 7, prefix: 'fd00:1:2:3:0::/64' }], MAC_A, NET)).toBe(true);
    expect(nicOnArrival(nicOn(MAC_A, NET), MAC_B, NET)).toBe(false);
    expect(nicOnArrival(nicOn(MAC_A, OTHER_NET), MAC_A, NET)).toBe(false);
    expect(nicOnArrival([{ mac: MAC_A, vni: 7, prefix: OTHER_NET.prefix }], MAC_A, NET)).toBe(false);
    expect(nicOnArrival([{ mac: MAC_A, vni: 8, prefix: NET.prefix }], MAC_A, NET)).toBe(false);
  });
});
