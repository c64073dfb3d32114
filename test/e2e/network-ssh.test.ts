import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Network, SshKey, Vm } from '../../src/model/index.js';
import { TestCluster, until } from '../helpers/cluster.js';
import { ssh, sshSession } from '../helpers/ssh.js';

/** GET from a chosen source address: what the metadata server sees as the caller. */
function getFrom(localAddress: string, host: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port: 80, path, localAddress, family: 6, timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (b: Buffer) => (body += b.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

// The user's path of issue "networks, keys, metadata": add a key, make a
// network, boot a VM on it, and log in over IPv6 with the system's OpenSSH.
describe('networks, SSH keys, metadata: log in to your VM over IPv6', () => {
  let c: TestCluster;
  let alice = '';
  let bob = '';
  const key = (who: string) => join(c.dir, `${who}_ed25519`);
  const as = (token: string) => ({ UCLOUD_TOKEN: token });
  const json = async <T>(args: string[], token: string): Promise<T> => {
    const r = await c.cli([...args, '-o', 'json'], as(token));
    if (r.code !== 0) throw new Error(`ucloud ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  };
  const serial = (vm: Vm) => (vm.qemu && existsSync(vm.qemu.serialLog) ? readFileSync(vm.qemu.serialLog, 'utf8') : '');
  let web1: Vm;
  let web2: Vm;

  beforeAll(async () => {
    c = await TestCluster.start();
    await c.bootstrap({ guestImage: inject('guestImage') });
    const m = c.managers();
    alice = (await m.users.create('alice', 'user')).token;
    bob = (await m.users.create('bob', 'user')).token;
    for (const who of ['alice', 'bob']) execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', who, '-f', key(who)]);
    await Promise.all((['api', 'scheduler', 'host', 'metadata'] as const).map((d) => c.spawn(d).ready));
  }, 120_000);
  afterAll(async () => {
    await c?.stop();
  });

  it('a user adds a key, creates a network and a VM, and logs in with OpenSSH at its EUI-64 SLAAC address', async () => {
    const k = await json<SshKey>(['key', 'add', 'laptop', '--file', `${key('alice')}.pub`], alice);
    expect(k.fingerprint).toBe(execFileSync('ssh-keygen', ['-lf', `${key('alice')}.pub`]).toString().split(' ')[1]);
    const lab = await json<Network>(['network', 'create', 'lab'], alice);
    expect(lab.prefix).toMatch(/::\/64$/);
    web1 = await json<Vm>(['vm', 'create', 'web1', '--image', 'ucloud-test', '--network', 'lab', '--ram', '128MiB', '--wait'], alice);
    const nic = web1.nics![0]!;
    expect(nic.network).toBe('lab');
    // The address `vm show` gives is the EUI-64 SLAAC address of its MAC on the network's /64.
    const [a, b, c2, d, e, f] = nic.mac.split(':').map((x) => parseInt(x, 16)) as number[];
    const iid = [((a! ^ 2) << 8) | b!, (c2! << 8) | 0xff, (0xfe << 8) | d!, (e! << 8) | f!].map((x) => x.toString(16)).join(':');
    const canonical = (a: string) => new URL(`http://[${a}]/`).hostname.slice(1, -1);
    expect(nic.address).toBe(canonical(`${lab.prefix.replace('::/64', '')}:${iid}`));
    const shown = await c.cli(['vm', 'show', 'web1'], as(alice));
    expect(shown.stdout).toContain(nic.address);
    await until('ucloud-init installed the key', () => serial(web1).includes('UCLOUD-INIT-DONE keys=1'), 90_000);
    const login = await until('ssh works', async () => {
      const r = await ssh(key('alice'), nic.address, 'cat /proc/net/if_inet6; hostname');
      return r.code === 0 && r;
    }, 30_000, 1000);
    expect(login.out).toContain('web1');
    expect(login.out).toContain(nic.address.split(':').slice(-4).map((g) => g.padStart(4, '0')).join(''));
  }, 180_000);

  it("another user's VM gets only its owner's keys and cannot reach the first network", async () => {
    await json<SshKey>(['key', 'add', 'work', '--file', `${key('bob')}.pub`], bob);
    await json<Network>(['network', 'create', 'other'], bob);
    web2 = await json<Vm>(['vm', 'create', 'web2', '--image', 'ucloud-test', '--network', 'other', '--ram', '128MiB', '--wait'], bob);
    await until('ucloud-init on web2', () => serial(web2).includes('UCLOUD-INIT-DONE keys=1'), 90_000);
    const addr2 = web2.nics![0]!.address;
    // Refused by the guest's sshd, not merely unanswered.
    const refused = await sshSession(key('alice'), addr2, 'true');
    expect(refused.code).toBe(255);
    expect(refused.out).toContain('Permission denied');
    const keys = await until('bob logs in', async () => {
      const r = await ssh(key('bob'), addr2, 'cat /root/.ssh/authorized_keys');
      return r.code === 0 && r.out;
    }, 30_000, 1000);
    expect(keys).toContain(' bob');
    expect(keys).not.toContain(' alice');
    const reach = await sshSession(key('bob'), addr2, `ping -6 -c 2 -W 2 ${web1.nics![0]!.address}; echo rc=$?`);
    expect(reach.out).toMatch(/rc=[1-9]/);
    // and the networks share no segment: different VNIs and prefixes
    expect(web2.nics![0]!.vni).not.toBe(web1.nics![0]!.vni);
    expect(web2.nics![0]!.prefix).not.toBe(web1.nics![0]!.prefix);
  }, 180_000);

  it('the metadata server answers an address that matches no VM with 403 and no data', async () => {
    const hostAddr = `${web1.nics![0]!.prefix.replace('::/64', '')}::1`;
    const res = await getFrom(hostAddr, hostAddr, '/v1/public-keys');
    expect(res.status).toBe(403);
    expect(res.body).not.toContain('ssh-ed25519');
  });

  it('a VM that sends from a foreign source address, or changes its MAC, can no longer send', async () => {
    const nic = web1.nics![0]!;
    const prefix = nic.prefix.replace('::/64', '');
    const own = await sshSession(key('alice'), nic.address, `ping -6 -c 2 -W 2 ${prefix}::1 >/dev/null; echo rc=$?`);
    expect(own.out).toContain('rc=0');
    const spoofed = await sshSession(key('alice'), nic.address, `ip -6 addr add ${prefix}::bad/64 dev eth0 nodad; ping -6 -c 2 -W 2 -I ${prefix}::bad ${prefix}::1 >/dev/null; echo rc=$?`);
    expect(spoofed.out).toMatch(/rc=[1-9]/);
    // A new MAC cuts the VM off, ssh included: the guest reports on its serial console.
    await sshSession(
      key('alice'),
      nic.address,
      `(sleep 1; ip link set eth0 down; ip link set eth0 address 52:54:00:66:66:66; ip link set eth0 up; sleep 3; ping -6 -c 3 -W 2 ${prefix}::1 >/dev/null; echo "SPOOF-MAC rc=$?" >/dev/console) >/dev/null 2>&1 &`,
    );
    const line = await until('the guest reported', () => /SPOOF-MAC rc=(\d+)/.exec(serial(web1)) ?? undefined, 30_000);
    expect(line[1]).not.toBe('0');
  }, 120_000);

  it('refuses bad keys, bad names, unknown networks and deleting a network in use, with codes, changing nothing', async () => {
    // Everything stored but the audit log (the API daemon records refused requests as events).
    const revision = () => c.stateOutsideEvents();
    const before = await revision();
    const garbage = await c.cli(['key', 'add', 'junk', '--file', '/etc/hostname'], as(alice));
    expect(garbage.code).toBe(2);
    expect(garbage.stderr).toMatch(/^error: INVALID_SSH_KEY/);
    const priv = await c.cli(['key', 'add', 'secret', '--file', key('alice')], as(alice));
    expect(priv.stderr).toMatch(/^error: INVALID_SSH_KEY/);
    const dup = await c.cli(['key', 'add', 'again', '--file', `${key('alice')}.pub`], as(alice));
    expect(dup.code).toBe(4);
    expect(dup.stderr).toMatch(/KEY_EXISTS/);
    const badName = await c.cli(['network', 'create', 'Lab Net'], as(alice));
    expect(badName.code).toBe(2);
    const inUse = await c.cli(['network', 'delete', 'lab'], as(alice));
    expect(inUse.code).toBe(4);
    expect(inUse.stderr).toMatch(/NETWORK_IN_USE/);
    const unknown = await c.cli(['vm', 'create', 'web3', '--image', 'ucloud-test', '--network', 'nope'], as(alice));
    expect(unknown.code).toBe(3);
    expect(unknown.stderr).toMatch(/NETWORK_NOT_FOUND/);
    const others = await c.cli(['vm', 'create', 'web3', '--image', 'ucloud-test', '--network', 'other'], as(alice));
    expect(others.stderr).toMatch(/NETWORK_NOT_FOUND/);
    expect(await revision()).toBe(before);
    // The network in use is still there and usable.
    expect((await json<Network[]>(['network', 'list'], alice)).map((n) => n.name)).toEqual(['lab']);
  });

  it('deleting the last VM of a network removes its bridge; then the network can be deleted', async () => {
    const bridge = `ucbr${web1.nics![0]!.vni}`;
    expect(execFileSync('ip', ['-j', 'link', 'show']).toString()).toContain(bridge);
    expect((await c.cli(['vm', 'delete', 'web1', '--wait'], as(alice))).code).toBe(0);
    await until('bridge removed', () => !execFileSync('ip', ['-j', 'link', 'show']).toString().includes(`"${bridge}"`), 20_000);
    expect((await c.cli(['network', 'delete', 'lab'], as(alice))).code).toBe(0);
    expect((await json<Network[]>(['network', 'list'], alice)).map((n) => n.name)).toEqual([]);
    await c.cli(['vm', 'delete', 'web2', '--wait'], as(bob));
  }, 60_000);
});
