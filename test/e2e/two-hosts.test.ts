import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Vm } from '../../src/model/index.js';
import { GiB, MiB, TestCluster, until } from '../helpers/cluster.js';
import { sshSession } from '../helpers/ssh.js';

const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();

// Two hypervisors as network namespaces joined by an underlay bridge, each with
// its own `ucloud host` (and metadata server); one VM of the same network on
// each; they reach each other over VXLAN.
describe('two hosts, one network, VXLAN between them', () => {
  const id = randomBytes(2).toString('hex');
  const underlay = `ucu${id}`;
  const hosts = [`ucl-h1-${id}`, `ucl-h2-${id}`];
  const net6 = `fd99:${id}:0:1`;
  let c: TestCluster;
  let alice = '';
  const key = () => join(c.dir, 'alice_ed25519');
  const serial = (vm: Vm) => (vm.qemu && existsSync(vm.qemu.serialLog) ? readFileSync(vm.qemu.serialLog, 'utf8') : '');

  beforeAll(async () => {
    sh('ip', ['link', 'add', underlay, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0', 'mcast_snooping', '0']);
    sh('ip', ['addr', 'add', `${net6}::1/64`, 'dev', underlay, 'nodad']);
    sh('ip', ['link', 'set', underlay, 'up']);
    hosts.forEach((ns, i) => {
      sh('ip', ['netns', 'add', ns]);
      sh('ip', ['link', 'add', `${underlay}h${i}`, 'type', 'veth', 'peer', 'name', 'u0', 'netns', ns]);
      sh('ip', ['link', 'set', `${underlay}h${i}`, 'master', underlay, 'up']);
      sh('ip', ['-n', ns, 'addr', 'add', `${net6}::1${i}/64`, 'dev', 'u0', 'nodad']);
      sh('ip', ['-n', ns, 'link', 'set', 'u0', 'up']);
      sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    });
    c = await TestCluster.start({ etcdHost: `${net6}::1` });
    await c.bootstrap({
      guestImage: inject('guestImage'),
      // one VM fits on each, so the scheduler must use both
      hosts: hosts.map((_, i) => ({ name: `h${i + 1}`, cpu: 1, ram: 512 * MiB, disk: 10 * GiB })),
    });
    alice = (await c.managers().users.create('alice', 'user')).token;
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key()]);
    await Promise.all([c.spawn('api').ready, c.spawn('scheduler').ready]);
    await Promise.all(
      hosts.flatMap((ns, i) => {
        const env = {
          UCLOUD_HOST_NAME: `h${i + 1}`,
          UCLOUD_HOST_ADDRESS: `${net6}::1${i}`,
          UCLOUD_VXLAN_UNDERLAY: 'u0',
          UCLOUD_RUN_DIR: join(c.dir, `run-h${i + 1}`),
          UCLOUD_LOG_DIR: join(c.dir, `log-h${i + 1}`),
        };
        return [c.spawn('host', env, ns).ready, c.spawn('metadata', env, ns).ready];
      }),
    );
  }, 180_000);

  afterAll(async () => {
    await c?.stop();
    for (const ns of hosts) {
      try {
        execFileSync('ip', ['netns', 'del', ns]);
      } catch {
        // already gone
      }
    }
    try {
      execFileSync('ip', ['link', 'del', underlay]);
    } catch {
      // already gone
    }
  });

  it('VMs of one network on two hosts reach each other over VXLAN', async () => {
    const cli = async (args: string[]) => {
      const r = await c.cli([...args, '-o', 'json'], { UCLOUD_TOKEN: alice });
      if (r.code !== 0) throw new Error(`ucloud ${args.join(' ')}: ${r.stderr}`);
      return JSON.parse(r.stdout) as Vm;
    };
    await cli(['key', 'add', 'laptop', '--file', `${key()}.pub`]);
    await cli(['network', 'create', 'lab']);
    const a = await cli(['vm', 'create', 'a', '--image', 'ucloud-test', '--network', 'lab', '--ram', '128MiB', '--wait']);
    const b = await cli(['vm', 'create', 'b', '--image', 'ucloud-test', '--network', 'lab', '--ram', '128MiB', '--wait']);
    expect(new Set([a.host, b.host])).toEqual(new Set(['h1', 'h2']));
    for (const vm of [a, b]) await until(`${vm.name} has its keys`, () => serial(vm).includes('UCLOUD-INIT-DONE keys=1'), 90_000);
    // From a's host (its bridge holds the network's ::1), log in to a and ping b on the other host.
    const nsOfA = hosts[Number(a.host!.slice(1)) - 1]!;
    const { out } = await sshSession(key(), a.nics![0]!.address, `ping -6 -c 3 -W 2 ${b.nics![0]!.address}; echo rc=$?`, { netns: nsOfA, timeoutMs: 60_000 });
    expect(out).toContain('rc=0');
    expect(out).toMatch(/3 packets transmitted, 3 packets received/);
    // The VXLAN device on each host carries the network's VNI over the underlay.
    for (const ns of hosts) expect(sh('ip', ['-n', ns, '-d', 'link', 'show', `vx${a.nics![0]!.vni}`])).toMatch(/vxlan id \d+/);
    // Deleting both takes each host's network down with its last VM.
    for (const vm of ['a', 'b']) expect((await c.cli(['vm', 'delete', vm, '--wait'], { UCLOUD_TOKEN: alice })).code).toBe(0);
    for (const ns of hosts) await until(`network gone on ${ns}`, () => !sh('ip', ['-n', ns, 'link', 'show']).includes(`vx${a.nics![0]!.vni}`), 20_000);
  }, 240_000);
});
