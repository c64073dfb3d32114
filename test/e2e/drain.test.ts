import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { isOurQemu } from '../../src/host/qemu/index.js';
import type { Vm } from '../../src/model/index.js';
import { until } from '../helpers/cluster.js';
import { Testbed } from '../helpers/testbed.js';

// Issue 11, "must show": `ucloud host drain --wait` with real QEMU on three
// netns hosts (shared fs store, so moves are RAM only). h1 holds three running
// VMs; h2 and h3 each have room for one 128 MiB VM and no more, so d1 and d2
// move (one line each, guests keep running) and d3 (256 MiB) fits nowhere:
// it stays on h1, running, with its reason. h1 is the emptiest host, so a new
// VM that lands elsewhere shows the drain was obeyed, and one that lands on h1
// after `undrain` shows it was lifted.
describe('host drain with real QEMU: VMs that fit move live, the one that fits nowhere stays with its reason', () => {
  let tb: Testbed;
  const key = () => join(tb.c.dir, 'admin_ed25519');
  const serial = (vm: Vm) => (vm.qemu && existsSync(vm.qemu.serialLog) ? readFileSync(vm.qemu.serialLog, 'utf8') : '');
  const cli = <T = Vm>(args: string[]) => tb.cliJson<T>(args);
  const ok = (args: string[]) => tb.cliOk(args);
  const uptime = async (vm: Vm, host: string) => {
    const { out, code } = await tb.sshSession(host, key(), vm.nics![0]!.address, 'cut -d" " -f1 /proc/uptime', { timeoutMs: 60_000 });
    expect(code, out).toBe(0);
    return Number(out.trim());
  };
  const placed = (name: string) => until(`${name} placed`, async () => (await cli(['vm', 'show', name])).host, 60_000, 250);

  beforeAll(async () => {
    tb = await Testbed.start({ hosts: 3, guestImage: inject('guestImage') });
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key()]);
  }, 180_000);

  afterAll(async () => {
    await tb?.stop();
  });

  it('drain moves d1 and d2 live, one line each; d3 fits nowhere and stays running with its reason; remove is refused', async () => {
    // Room for exactly one 128 MiB VM on h2 and on h3.
    for (const h of ['h2', 'h3']) await ok(['host', 'set', h, '--ram', '320MiB']);
    await cli(['key', 'add', 'laptop', '--file', `${key()}.pub`]);
    await cli(['network', 'create', 'lab']);
    // All three start on h1: the others take nothing meanwhile.
    for (const h of ['h2', 'h3']) await ok(['host', 'drain', h]);
    const specs = [['d1', '128MiB'], ['d2', '128MiB'], ['d3', '256MiB']] as const;
    // One at a time: the drain moves the oldest first.
    for (const [name, ram] of specs) {
      await cli(['vm', 'create', name, '--image', 'ucloud-test', '--network', 'lab', '--ram', ram]);
      expect(await placed(name)).toBe('h1');
    }
    for (const h of ['h2', 'h3']) await ok(['host', 'undrain', h]);
    const vms = await until('all three running', async () => {
      const all = await Promise.all(specs.map(([n]) => cli(['vm', 'show', n])));
      return all.every((v) => v.status === 'running') ? all : undefined;
    }, 120_000, 500);
    for (const vm of vms.slice(0, 2)) await until(`${vm.name} has its keys`, () => serial(vm).includes('UCLOUD-INIT-DONE keys=1'), 150_000);
    const before = await Promise.all(vms.slice(0, 2).map((vm) => uptime(vm, 'h1')));

    const t0 = Date.now();
    const r = await tb.c.cli(['host', 'drain', 'h1', '--wait', '--timeout', '240']);
    console.log(`${r.stderr.trim()}\ndrain --wait took ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    // Exit 7: the drain ended with a VM that stays, named with its reason.
    expect(r.code, r.stderr).toBe(7);
    const moves = r.stderr.split('\n').filter((l) => / moved to /.test(l));
    expect(moves.sort()).toEqual(['d1: moved to h2', 'd2: moved to h3']);
    expect(r.stderr).toMatch(/host h1 still holds 1 VM that stays: d3 \(host h1 is drained; .*256MiB RAM.*\)/);

    // The moved guests kept running on their new hosts: no reboot.
    const [d1, d2, d3] = await Promise.all(specs.map(([n]) => cli(['vm', 'show', n])));
    expect([d1!.host, d2!.host, d3!.host]).toEqual(['h2', 'h3', 'h1']);
    for (const [i, vm] of [d1!, d2!].entries()) {
      expect(vm.status).toBe('running');
      expect(vm.lastMigration).toMatchObject({ phase: 'completed', source: 'h1', destination: vm.host });
      expect(await uptime(vm, vm.host!)).toBeGreaterThan(before[i]!);
    }
    // d3 still runs on h1, the same QEMU, and says why it stays.
    expect(d3!.status).toBe('running');
    expect(d3!.qemu!.pid).toBe(vms[2]!.qemu!.pid);
    expect(isOurQemu(d3!.qemu!.pid, d3!.id)).toBe(true);
    expect(d3!.reason).toMatch(/^host h1 is drained; /);
    expect((await tb.c.cli(['vm', 'show', 'd3'])).stdout).toContain('host h1 is drained');

    // Not removable while d3 is there; d3 is untouched by the refusal.
    const rm = await tb.c.cli(['host', 'remove', 'h1']);
    expect(rm.code).not.toBe(0);
    expect(rm.stderr).toMatch(/HOST_NOT_EMPTY/);
    const d3after = await cli(['vm', 'show', 'd3']);
    expect(d3after).toMatchObject({ host: 'h1', status: 'running' });
    expect(isOurQemu(d3after.qemu!.pid, d3!.id)).toBe(true);
    expect((await tb.c.cli(['host', 'list'])).stdout).toMatch(/^h1\s/m);
  }, 480_000);

  it('a new VM avoids the drained h1 (the emptiest host); after undrain h1 takes VMs again', async () => {
    const list = await cli<{ name: string; drained?: boolean; vms: number }[]>(['host', 'list']);
    expect(list.find((h) => h.name === 'h1')).toMatchObject({ drained: true, vms: 1 });
    const t0 = Date.now();
    await cli(['vm', 'create', 'n1', '--image', 'ucloud-test', '--network', 'lab', '--ram', '128MiB']);
    console.log(`n1 created after ${Date.now() - t0} ms`);
    expect(await placed('n1')).not.toBe('h1');
    console.log(`n1 placed after ${Date.now() - t0} ms`);
    await ok(['host', 'undrain', 'h1']);
    expect((await cli<{ name: string; drained?: boolean }[]>(['host', 'list'])).find((h) => h.name === 'h1')?.drained).toBeFalsy();
    await cli(['vm', 'create', 'n2', '--image', 'ucloud-test', '--network', 'lab', '--ram', '128MiB']);
    expect(await placed('n2')).toBe('h1');
    console.log(`n2 placed after ${Date.now() - t0} ms`);
    // Undrain moves nothing back: d3 stayed, d1 and d2 stay where the drain put them.
    const hosts = await Promise.all(['d1', 'd2', 'd3'].map(async (n) => (await cli(['vm', 'show', n])).host));
    expect(hosts).toEqual(['h2', 'h3', 'h1']);
  }, 120_000);
});
