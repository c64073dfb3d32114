import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Vm } from '../../src/model/index.js';
import { TestCluster, until, type Daemon } from '../helpers/cluster.js';
import { guestVariant } from '../helpers/guest-variant.js';

// A guest that ignores the ACPI power button (its acpid is stopped) when it has
// a second disk: one image, two behaviours, chosen per VM with --hdd.
const GUEST = `#!/bin/sh
if [ -e /sys/block/vdb ]; then
  kill "$(cat /run/acpid.pid)"
  echo UCLOUD-REBOOT-IGNORES-ACPI >/dev/console
fi
`;

const boots = (vm: Vm) => readFileSync(vm.qemu!.serialLog, 'utf8').split('UCLOUD-GUEST-BOOTED').length - 1;

// Issue 14: `vm reboot` — the ACPI button, then a reset, in the same QEMU.
describe('vm reboot: ACPI first, a reset when the guest ignores it, the same QEMU throughout', () => {
  let c: TestCluster;
  let host: Daemon;

  beforeAll(async () => {
    c = await TestCluster.start();
    await c.bootstrap({ guestImage: guestVariant('noacpi', GUEST, c.dir) });
    // A short wait for the power button: the guest that ignores it is reset after 4 s.
    host = c.spawn('host', { UCLOUD_STOP_TIMEOUT: '4s' });
    await Promise.all([c.spawn('api').ready, c.spawn('scheduler').ready, host.ready]);
  }, 180_000);
  afterAll(async () => {
    await c?.stop();
  });

  const record = (name: string) => c.client().vms.get(name);
  const runningBooted = (name: string, marker = 'UCLOUD-GUEST-BOOTED') =>
    until(`${name} running and booted`, async () => {
      const v = await record(name);
      return v?.status === 'running' && v.qemu && readFileSync(v.qemu.serialLog, 'utf8').includes(marker) && v;
    }, 180_000);

  it('a stopped VM is not rebooted: 409 VM_NOT_RUNNING, and nothing is recorded on it', async () => {
    const vm = await c.client().vms.create({ name: 'cold', image: 'ucloud-test', cpu: 1, ram: '128MiB', disk: '1GiB' });
    await c.client().vms.stop(vm.id);
    await until('stopped', async () => (await record('cold'))?.status === 'stopped', 60_000);
    const r = await c.cli(['vm', 'reboot', 'cold']);
    expect(r.code).toBe(4);
    expect(r.stderr).toContain('VM_NOT_RUNNING');
    expect((await record('cold')).reboot).toBeUndefined();
  }, 120_000);

  it('reboots a guest that answers the power button in the same QEMU (mode acpi), then a forced one at once (mode reset)', async () => {
    await c.client().vms.create({ name: 'web1', image: 'ucloud-test', cpu: 1, ram: '128MiB', disk: '1GiB' });
    const before = await runningBooted('web1');
    expect(boots(before)).toBe(1);

    const r = await c.cli(['vm', 'reboot', 'web1', '--wait', '-o', 'json']);
    expect(r.code, r.stderr).toBe(0);
    const after = JSON.parse(r.stdout) as Vm;
    expect(after.lastReboot).toMatchObject({ id: after.reboot!.id, mode: 'acpi' });
    expect(after.reboot!.by).toBe('admin');
    expect(after.status).toBe('running');
    // The same process: a reboot, not a stop and a start.
    expect(after.qemu!.pid).toBe(before.qemu!.pid);
    expect(c.qemuPids(after.id)).toEqual([before.qemu!.pid]);
    // The guest powered off (guest-initiated SHUTDOWN), was reset, and booted again.
    await until('booted again', () => boots(after) === 2, 120_000);
    const log = host.stderr();
    expect(log).toMatch(new RegExp(`QEMU event vm=${after.id} event=SHUTDOWN data=.*guest.:true`));
    expect(log).not.toContain(`guest did not power off in time; resetting it vm=${after.id}`);

    // Forced: a reset without asking the guest.
    const f = await c.cli(['vm', 'reboot', 'web1', '--force', '--wait', '-o', 'json']);
    expect(f.code, f.stderr).toBe(0);
    const forced = JSON.parse(f.stdout) as Vm;
    expect(forced.lastReboot).toMatchObject({ id: forced.reboot!.id, mode: 'reset' });
    expect(forced.reboot!.id).not.toBe(after.reboot!.id);
    expect(forced.qemu!.pid).toBe(before.qemu!.pid);
    await until('booted a third time', () => boots(forced) === 3, 120_000);

    // Each reboot is an event of the host's, after the API's record of the request.
    // The host writes its events a moment after its record (batched): waited for, then counted.
    const events = await until('both reboots recorded', async () => {
      const all = await c.client().events.list({ vm: after.id });
      return all.filter((e) => e.action === 'vm.rebooted').length >= 2 && all;
    }, 10_000);
    expect(events.filter((e) => e.action === 'vm.rebooted' && e.actor.kind === 'host' && e.result === 'ok')).toHaveLength(2);
    expect(events.filter((e) => e.action === 'vm.reboot' && e.actor.kind === 'user')).toHaveLength(2);

    // QEMU exits on a guest power-off again: a stop after reboots is the guest's own power-off, not a forced quit.
    const s = await c.cli(['vm', 'stop', 'web1', '--wait']);
    expect(s.code, s.stderr).toBe(0);
    expect((await record('web1')).error).toBeUndefined();
    expect(host.stderr()).not.toContain(`guest did not power off in time; quitting QEMU vm=${after.id}`);
  }, 400_000);

  it('a guest that ignores the power button is reset after stop_timeout (mode reset), in the same QEMU', async () => {
    await c.client().vms.create({ name: 'deaf', image: 'ucloud-test', cpu: 1, ram: '128MiB', disk: '1GiB', hdd: ['16MiB'] });
    const before = await runningBooted('deaf', 'UCLOUD-REBOOT-IGNORES-ACPI');
    const r = await c.cli(['vm', 'reboot', 'deaf', '--wait', '-o', 'json']);
    expect(r.code, r.stderr).toBe(0);
    const after = JSON.parse(r.stdout) as Vm;
    expect(after.lastReboot).toMatchObject({ id: after.reboot!.id, mode: 'reset' });
    expect(after.qemu!.pid).toBe(before.qemu!.pid);
    await until('booted again', () => boots(after) === 2, 120_000);
    await until('the reset is logged', () => host.stderr().includes(`guest did not power off in time; resetting it vm=${after.id}`), 10_000);
    expect(host.stderr()).not.toMatch(new RegExp(`QEMU event vm=${after.id} event=SHUTDOWN`));
  }, 400_000);
});
