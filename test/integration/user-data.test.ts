import { execFile, execFileSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { Client } from '../../src/client/client.js';
import type { UcloudError } from '../../src/common/errors.js';
import { formatIPv6, expandIPv6, linkLocalAddress, slaacAddress } from '../../src/common/eui64.js';
import { renderVendorData, resolversScript } from '../../src/managers/cloud-seed.js';
import { ensureBridge, removeBridge } from '../../src/host/network/bridge.js';
import { Ip } from '../../src/host/network/ip.js';
import type { Network, Vm } from '../../src/model/index.js';
import { Keys, Kinds } from '../../src/store/keys.js';
import { cloudInitCode, SYSTEM_PYTHON, type CloudInitCode } from '../helpers/cloud-init.js';
import { TestCluster, until, type Daemon } from '../helpers/cluster.js';
import { guestNs, IP, removeNs } from '../helpers/guest-ns.js';
import { freePort } from '../helpers/ports.js';
import { SCHEDULER_ACTOR } from '../../src/model/vm-lifecycle.js';

// user-data end to end on real parts: the real API (and CLI) store it under
// its own key in the VM's create transaction; the real metadata daemon serves
// it on the NoCloud, OpenStack and EC2 paths only to the VM whose NIC asks,
// from a network namespace on a real bridge; cloud-init 22.4's own code reads
// the seed from there and consumes it; deleting the VM deletes the key.

const sh = promisify(execFile);
const canNetns = process.getuid?.() === 0 && IP !== undefined && existsSync('/usr/bin/curl');

const SECRET = `secret-${randomBytes(6).toString('hex')}`;
const USER_DATA = `#cloud-config
runcmd:
  - [sh, -c, 'echo ucloud-user-data-marker > /var/tmp/marker']
write_files:
  - path: /etc/motd
    content: "${SECRET}"
`;

// Storing, refusing and deleting user-data needs no network namespace: those
// tests always run; what the metadata daemon serves runs where one can be made.
describe('user-data and vendor-data (real API, etcd, metadata daemon, cloud-init 22.4)', () => {
  const tag = randomBytes(2).toString('hex');
  const vniBase = 16_000_100 + randomInt(0, 99_000);
  const pool = `fd${randomBytes(1).toString('hex')}:${randomBytes(2).toString('hex')}:${randomBytes(2).toString('hex')}::/48`;
  const ns = { a: `ucud-${tag}-a`, b: `ucud-${tag}-b` };
  const near = { a: `uud${tag}a`, b: `uud${tag}b` };
  const hostIp = new Ip();
  const CLUSTER_DNS = '2001:db8:53::1';
  const LAB_DNS = ['2001:db8:53::a', '2001:db8:53::b'];
  let c: TestCluster;
  let metadata: Daemon;
  let port = 0;
  let alice: Client;
  let bob: Client;
  let aliceToken = '';
  let netA: Network;
  let netB: Network;
  let vmA: Vm;
  let vmB: Vm;
  let keyA = '';
  let keyB = '';
  let ci: CloudInitCode;
  const work = mkdtempSync(join(tmpdir(), 'ucloud-ud-'));

  const bridge = (n: Network) => `ucbr${n.vni}`;
  const gateway = (n: Network) => formatIPv6([...expandIPv6(n.prefix.split('/')[0]!)!.slice(0, 4), 0, 0, 0, 1]);
  const macOf = (vm: Vm) => vm.nics![0]!.mac;
  /** Everything stored but the audit log (the API daemon records refused requests as events). */
  const revision = () => c.stateOutsideEvents();
  /** The etcd revision: any write anywhere moves it. */
  const etcdRevision = async () => (await c.store.list(Kinds.meta, 'no-such-prefix/')).revision;
  const codeOf = async (p: Promise<unknown>) => p.then(() => 'no error', (e: UcloudError) => e.code);

  /** GET from inside a guest namespace, from its VM's global SLAAC address unless `from` says otherwise: status and body. */
  async function get(who: keyof typeof ns, net: Network, path: string, from = slaacAddress(net.prefix, macOf(who === 'a' ? vmA : vmB))): Promise<{ status: number; body: string }> {
    const url = `http://[${gateway(net)}]:${port}${path}`;
    const { stdout } = await sh(IP!, ['netns', 'exec', ns[who], 'curl', '-sg', '-m', '10', '--interface', from, '-w', '\n%{http_code}', url], { encoding: 'utf8' });
    const cut = stdout.lastIndexOf('\n');
    return { status: Number(stdout.slice(cut + 1)), body: stdout.slice(0, cut) };
  }

  function sshKey(name: string): string {
    const file = join(work, name);
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `${name}@test`, '-f', file]);
    return readFileSync(`${file}.pub`, 'utf8').trim();
  }

  /** Runs test/helpers/cloud-init-seed.py: in guest namespace `from` against the server, or on a seed given on stdin. */
  async function cloudInit(opts: { from: keyof typeof ns; url: string } | { seed: { md: unknown; ud: string; vd: string } }): Promise<SeedResult> {
    const scratch = mkdtempSync(join(work, 'ci-'));
    const env = { PATH: process.env.PATH, PYTHONPATH: ci.pythonPath, HOME: scratch };
    const args = ci.seedArgs(scratch, 'url' in opts ? opts.url : undefined);
    const run =
      'from' in opts
        ? sh(IP!, ['netns', 'exec', ns[opts.from], SYSTEM_PYTHON, ...args], { env, encoding: 'utf8', timeout: 60_000 })
        : new Promise<{ stdout: string }>((resolve, reject) => {
            const child = execFile(SYSTEM_PYTHON, args, { env, encoding: 'utf8', timeout: 60_000 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve({ stdout })));
            child.stdin!.end(JSON.stringify(opts.seed));
          });
    return JSON.parse((await run).stdout) as SeedResult;
  }

  beforeAll(async () => {
    c = await TestCluster.start();
    await c.bootstrap({ guestImage: c.tinyImage() });
    const m = c.managers();
    aliceToken = (await m.users.create('alice', 'user')).token;
    const bobToken = (await m.users.create('bob', 'user')).token;
    c.env.UCLOUD_VNI_RANGE = `${vniBase}-${vniBase + 20}`;
    c.env.UCLOUD_IPV6_POOL = pool;
    c.env.UCLOUD_DNS_RESOLVERS = CLUSTER_DNS;
    await c.spawn('api').ready;
    alice = c.client(aliceToken);
    bob = c.client(bobToken);
    keyA = sshKey('alice');
    keyB = sshKey('bob');
    await alice.keys.add('laptop', keyA);
    await bob.keys.add('laptop', keyB);
    netA = await alice.networks.create('lab', { resolvers: LAB_DNS });
    netB = await bob.networks.create('home');
    const spec = { name: 'web1', image: 'ucloud-test', cpu: 1, ram: '128MiB', disk: '1GiB' };
    vmA = await alice.vms.create({ ...spec, networks: ['lab'], userData: USER_DATA });
    // bob's VM has the same name, on the same host, and no user-data
    vmB = await bob.vms.create({ ...spec, networks: ['home'] });
    if (!canNetns) return;

    ci = cloudInitCode();
    for (const n of [netA, netB]) await ensureBridge(hostIp, bridge(n), { globalAddress: `${gateway(n)}/64` });
    guestNs(ns.a, near.a, macOf(vmA), bridge(netA), [linkLocalAddress(macOf(vmA)), slaacAddress(netA.prefix, macOf(vmA))]);
    // bob's guest also holds alice's VM's EUI-64 inside bob's /64: a forgery to try
    guestNs(ns.b, near.b, macOf(vmB), bridge(netB), [linkLocalAddress(macOf(vmB)), slaacAddress(netB.prefix, macOf(vmB)), slaacAddress(netB.prefix, macOf(vmA))]);

    port = await freePort('::1');
    metadata = c.spawn('metadata', { UCLOUD_METADATA_PORT: String(port), UCLOUD_METADATA_RECHECK: '300ms' });
    await metadata.ready;
    await until(
      'the metadata server answers on both bridges',
      async () => {
        const answers = [await get('a', netA, '/v1/instance-id'), await get('b', netB, '/v1/instance-id')];
        if (answers.every((r) => r.status === 200)) return true;
        throw new Error(`${JSON.stringify(answers)}\n${metadata.stderr().slice(-1500)}`);
      },
      20_000,
      200,
    );
  }, 120_000);

  afterAll(async () => {
    await c?.stop();
    if (canNetns) for (const name of Object.values(ns)) removeNs(name);
    if (canNetns) for (const n of [netA, netB]) if (n) await removeBridge(hostIp, bridge(n)).catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
  });

  it('is stored under its own key by the create; the VM record only says that there is some', async () => {
    expect(vmA.hasUserData).toBe(true);
    expect(vmB.hasUserData).toBeUndefined();
    expect((await c.store.get(Kinds.userData, Keys.userData(vmA.id)))?.value).toEqual({ vmId: vmA.id, owner: 'alice', text: USER_DATA });
    expect(await c.store.get(Kinds.userData, Keys.userData(vmB.id))).toBeUndefined();
    // not in the record every cache and watch carries, nor in what the API shows
    expect(JSON.stringify((await c.store.get(Kinds.vm, Keys.vm(vmA.id)))!.value)).not.toContain(SECRET);
    expect(JSON.stringify(await alice.vms.get('web1'))).not.toContain(SECRET);
    expect(JSON.stringify(await alice.vms.list())).not.toContain(SECRET);
    // the same transaction: a create that fails (the name is taken) leaves no user-data behind
    const before = await revision();
    expect(await codeOf(alice.vms.create({ name: 'web1', image: 'ucloud-test', cpu: 1, ram: '128MiB', disk: '1GiB', networks: ['lab'], userData: '#!/bin/sh\necho other\n' }))).toBe('VM_NAME_TAKEN');
    expect(await revision()).toBe(before);
  });

  it('refuses user-data over 16384 bytes or not text, with its code, and stores nothing', async () => {
    const spec = { name: 'big', image: 'ucloud-test', cpu: 1, ram: '128MiB', disk: '1GiB' };
    const before = await revision();
    expect(await codeOf(alice.vms.create({ ...spec, userData: 'x'.repeat(16385) }))).toBe('USER_DATA_TOO_LARGE');
    expect(await codeOf(alice.vms.create({ ...spec, userData: 'é'.repeat(8193) }))).toBe('USER_DATA_TOO_LARGE');
    expect(await codeOf(alice.vms.create({ ...spec, userData: '#!/bin/sh\n\0echo\n' }))).toBe('USER_DATA_INVALID');
    // a lone surrogate has no UTF-8 form
    const raw = await fetch(`${c.apiUrl}/v1/vms`, {
      method: 'POST',
      headers: { authorization: `Bearer ${aliceToken}`, 'content-type': 'application/json' },
      body: `{"name":"big","image":"ucloud-test","cpu":1,"ram":"128MiB","disk":"1GiB","userData":"#cloud-config\\n# \\ud800\\n"}`,
    });
    expect(raw.status).toBe(400);
    expect(((await raw.json()) as { code: string }).code).toBe('USER_DATA_INVALID');
    // nothing at all: no VM, no key, not even alice's network "default"
    expect(await revision()).toBe(before);
    // exactly 16384 bytes is fine
    const max = await alice.vms.create({ ...spec, userData: `#!/bin/sh\n${'#'.repeat(16384 - 11)}\n` });
    expect(Buffer.byteLength((await c.store.get(Kinds.userData, Keys.userData(max.id)))!.value.text)).toBe(16384);
    await alice.vms.delete('big');
    expect(await c.store.get(Kinds.userData, Keys.userData(max.id))).toBeUndefined();
  });

  it('`vm create --user-data FILE` reads the file; bad files get the codes and store nothing', async () => {
    const env = { UCLOUD_TOKEN: aliceToken };
    const file = (name: string, content: string | Buffer) => {
      writeFileSync(join(work, name), content);
      return join(work, name);
    };
    const create = (name: string, f: string) => c.cli(['vm', 'create', name, '--image', 'ucloud-test', '--ram', '128MiB', '--network', 'lab', '--user-data', f], env);
    const before = await revision();
    const gz = await create('cli1', file('ud.gz', Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0xff, 0xfe])));
    expect(gz.code).toBe(2);
    expect(gz.stderr).toContain('USER_DATA_INVALID');
    const big = await create('cli1', file('big.yaml', `#cloud-config\n${'#'.repeat(20000)}\n`));
    expect(big.code).toBe(2);
    expect(big.stderr).toContain('USER_DATA_TOO_LARGE');
    const missing = await create('cli1', join(work, 'no-such-file'));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('VALIDATION_FAILED');
    expect(await revision()).toBe(before);
    const ok = await create('cli1', file('cloud-config.yaml', '#cloud-config\npackages: [htop]\n'));
    expect(ok.code, ok.stderr).toBe(0);
    const shown = await c.cli(['vm', 'show', 'cli1'], env);
    expect(shown.stdout).toMatch(/^user-data:\s+set$/m);
    expect(shown.stdout).not.toContain('htop');
    const vm = await alice.vms.get('cli1');
    expect((await c.store.get(Kinds.userData, Keys.userData(vm.id)))?.value.text).toBe('#cloud-config\npackages: [htop]\n');
    await alice.vms.delete('cli1');
  });

  it.skipIf(!canNetns)("serves the VM's user-data on the NoCloud, OpenStack and EC2 paths, and ucloud's vendor-data", async () => {
    for (const path of ['/nocloud/user-data', '/openstack/latest/user_data', '/openstack/2018-08-27/user_data', '/latest/user-data', '/2009-04-04/user-data', '/2021-03-23/user-data']) {
      const r = await get('a', netA, path);
      expect(r.status, path).toBe(200);
      expect(r.body, path).toBe(USER_DATA);
    }
    const vd = await get('a', netA, '/nocloud/vendor-data');
    expect(vd.body).toBe(renderVendorData({ resolvers: LAB_DNS }));
    const os = await get('a', netA, '/openstack/latest/vendor_data.json');
    expect(JSON.parse(os.body)).toEqual({ 'cloud-init': vd.body });
    expect(parseYaml((await get('a', netA, '/nocloud/meta-data')).body)).toMatchObject({ 'instance-id': vmA.id, 'local-hostname': 'web1', 'public-keys': [keyA] });
  });

  it.skipIf(!canNetns)("another user's VM on the same host gets its own: no user-data, its own keys, never this VM's", async () => {
    const answers: { path: string; status: number; body: string }[] = [];
    for (const path of ['/nocloud/user-data', '/openstack/latest/user_data', '/latest/user-data', '/nocloud/meta-data', '/nocloud/vendor-data', '/openstack/latest/meta_data.json', '/latest/meta-data/public-keys/0/openssh-key']) {
      answers.push({ path, ...(await get('b', netB, path)) });
    }
    const at = (p: string) => answers.find((a) => a.path === p)!;
    expect(at('/nocloud/user-data')).toMatchObject({ status: 200, body: '' });
    expect(at('/openstack/latest/user_data').status).toBe(404);
    expect(at('/latest/user-data').status).toBe(404);
    expect(parseYaml(at('/nocloud/meta-data').body)).toMatchObject({ 'instance-id': vmB.id, 'public-keys': [keyB] });
    // bob's network names no resolvers: the cluster default
    expect(at('/nocloud/vendor-data').body).toBe(renderVendorData({ resolvers: [CLUSTER_DNS] }));
    for (const a of answers) {
      expect(a.body, a.path).not.toContain(SECRET);
      expect(a.body, a.path).not.toContain(keyA.split(' ')[1]!.slice(0, 40));
      expect(a.body, a.path).not.toContain(vmA.id);
    }
    // bob's guest sending from alice's VM's EUI-64 (inside bob's /64): refused, nothing of alice's
    for (const path of ['/nocloud/user-data', '/openstack/latest/user_data', '/latest/user-data', '/nocloud/meta-data']) {
      const forged = await get('b', netB, path, slaacAddress(netB.prefix, macOf(vmA)));
      expect(forged.status, path).toBe(403);
      expect(forged.body).not.toContain(SECRET);
      expect(forged.body).not.toContain(keyA.split(' ')[1]!.slice(0, 40));
    }
  });

  it.skipIf(!canNetns)("cloud-init 22.4's own NoCloud-net reader and consumer take the seed: user-data, vendor cloud-config and the resolvers script", async () => {
    const r = await cloudInit({ from: 'a', url: `http://[${gateway(netA)}]:${port}/nocloud/` });
    expect(r.instanceId).toBe(vmA.id);
    expect(r.localHostname).toBe('web1');
    expect(r.publicKeys).toEqual([keyA]);
    expect(r.userdata).toBe(USER_DATA);
    expect(r.cfg).toMatchObject({
      preserve_hostname: false,
      manage_etc_hosts: true,
      growpart: { mode: 'auto', devices: ['/'] },
      resize_rootfs: true,
      ssh_pwauth: false,
      // the user's own keys stay the user's
      runcmd: [['sh', '-c', 'echo ucloud-user-data-marker > /var/tmp/marker']],
      write_files: [{ path: '/etc/motd', content: expect.stringContaining(SECRET) }],
    });
    expect(Object.keys(r.vendorScripts)).toEqual(['ucloud-resolvers.sh']);
    expect(r.vendorScripts['ucloud-resolvers.sh']).toContain(`ns='${LAB_DNS.join(' ')}'`);
  }, 90_000);

  it.skipIf(!canNetns)("user-data wins over vendor-data key by key, and `vendor_data: {enabled: false}` turns ucloud's off", async () => {
    const md = { 'instance-id': 'iid-x', 'local-hostname': 'x' };
    const vd = renderVendorData({ resolvers: LAB_DNS });
    const own = await cloudInit({ seed: { md, ud: '#cloud-config\nssh_pwauth: true\nbootcmd: [[true]]\nruncmd: [[true]]\n', vd } });
    expect(own.cfg).toMatchObject({ ssh_pwauth: true, manage_etc_hosts: true, resize_rootfs: true });
    // the resolvers are a script part: a user's runcmd/bootcmd/write_files cannot drop them
    expect(Object.keys(own.vendorScripts)).toEqual(['ucloud-resolvers.sh']);
    const off = await cloudInit({ seed: { md, ud: '#cloud-config\nvendor_data: {enabled: false}\n', vd } });
    expect(off.vendorScripts).toEqual({});
    expect(off.cfg.manage_etc_hosts ?? null).toBeNull();
    expect(off.cfg.ssh_pwauth ?? null).toBeNull();
    // a #! script as user-data: ours still applies
    const script = await cloudInit({ seed: { md, ud: '#!/bin/sh\necho hi\n', vd } });
    expect(Object.keys(script.userScripts)).toHaveLength(1);
    expect(script.cfg).toMatchObject({ ssh_pwauth: false, manage_etc_hosts: true });
  }, 90_000);

  describe.skipIf(!canNetns)('the resolvers script, as cloud-init writes it, in a private mount namespace over a scratch /etc', () => {
    /** Runs the script with `etc` as /etc and a fake systemctl that records its arguments. */
    async function runScript(etc: string): Promise<string> {
      const bin = mkdtempSync(join(work, 'bin-'));
      writeFileSync(join(bin, 'systemctl'), `#!/bin/sh\necho "$*" >> ${bin}/systemctl.calls\n`);
      chmodSync(join(bin, 'systemctl'), 0o755);
      const script = join(work, `resolvers-${randomBytes(3).toString('hex')}.sh`);
      writeFileSync(script, resolversScript(LAB_DNS));
      writeFileSync(join(etc, '.ucloud-scratch-etc'), '');
      // the marker check: never let the script near this machine's own /etc
      await sh('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', 'mount --bind "$1" /etc && [ -e /etc/.ucloud-scratch-etc ] && PATH="$2:$PATH" sh "$3"', 'sh', etc, bin, script]);
      return existsSync(join(bin, 'systemctl.calls')) ? readFileSync(join(bin, 'systemctl.calls'), 'utf8') : '';
    }

    it('rewrites a plain /etc/resolv.conf, keeping search and options', async () => {
      const etc = mkdtempSync(join(work, 'etc-'));
      writeFileSync(join(etc, 'resolv.conf'), 'domain example.org\nsearch example.org\nnameserver 10.0.0.53\noptions edns0 trust-ad\n');
      expect(await runScript(etc)).toBe('');
      expect(readFileSync(join(etc, 'resolv.conf'), 'utf8')).toBe(
        "# written once by ucloud vendor-data: the network's resolvers\nnameserver 2001:db8:53::a\nnameserver 2001:db8:53::b\ndomain example.org\nsearch example.org\noptions edns0 trust-ad\n",
      );
    });

    it("writes a systemd-resolved drop-in and restarts it when /etc/resolv.conf is resolved's stub", async () => {
      const etc = mkdtempSync(join(work, 'etc-'));
      symlinkSync('../run/systemd/resolve/stub-resolv.conf', join(etc, 'resolv.conf'));
      expect(await runScript(etc)).toBe('try-restart systemd-resolved.service\n');
      expect(readFileSync(join(etc, 'systemd', 'resolved.conf.d', '50-ucloud.conf'), 'utf8')).toBe(
        "# written once by ucloud vendor-data: the network's resolvers\n[Resolve]\nDNS=2001:db8:53::a 2001:db8:53::b\n",
      );
    });
  });

  it.skipIf(!canNetns)('logs every request it answers at info: VM, MAC, path, status', async () => {
    const log = join(c.dir, 'log', 'metadata.log');
    const lines = await until(
      'the log lines of the requests above',
      () => {
        const all = readFileSync(log, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as Record<string, unknown>);
        const mine = all.filter((l) => l.msg === 'metadata request' && l.vm === vmA.id);
        return mine.some((l) => l.path === '/2021-03-23/user-data') && all.some((l) => l.msg === 'metadata: refused' && l.status === 403) && all;
      },
      10_000,
    );
    const ud = lines.find((l) => l.msg === 'metadata request' && l.vm === vmA.id && l.path === '/nocloud/user-data');
    expect(ud).toMatchObject({ level: 30, name: 'web1', owner: 'alice', mac: macOf(vmA), status: 200, method: 'GET' });
    expect(lines.find((l) => l.vm === vmB.id && l.path === '/latest/user-data')).toMatchObject({ level: 30, status: 404, mac: macOf(vmB) });
    expect(lines.find((l) => l.msg === 'metadata: refused' && l.path === '/nocloud/user-data')).toMatchObject({ level: 30, status: 403, why: expect.any(String) });
    // the log never holds the user-data itself
    expect(readFileSync(log, 'utf8')).not.toContain(SECRET);
  });

  it("a placed VM's user-data goes in finalizeDelete's one transaction with the record (the agent's delete, the scheduler's dead-host delete)", async () => {
    const m = c.managers();
    const placed = await alice.vms.create({ name: 'placed', image: 'ucloud-test', cpu: 1, ram: '128MiB', disk: '1GiB', networks: ['lab'], userData: '#cloud-config\n# placed\n' });
    const rec = (await c.store.get(Kinds.vm, Keys.vm(placed.id)))!;
    const host = `ud-host-${tag}`;
    expect(await m.vmsAs(SCHEDULER_ACTOR).assign(rec, host, await c.store.get(Kinds.hostAlloc, Keys.hostAlloc(host)))).toBe(true);
    // Placed: the API's delete only asks; the record and its user-data stay until the host's side is gone.
    expect((await alice.vms.delete('placed'))?.desired).toBe('deleted');
    expect(await c.store.get(Kinds.userData, Keys.userData(placed.id))).toBeDefined();
    // The API writes its audit events after its answers: listing them waits until they are (so none lands in the count below).
    await alice.events.list({ vm: placed.id });
    const before = await etcdRevision();
    await m.vmsAs(SCHEDULER_ACTOR).finalizeDelete(placed.id);
    expect(await etcdRevision()).toBe(String(BigInt(before) + 1n)); // one transaction: never a record without its user-data or the reverse
    expect(await c.store.get(Kinds.vm, Keys.vm(placed.id))).toBeUndefined();
    expect(await c.store.get(Kinds.userData, Keys.userData(placed.id))).toBeUndefined();
    expect(await c.store.get(Kinds.vmName, Keys.vmName('alice', 'placed'))).toBeUndefined();
    expect((await c.store.get(Kinds.hostAlloc, Keys.hostAlloc(host)))?.value.vms[placed.id]).toBeUndefined();
    // Again (a second agent pass, the scheduler racing it): nothing left to do, nothing else removed.
    await m.vmsAs(SCHEDULER_ACTOR).finalizeDelete(placed.id);
    expect(await c.store.get(Kinds.userData, Keys.userData(vmA.id))).toBeDefined();
  });

  it('deleting the VM deletes its user-data, and the server then has nothing for that MAC', async () => {
    expect(await alice.vms.delete('web1')).toBeUndefined(); // never placed: gone at once
    expect(await c.store.get(Kinds.vm, Keys.vm(vmA.id))).toBeUndefined();
    expect(await c.store.get(Kinds.userData, Keys.userData(vmA.id))).toBeUndefined();
    expect((await c.store.list(Kinds.userData, 'user-data/')).items).toEqual([]);
    if (!canNetns) return;
    const r = await get('a', netA, '/nocloud/user-data');
    expect(r.status).toBe(403);
    expect(r.body).not.toContain(SECRET);
  });
});

interface SeedResult {
  metadata: Record<string, unknown>;
  userdata: string;
  vendordata: string;
  cfg: Record<string, unknown>;
  userScripts: Record<string, string>;
  vendorScripts: Record<string, string>;
  localHostname: string;
  instanceId: string;
  publicKeys: string[];
}
