import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Vm } from '../../src/model/index.js';
import { GiB, MiB, until } from '../helpers/cluster.js';
import { Testbed } from '../helpers/testbed.js';

// Two hypervisors on the testbed (network namespaces on an underlay bridge,
// each with its own `ucloud host` and metadata server); one VM of the same
// network on each; they reach each other over VXLAN.
describe('two hosts, one network, VXLAN between them', () => {
  let tb: Testbed;
  let alice = '';
  const key = () => join(tb.c.dir, 'alice_ed25519');
  const serial = (vm: Vm) => (vm.qemu && existsSync(vm.qemu.serialLog) ? readFileSync(vm.qemu.serialLog, 'utf8') : '');

  beforeAll(async () => {
    // one VM fits on each, so the scheduler must use both
    tb = await Testbed.start({ hosts: 2, guestImage: inject('guestImage'), capacity: { cpu: 1, ramBytes: 512 * MiB, diskBytes: 10 * GiB } });
    alice = (await tb.c.managers().users.create('alice', 'user')).token;
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key()]);
  }, 180_000);

  afterAll(async () => {
    await tb?.stop();
  });

  it('VMs of one network on two hosts reach each other over VXLAN', async () => {
    const cli = async (args: string[]) => {
      const r = await tb.c.cli([...args, '-o', 'json'], { UCLOUD_TOKEN: alice });
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
    const { out } = await tb.sshSession(a.host!, key(), a.nics![0]!.address, `ping -6 -c 3 -W 2 ${b.nics![0]!.address}; echo rc=$?`, { timeoutMs: 60_000 });
    expect(out).toContain('rc=0');
    expect(out).toMatch(/3 packets transmitted, 3 packets received/);
    // The VXLAN device on each host carries the network's VNI over the underlay.
    const vx = `vx${a.nics![0]!.vni}`;
    for (const h of tb.hosts) expect((await tb.exec(h.name, ['ip', '-d', 'link', 'show', vx])).stdout).toMatch(/vxlan id \d+/);
    // Deleting both takes each host's network down with its last VM.
    for (const vm of ['a', 'b']) expect((await tb.c.cli(['vm', 'delete', vm, '--wait'], { UCLOUD_TOKEN: alice })).code).toBe(0);
    for (const h of tb.hosts) await until(`network gone on ${h.name}`, async () => !(await tb.exec(h.name, ['ip', 'link', 'show'])).stdout.includes(vx), 20_000);
  }, 240_000);

  it('an agent killed and restarted comes back ready on its own namespace', async () => {
    const before = tb.agentPid('h1');
    await tb.killAgent('h1');
    await tb.restartAgent('h1');
    expect(tb.agentPid('h1')).not.toBe(before);
    // The new agent runs inside h1's namespace.
    expect(execFileSync('ip', ['netns', 'identify', String(tb.agentPid('h1'))]).toString().trim()).toBe(tb.host('h1').netns);
  }, 60_000);
});
