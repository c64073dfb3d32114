import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Image, Network, Vm } from '../../src/model/index.js';
import { GiB, ROOT, TestCluster, until } from '../helpers/cluster.js';
import { ssh, sshSession } from '../helpers/ssh.js';

// A resolver nobody answers on: the guest only has to be told about it.
const RESOLVER = '2001:db8:53::53';
const DISK = 4 * GiB;

// Issue 8: a stock Debian 12 cloud image (Debian's packages, Debian's own
// /etc/cloud, nothing of ucloud inside) uploaded, imported and booted as a user
// would, contextualised by its own cloud-init from the SMBIOS NoCloud-net seed;
// and the same image in a VM with no NIC at all, whose only seed is the agent's
// cidata disk (no SSH without a network: its user-data reports on the serial
// console what cloud-init made of the seed). The two boot at once: each is a
// couple of minutes of TCG, and one after the other in two files the second
// used to be the last file of the whole run.
describe('a stock Debian 12 cloud image: upload, import, boot, and it just works; without a network, from the cidata disk', () => {
  let c: TestCluster;
  let alice = '';
  let bob = '';
  let aliceVm: Vm | undefined;
  let aliceNet: Network | undefined;
  let image = '';
  let offlineAt = 0;
  const key = () => join(c.dir, 'alice_ed25519');
  const as = (token: string) => ({ UCLOUD_TOKEN: token });
  const json = async <T>(args: string[], token: string): Promise<T> => {
    const r = await c.cli([...args, '-o', 'json'], as(token));
    if (r.code !== 0) throw new Error(`ucloud ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  };

  beforeAll(async () => {
    // Built once per machine into ~/.cache/ucloud (minutes), then reused (a hash of the script names it).
    const t0 = Date.now();
    image = execFileSync('bash', [join(ROOT, 'guest', 'build-debian-image.sh'), '--cached'], { stdio: ['ignore', 'pipe', 'inherit'] }).toString().trim();
    console.log(`[stock-cloud-image] image ${image} ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    c = await TestCluster.start();
    // Room for alice's two 2-vCPU stock VMs and, beside them, bob's small test-image VM.
    await c.bootstrap({ guestImage: inject('guestImage'), hosts: [{ name: 'hv1', cpu: 6, ram: 4 * GiB, disk: 20 * GiB }] });
    alice = (await c.managers().users.create('alice', 'user')).token;
    bob = (await c.managers().users.create('bob', 'user')).token;
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'alice', '-f', key()]);
    await Promise.all((['api', 'scheduler', 'host', 'metadata', 'filescanner', 'imagescanner'] as const).map((d) => c.spawn(d).ready));
  }, 1_200_000);
  afterAll(async () => {
    await c?.stop();
  });

  it('SSH as debian with the owner key; hostname is the VM name; user-data ran; / grown to the disk; the network resolver configured', async () => {
    await json(['key', 'add', 'laptop', '--file', `${key()}.pub`], alice);
    // As a user would: upload through the API, import without naming a store.
    const t0 = Date.now();
    const up = await c.cli(['file', 'upload', image, '--name', 'debian-12-genericcloud-amd64.qcow2', '--wait'], as(alice));
    expect(up.code, up.stderr).toBe(0);
    const img = await json<Image>(['image', 'create', 'debian12', '--from-file', 'debian-12-genericcloud-amd64.qcow2', '--wait'], alice);
    expect(img.status).toBe('ready');
    console.log(`[stock-cloud-image] upload + import of ${(statSync(image).size / 2 ** 20).toFixed(0)} MiB in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    // The VM without a network, booting beside web1; checked by the last test.
    const report = [
      '#cloud-config',
      'runcmd:',
      // `cloud-init query` reads what the datasource found; the console is the only way out of a VM without a network.
      '  - [sh, -c, \'echo "CIDATA-REPORT host=$(hostname) ds=$(cloud-init query platform) sub=$(cloud-init query subplatform | tr -d " ") keys=$(cut -d" " -f3 /home/debian/.ssh/authorized_keys | tr "\\n" ,)" > /dev/ttyS0\']',
      '',
    ].join('\n');
    offlineAt = Date.now();
    await c.client(alice).vms.create({ name: 'offline1', image: 'debian12', cpu: 2, ram: '1GiB', disk: '4GiB', networks: [], userData: report });
    const lab = await json<Network>(['network', 'create', 'lab', '--dns', RESOLVER], alice);

    const userData = join(c.dir, 'cloud-config.yaml');
    writeFileSync(userData, '#cloud-config\nruncmd:\n  - [sh, -c, "echo user-data-ran > /var/tmp/ucloud-marker"]\n');
    const t1 = Date.now();
    const vm = await json<Vm>(['vm', 'create', 'web1', '--image', 'debian12', '--network', 'lab', '--cpu', '2', '--ram', '1GiB', '--os-ssd', '4GiB', '--user-data', userData, '--wait'], alice);
    aliceVm = vm;
    aliceNet = lab;
    const address = vm.nics![0]!.address;
    expect(address.startsWith(lab.prefix.replace('::/64', ':'))).toBe(true);
    await until('ssh as debian', async () => (await ssh(key(), address, 'true', { user: 'debian', timeoutMs: 15_000 })).code === 0, 600_000, 1000);
    console.log(`[stock-cloud-image] vm create -> first ssh as debian: ${((Date.now() - t1) / 1000).toFixed(1)} s`);

    // One boot, one login: everything cloud-init did, once it says it is done.
    const r = await sshSession(
      key(),
      address,
      // --wait prints dots while it waits, then the final "status: ..." line: one Python start under TCG, not two.
      'echo "status=$(cloud-init status --wait | sed -n "s/^status: //p")"; echo "hostname=$(hostname)"; echo "marker=$(cat /var/tmp/ucloud-marker)"; ' +
        'echo "rootsize=$(df -B1 --output=size / | tail -n 1 | tr -d " ")"; echo "root=$(findmnt -no SOURCE /)"; echo "sudo=$(sudo -n true 2>&1 && echo ok)"; ' +
        'echo "--- resolvectl"; resolvectl dns 2>&1; echo "--- resolv.conf"; cat /etc/resolv.conf',
      { user: 'debian', timeoutMs: 300_000 },
    );
    expect(r.code, r.out).toBe(0);
    const field = (name: string) => new RegExp(`^${name}=(.*)$`, 'm').exec(r.out)?.[1];
    expect(field('status'), r.out).toBe('done');
    expect(field('hostname')).toBe('web1');
    expect(field('marker')).toBe('user-data-ran');
    // sudo without a password and no "unable to resolve host" (manage_etc_hosts from vendor-data)
    expect(field('sudo')).toBe('ok');
    // The image's root is ~2 GiB; grown (partition + ext4) to the 4 GiB disk, less the 65 MiB before it and ext4's own overhead.
    const rootSize = Number(field('rootsize'));
    expect(field('root')).toBe('/dev/vda2');
    expect(rootSize).toBeGreaterThan(DISK * 0.9);
    expect(rootSize).toBeLessThanOrEqual(DISK);
    // The network's resolver, from vendor-data (and RDNSS), in the guest's resolver configuration.
    expect(r.out.split('--- resolvectl')[1]).toContain(RESOLVER);
  }, 900_000);

  it("another user's VM on the same host gets its own seed, never this VM's user-data or keys", async () => {
    expect(aliceVm?.status).toBe('running');
    const bobKey = join(c.dir, 'bob_ed25519');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'bob', '-f', bobKey]);
    await json(['key', 'add', 'bobkey', '--file', `${bobKey}.pub`], bob);
    const own = await json<Network>(['network', 'create', 'own'], bob);
    const vm = await json<Vm>(['vm', 'create', 'spy', '--image', 'ucloud-test', '--network', 'own', '--ram', '128MiB', '--wait'], bob);
    expect(vm.host).toBe(aliceVm!.host);
    const address = vm.nics![0]!.address;
    await until('ssh into bob\'s VM', async () => (await ssh(bobKey, address, 'true', { timeoutMs: 15_000 })).code === 0, 300_000, 500);
    // From inside bob's guest: its own network's metadata server, then alice's.
    const get = (url: string) => `echo "--- ${url}"; timeout 10 wget -q -O - '${url}'; rc=$?; echo; echo "rc=$rc"`;
    const mine = own.prefix.replace('::/64', '::1');
    const hers = aliceNet!.prefix.replace('::/64', '::1');
    const r = await sshSession(bobKey, address, [get(`http://[${mine}]/nocloud/meta-data`), get(`http://[${mine}]/nocloud/user-data`), get(`http://[${hers}]/nocloud/user-data`), get(`http://[${hers}]/nocloud/meta-data`)].join('; '), { timeoutMs: 120_000 });
    expect(r.code, r.out).toBe(0);
    const part = (url: string) => r.out.split(`--- ${url}`)[1]!.split('--- ')[0]!;
    const ownMeta = part(`http://[${mine}]/nocloud/meta-data`);
    expect(ownMeta).toContain(vm.id);
    expect(ownMeta).toContain(readFileSync(`${bobKey}.pub`, 'utf8').split(' ')[1]);
    expect(part(`http://[${mine}]/nocloud/user-data`).trim()).toBe('rc=0'); // bob gave no user-data: empty
    // Alice's network's server is not reachable from bob's VM at all.
    expect(part(`http://[${hers}]/nocloud/user-data`)).not.toMatch(/rc=0/);
    expect(part(`http://[${hers}]/nocloud/meta-data`)).not.toMatch(/rc=0/);
    const alicePub = readFileSync(`${key()}.pub`, 'utf8').split(' ')[1]!;
    expect(r.out).not.toContain('user-data-ran');
    expect(r.out).not.toContain(alicePub);
    expect(r.out).not.toContain(aliceVm!.id);
  }, 600_000);

  it("with no network, cloud-init finds NoCloud on the cidata disk: the VM's name, its owner's key for debian, its user-data", async () => {
    expect(offlineAt).toBeGreaterThan(0);
    const vm = await until('offline1 running', async () => {
      const v = await c.client(alice).vms.get('offline1');
      return v.status === 'running' && v.qemu ? v : undefined;
    }, 120_000, 250);
    expect(vm.nics ?? []).toEqual([]);
    const serial = (v: Vm) => (existsSync(v.qemu!.serialLog) ? readFileSync(v.qemu!.serialLog, 'utf8') : '');
    const line = await until('the guest reported', () => /CIDATA-REPORT (.*)/.exec(serial(vm))?.[1], 600_000, 1000);
    console.log(`[stock-cloud-image] offline1: vm create -> cloud-init final report: ${((Date.now() - offlineAt) / 1000).toFixed(1)} s: ${line}`);
    expect(line).toContain('host=offline1');
    expect(line).toContain('ds=nocloud');
    expect(line).toMatch(/sub=config-disk\(\/dev\/vd[b-z]\)/);
    expect(line).toContain('keys=alice,');
  }, 900_000);
});
