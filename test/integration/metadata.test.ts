import { execFile, execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { createLogger } from '../../src/common/logger.js';
import { expandIPv6, formatIPv6, linkLocalAddress, slaacAddress } from '../../src/metadata/eui64.js';
import { buildMetadataServer, EC2_VERSIONS, OPENSTACK_VERSIONS, type MetadataVm } from '../../src/metadata/server.js';

const root = join(import.meta.dirname, '..', '..');
const log = createLogger({ component: 'metadata-test', level: 'warn', stderr: false });

// Two VMs, one MAC each, with real keys from ssh-keygen.
const MAC_A = '02:75:63:00:00:0a';
const MAC_B = '02:75:63:00:00:0b';
const MAC_NOBODY = '02:75:63:00:00:99';
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
  [MAC_A, { instanceId: 'c0ffee00-0000-4000-8000-00000000000a', hostname: 'vm-a', owner: 'alice', publicKeys: [{ name: 'laptop', key: KEY_A }] }],
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
  expect(body).not.toMatch(/vm-a|vm-b|c0ffee/);
}

afterAll(() => rmSync(keyDir, { recursive: true, force: true }));

// ------------------------------------------------------------------------
// Real sockets: a veth pair into a network namespace. The host end carries
// the server's addresses (fe80::1 and <prefix>::1); the "guest" end carries
// the SLAAC addresses of VM A and VM B, one of a MAC no VM has, and a non
// EUI-64 one. A small Node client inside the namespace binds to each of them.
// ------------------------------------------------------------------------
const IP = ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip'].find((p) => existsSync(p));
const canNetns = process.getuid?.() === 0 && IP !== undefined && existsSync('/usr/bin/busybox');

const CLIENT = `
import http from 'node:http';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
const out = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
createInterface({ input: process.stdin }).on('line', (line) => {
  const q = JSON.parse(line);
  const req = http.request({ host: q.host, port: q.port, path: q.path, method: q.method || 'GET', localAddress: q.localAddress, headers: q.headers, agent: false }, (res) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (d) => (body += d));
    res.on('end', () => out({ id: q.id, status: res.statusCode, body }));
  });
  req.on('error', (e) => out({ id: q.id, error: e.message }));
  req.end();
});
`;

describe.skipIf(!canNetns)('metadata server on real IPv6 sockets (netns, veth)', () => {
  const tag = `${process.pid % 100000}`;
  const ns = `ucmd-${tag}`;
  const hostIf = `umd${tag}h`;
  const guestIf = `umd${tag}g`;
  const prefix = `fd${randomBytes(1).toString('hex')}:${randomBytes(2).toString('hex')}:${randomBytes(2).toString('hex')}:7::/64`;
  const net = expandIPv6(prefix.split('/')[0]!)!.slice(0, 4);
  const serverGlobal = formatIPv6([...net, 0, 0, 0, 1]);
  const addr = {
    aGlobal: slaacAddress(prefix, MAC_A),
    aLink: linkLocalAddress(MAC_A),
    bGlobal: slaacAddress(prefix, MAC_B),
    bLink: linkLocalAddress(MAC_B),
    nobodyGlobal: slaacAddress(prefix, MAC_NOBODY),
    nonEui: formatIPv6([...net, 0, 0, 0, 0x1234]),
  };
  const servers: FastifyInstance[] = [];
  let port = 0;
  let loopPort = 0;
  let refuserPort = 0;
  let client: ChildProcessWithoutNullStreams | undefined;
  const pending = new Map<number, (r: { status?: number; body?: string; error?: string }) => void>();
  let nextId = 1;
  let bbDir = '';

  const ip = (...args: string[]) => execFileSync(IP!, args, { stdio: 'pipe' });

  async function get(from: string, to: string, path: string, init: { method?: string; headers?: Record<string, string> } = {}) {
    const id = nextId++;
    const done = new Promise<{ status?: number; body?: string; error?: string }>((resolve) => pending.set(id, resolve));
    client!.stdin.write(`${JSON.stringify({ id, host: to, port, path, localAddress: from, ...init })}\n`);
    const r = await done;
    if (r.error) throw new Error(`${from} → ${to}${path}: ${r.error}`);
    return { status: r.status!, body: r.body! };
  }

  beforeAll(async () => {
    ip('netns', 'add', ns);
    ip('link', 'add', hostIf, 'type', 'veth', 'peer', 'name', guestIf);
    ip('link', 'set', guestIf, 'netns', ns);
    ip('link', 'set', hostIf, 'addrgenmode', 'none');
    ip('addr', 'add', 'fe80::1/64', 'dev', hostIf, 'nodad');
    ip('addr', 'add', `${serverGlobal}/64`, 'dev', hostIf, 'nodad');
    ip('link', 'set', hostIf, 'up');
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    ip('-n', ns, 'link', 'set', guestIf, 'address', MAC_A, 'addrgenmode', 'none');
    // VM A's addresses are the preferred ones, so the kernel picks them as
    // source when nothing is bound (ucloud-init); the others are deprecated
    // (preferred_lft 0), which still lets a socket bind to them.
    ip('-n', ns, 'addr', 'add', `${addr.aLink}/64`, 'dev', guestIf, 'nodad');
    ip('-n', ns, 'addr', 'add', `${addr.aGlobal}/64`, 'dev', guestIf, 'nodad');
    for (const a of [addr.bLink, addr.bGlobal, addr.nobodyGlobal, addr.nonEui]) {
      ip('-n', ns, 'addr', 'add', `${a}/64`, 'dev', guestIf, 'nodad', 'preferred_lft', '0');
    }
    ip('-n', ns, 'link', 'set', guestIf, 'up');

    // One server instance per address, as a daemon would listen: loopback,
    // the link-local fe80::1 of the "bridge", and the network's own address.
    const ll = buildMetadataServer({ lookup, log });
    await ll.listen({ host: `fe80::1%${hostIf}`, port: 0 });
    port = (ll.server.address() as { port: number }).port;
    const global = buildMetadataServer({ lookup, log });
    await global.listen({ host: serverGlobal, port });
    const loop = buildMetadataServer({ lookup, log });
    await loop.listen({ host: '::1', port: 0 });
    loopPort = (loop.server.address() as { port: number }).port;
    // and one that knows no VM at all, on the same link-local address
    const refuser = buildMetadataServer({ lookup: async () => undefined, log });
    await refuser.listen({ host: `fe80::1%${hostIf}`, port: 0 });
    refuserPort = (refuser.server.address() as { port: number }).port;
    servers.push(ll, global, loop, refuser);

    client = spawn(IP!, ['netns', 'exec', ns, process.execPath, '--input-type=module', '-e', CLIENT], { stdio: 'pipe' });
    createInterface({ input: client.stdout }).on('line', (line) => {
      const r = JSON.parse(line) as { id: number; status?: number; body?: string; error?: string };
      pending.get(r.id)?.(r);
      pending.delete(r.id);
    });

    // busybox applets for the ucloud-init run (as in the test guest)
    bbDir = mkdtempSync(join(tmpdir(), 'ucloud-md-bb-'));
    for (const applet of ['sh', 'wget', 'timeout', 'hostname', 'grep', 'tail', 'mktemp', 'cp', 'mv', 'chmod', 'mkdir', 'cat', 'sleep', 'rm', 'pidof']) {
      symlinkSync('/usr/bin/busybox', join(bbDir, applet));
    }
  });

  afterAll(async () => {
    client?.kill();
    await Promise.all(servers.map((s) => s.close()));
    try {
      ip('netns', 'del', ns);
    } catch {
      /* already gone */
    }
    try {
      ip('link', 'del', hostIf);
    } catch {
      /* went with the namespace */
    }
    if (bbDir) rmSync(bbDir, { recursive: true, force: true });
  });

  it('answers VM A from its global EUI-64 address with its own keys only', async () => {
    const r = await get(addr.aGlobal, serverGlobal, '/v1/meta-data');
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toEqual({ instanceId: vms.get(MAC_A)!.instanceId, hostname: 'vm-a', publicKeys: [KEY_A] });
  });

  it('answers VM A from its link-local address (zone) the same', async () => {
    const r = await get(`${addr.aLink}%${guestIf}`, `fe80::1%${guestIf}`, '/v1/meta-data');
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body).publicKeys).toEqual([KEY_A]);
    const keys = await get(`${addr.aLink}%${guestIf}`, `fe80::1%${guestIf}`, '/v1/public-keys');
    expect(keys.body).toBe(`${KEY_A}\n`);
  });

  it("answers VM B with VM B's keys, never VM A's", async () => {
    for (const [from, to] of [
      [addr.bGlobal, serverGlobal],
      [`${addr.bLink}%${guestIf}`, `fe80::1%${guestIf}`],
    ] as const) {
      const r = await get(from, to, '/v1/meta-data');
      expect(r.status).toBe(200);
      const md = JSON.parse(r.body);
      expect(md.hostname).toBe('vm-b');
      expect(md.publicKeys).toEqual([KEY_B1, KEY_B2]);
      expect(r.body).not.toContain(blobOf(KEY_A));
      const h = await get(from, to, '/v1/hostname');
      expect(h.body).toBe('vm-b\n');
    }
  });

  it('refuses an EUI-64 address whose MAC no VM has: 403, no data', async () => {
    const r = await get(addr.nobodyGlobal, serverGlobal, '/v1/meta-data');
    expect(r.status).toBe(403);
    expect(JSON.parse(r.body).code).toBe('FORBIDDEN');
    noKeyMaterial(r.body);
    expect(lookups).toContain(MAC_NOBODY);
  });

  it('refuses a non-EUI-64 address without looking anything up', async () => {
    const before = lookups.length;
    for (const path of ['/v1/meta-data', '/openstack/latest/meta_data.json', '/latest/meta-data/public-keys/0/openssh-key', '/no/such/path']) {
      const r = await get(addr.nonEui, serverGlobal, path);
      expect(r.status, path).toBe(403);
      expect(JSON.parse(r.body)).toMatchObject({ code: 'FORBIDDEN' });
      noKeyMaterial(r.body);
    }
    expect(lookups.length).toBe(before);
  });

  it('refuses ::1 on the loopback listener', async () => {
    const res = await fetch(`http://[::1]:${loopPort}/v1/meta-data`);
    expect(res.status).toBe(403);
    noKeyMaterial(await res.text());
  });

  it('answers stock cloud-init paths over the link (OpenStack, EC2)', async () => {
    const from = addr.bGlobal;
    const versions = await get(from, serverGlobal, '/openstack');
    expect(versions.body.split('\n')).toContain('latest');
    const os = await get(from, serverGlobal, '/openstack/2018-08-27/meta_data.json');
    expect(JSON.parse(os.body).public_keys).toEqual({ laptop: KEY_B1, desk: KEY_B2 });
    const ec2 = await get(from, serverGlobal, '/2009-04-04/meta-data/public-keys/1/openssh-key');
    expect(ec2.body).toBe(KEY_B2);
    const token = await get(from, serverGlobal, '/latest/api/token', { method: 'PUT', headers: { 'X-aws-ec2-metadata-token-ttl-seconds': '60' } });
    expect(token.status).toBe(200);
    const withToken = await get(from, serverGlobal, '/latest/meta-data/instance-id', { headers: { 'X-aws-ec2-metadata-token': token.body } });
    expect(withToken.body).toBe(vms.get(MAC_B)!.instanceId);
    const stolen = await get(addr.aGlobal, serverGlobal, '/latest/meta-data/instance-id', { headers: { 'X-aws-ec2-metadata-token': token.body } });
    expect(stolen.status).toBe(401);
  });

  // The servers live in this process: the scripts run asynchronously so they can answer.
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
        UCLOUD_IFACE: guestIf,
        UCLOUD_METADATA_URL: `http://[fe80::1%${guestIf}]:${port}/`,
        UCLOUD_ROOT: guestRoot,
        UCLOUD_CONSOLE: join(guestRoot, 'console'),
        UCLOUD_HTTP_CLIENT: 'wget',
        UCLOUD_ADDR_TIMEOUT: '5',
        UCLOUD_FETCH_TRIES: '5',
      };
      const script = join(root, 'guest', 'ucloud-init');
      // its own UTS namespace: setting the hostname must not touch this machine's
      const run = async () => {
        const { stdout } = await sh(IP!, ['netns', 'exec', ns, 'unshare', '--uts', '/usr/bin/busybox', 'sh', '-c', `busybox sh "$0" && echo "HOSTNAME=$(hostname)"`, script], {
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
      expect(ak).toBe(`ssh-ed25519 AAAAhandmade user@elsewhere\n${KEY_A}\n`);
      expect(statSync(join(guestRoot, 'root', '.ssh', 'authorized_keys')).mode & 0o777).toBe(0o600);
      expect(statSync(join(guestRoot, 'root', '.ssh')).mode & 0o777).toBe(0o700);
      expect(readFileSync(join(guestRoot, 'etc', 'hostname'), 'utf8')).toBe('vm-a\n');
    } finally {
      rmSync(guestRoot, { recursive: true, force: true });
    }
  });

  it('guest/ucloud-init with curl says FAILED when the server refuses it', async () => {
    const guestRoot = mkdtempSync(join(tmpdir(), 'ucloud-md-guest-'));
    try {
      const { stdout: out } = await sh(
        IP!,
        ['netns', 'exec', ns, 'sh', '-c', `sh "$0" || echo "rc=$?"`, join(root, 'guest', 'ucloud-init')],
        {
          env: {
            PATH: '/usr/bin:/bin',
            UCLOUD_IFACE: guestIf,
            // a server that knows no VM: every try is a 403
            UCLOUD_METADATA_URL: `http://[fe80::1%${guestIf}]:${refuserPort}`,
            UCLOUD_ROOT: guestRoot,
            UCLOUD_CONSOLE: join(guestRoot, 'console'),
            UCLOUD_HTTP_CLIENT: 'curl',
            UCLOUD_ADDR_TIMEOUT: '1',
            UCLOUD_FETCH_TRIES: '2',
            UCLOUD_SET_HOSTNAME: '0',
          },
          encoding: 'utf8',
          timeout: 60_000,
        },
      );
      expect(readFileSync(join(guestRoot, 'console'), 'utf8')).toMatch(/^UCLOUD-INIT-FAILED no answer from the metadata server/);
      expect(out).toContain('rc=1');
      expect(existsSync(join(guestRoot, 'root', '.ssh', 'authorized_keys'))).toBe(false);
    } finally {
      rmSync(guestRoot, { recursive: true, force: true });
    }
  });
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
    app = buildMetadataServer({ lookup, log });
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
      ['unknown MAC', linkLocalAddress(MAC_NOBODY)],
    ])('%s → 403 without data', async (_why, remoteAddress) => {
      for (const url of ['/', '/v1/meta-data', '/openstack/latest/meta_data.json', '/latest/meta-data/', '/nocloud/meta-data', '/nope']) {
        const r = await get(url, remoteAddress);
        expect(r.statusCode, url).toBe(403);
        expect(r.json()).toMatchObject({ code: 'FORBIDDEN' });
        expect(Object.keys(r.json()).sort()).toEqual(['code', 'message']);
        noKeyMaterial(r.body);
      }
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
      const broken = buildMetadataServer({ lookup: async () => Promise.reject(new Error('etcd said no at 10.1.2.3')), log });
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
        }),
        log,
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
      const bare = buildMetadataServer({ lookup: async () => ({ instanceId: 'i-bare', hostname: 'bare', owner: 'dave', publicKeys: [] }), log });
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
