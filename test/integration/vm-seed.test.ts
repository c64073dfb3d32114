import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Network, SshKey, Vm } from '../../src/model/index.js';
import { TestCluster, until } from '../helpers/cluster.js';

// How the host agent tells a VM's stock cloud-init where its seed is, on real
// parts (etcd, API, scheduler, host agent, QEMU under TCG): the SMBIOS serial
// for a VM with a network, a read-only cidata disk for one without.

/** A running QEMU's argv. */
function argvOf(pid: number): string[] {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, -1);
}
const valuesOf = (argv: string[], flag: string) => argv.flatMap((a, i) => (a === flag ? [argv[i + 1]!] : []));

/** mtools on the image file itself: no mount, no loop device. */
const mtype = (img: string, name: string) => execFileSync('mtype', ['-i', img, `::${name}`]).toString();
const mdir = (img: string) => execFileSync('mdir', ['-b', '-i', img, '::/']).toString();

describe('the NoCloud seed a VM is given: SMBIOS serial with a network, cidata disk without', () => {
  let c: TestCluster;
  let alice = '';
  const keyFile = (n: string) => join(c.dir, `${n}_ed25519`);
  const json = async <T>(args: string[]): Promise<T> => {
    const r = await c.cli([...args, '-o', 'json'], { UCLOUD_TOKEN: alice });
    if (r.code !== 0) throw new Error(`ucloud ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  };
  const serial = (vm: Vm) => (vm.qemu && existsSync(vm.qemu.serialLog) ? readFileSync(vm.qemu.serialLog, 'utf8') : '');
  const cidataOf = (vm: Vm) => join(c.runDir, 'vms', vm.id, 'cidata.img');

  beforeAll(async () => {
    c = await TestCluster.start();
    await c.bootstrap({ guestImage: inject('guestImage') });
    alice = (await c.managers().users.create('alice', 'user')).token;
    for (const n of ['one', 'two']) execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `alice-${n}`, '-f', keyFile(n)]);
    await Promise.all((['api', 'scheduler', 'host'] as const).map((d) => c.spawn(d, { UCLOUD_DNS_RESOLVERS: '2620:fe::fe' }).ready));
  }, 120_000);
  afterAll(async () => {
    await c?.stop();
  });

  it("gives a VM with a network the SMBIOS serial of its network's NoCloud seed, and radvd the network's resolvers", async () => {
    await json<SshKey>(['key', 'add', 'one', '--file', `${keyFile('one')}.pub`]);
    const lab = await json<Network>(['network', 'create', 'lab', '--dns', '2001:DB8::53', '--dns', '2001:db8::54']);
    expect(lab.resolvers).toEqual(['2001:db8::53', '2001:db8::54']);
    const bad = await c.cli(['network', 'create', 'lab2', '--dns', 'ff02::1'], { UCLOUD_TOKEN: alice });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^error: INVALID_RESOLVER/);
    expect((await c.cli(['network', 'show', 'lab2'], { UCLOUD_TOKEN: alice })).code).toBe(3); // nothing stored
    const plain = await json<Network>(['network', 'create', 'plain']);
    expect(plain.resolvers).toBeUndefined();

    const vm = await json<Vm>(['vm', 'create', 'web1', '--image', 'ucloud-test', '--network', 'lab', '--network', 'plain', '--ram', '128MiB', '--wait']);
    const argv = argvOf(vm.qemu!.pid);
    const prefix = lab.prefix.replace(/::\/64$/, '');
    // The first NIC's network, the metadata server's <prefix>::1, port 80 left out.
    expect(valuesOf(argv, '-smbios')).toEqual([`type=1,serial=ds=nocloud-net;s=http://[${prefix}::1]/nocloud/`]);
    expect(valuesOf(argv, '-drive').some((d) => d.includes('cidata'))).toBe(false);
    expect(existsSync(cidataOf(vm))).toBe(false);
    // The guest booted with it (QEMU took the option) and saw only its own disk.
    await until('web1 booted', () => /UCLOUD-GUEST-DISKS vda=\d+\n/.exec(serial(vm)), 120_000, 250);

    // radvd of each network: the network's own resolvers, else the cluster's (dns_resolvers).
    const conf = (n: Network) => readFileSync(join(c.runDir, 'net', `radvd-${n.vni}.conf`), 'utf8');
    expect(conf(lab)).toContain('\tRDNSS 2001:db8::53 2001:db8::54\n');
    expect(conf(plain)).toContain('\tRDNSS 2620:fe::fe\n');
    const shown = await c.cli(['network', 'show', 'lab'], { UCLOUD_TOKEN: alice });
    expect(shown.stdout).toMatch(/^dns: +2001:db8::53 2001:db8::54$/m);
  }, 180_000);

  it('gives a VM without a network a read-only cidata disk with its keys, hostname and user-data, rebuilt at each start and removed with it', async () => {
    const userData = '#cloud-config\nruncmd:\n  - [sh, -c, "echo seeded > /run/marker"]\n';
    const vm0 = await c.client(alice).vms.create({ name: 'solo', image: 'ucloud-test', cpu: 1, ram: '128MiB', disk: '1GiB', networks: [], userData });
    expect(vm0.nics).toBeUndefined();
    const vm = await until('solo running', async () => {
      const v = await c.client(alice).vms.get('solo');
      return v.status === 'running' && v.qemu ? v : undefined;
    }, 120_000, 250);
    const img = cidataOf(vm);
    const argv = argvOf(vm.qemu!.pid);
    const drives = valuesOf(argv, '-drive');
    // Last, after the VM's own disk, read-only, raw (nothing to probe), no O_DIRECT (tmpfs /run).
    expect(drives).toHaveLength(2);
    expect(drives[1]).toBe(`file=${img},if=virtio,format=raw,id=disk1,cache=writethrough,discard=unmap,file.auto-read-only=off,readonly=on`);
    expect(argv).not.toContain('-smbios');
    const st = statSync(img);
    expect([st.uid, st.gid, st.mode & 0o777]).toEqual([0, 0, 0o600]);
    expect(execFileSync('blkid', ['-p', '-o', 'export', img]).toString()).toMatch(/^LABEL=CIDATA$[\s\S]*^TYPE=vfat$/m);
    expect(mdir(img).split('\n').filter(Boolean).map((l) => l.replace(/^.*\//, '')).sort()).toEqual(['meta-data', 'user-data', 'vendor-data']);
    const meta = mtype(img, 'meta-data');
    expect(meta).toContain(vm.id);
    expect(meta).toMatch(/"local-hostname": "solo"/);
    expect(meta).toContain(readFileSync(`${keyFile('one')}.pub`, 'utf8').split(' ').slice(0, 2).join(' '));
    expect(mtype(img, 'user-data')).toBe(userData);
    const vendor = mtype(img, 'vendor-data');
    expect(vendor).toContain('manage_etc_hosts: true');
    expect(vendor).toContain('2620:fe::fe'); // the cluster's resolvers: no network names any
    // The guest sees a second, 1 MiB disk (2048 sectors).
    await until('solo booted', () => /UCLOUD-GUEST-DISKS vda=\d+ vdb=2048\n/.exec(serial(vm)), 120_000, 250);

    // A key added while it runs is on the disk after the next start, built afresh.
    await json<SshKey>(['key', 'add', 'two', '--file', `${keyFile('two')}.pub`]);
    expect(mtype(img, 'meta-data')).not.toContain('alice-two');
    expect((await c.cli(['vm', 'stop', 'solo', '--wait'], { UCLOUD_TOKEN: alice })).code).toBe(0);
    expect((await c.cli(['vm', 'start', 'solo', '--wait'], { UCLOUD_TOKEN: alice })).code).toBe(0);
    const restarted = await c.client(alice).vms.get('solo');
    expect(restarted.qemu!.pid).not.toBe(vm.qemu!.pid);
    expect(mtype(img, 'meta-data')).toContain('alice-two');
    expect(mtype(img, 'meta-data')).toContain('alice-one');

    expect((await c.cli(['vm', 'delete', 'solo', '--wait'], { UCLOUD_TOKEN: alice })).code).toBe(0);
    expect(existsSync(img)).toBe(false);
    expect(existsSync(join(c.runDir, 'vms', vm.id))).toBe(false);
  }, 300_000);
});
