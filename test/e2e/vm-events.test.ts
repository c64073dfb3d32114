import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Vm } from '../../src/model/index.js';
import { TestCluster, until, type Daemon } from '../helpers/cluster.js';
import { guestVariant } from '../helpers/guest-variant.js';

// A guest that powers itself off (from inside, as `poweroff` in a shell would)
// a moment after booting, but only when it has a second disk: one image, two
// behaviours, chosen per VM with --hdd.
const GUEST = `#!/bin/sh
if [ -e /sys/block/vdb ]; then
  sleep 2
  echo UCLOUD-EVENTS-POWEROFF >/dev/console
  poweroff
fi
`;

// Issue 11: the agent learns of a QEMU's end from its standing QMP monitor
// (events, the socket closing), not from a /proc poll.
describe('VM events: a guest power-off and a killed QEMU are recorded from the monitor', () => {
  let c: TestCluster;
  let host: Daemon;

  beforeAll(async () => {
    c = await TestCluster.start();
    await c.bootstrap({ guestImage: guestVariant('poweroff', GUEST, c.dir) });
    host = c.spawn('host');
    await Promise.all([c.spawn('api').ready, c.spawn('scheduler').ready, host.ready]);
  }, 180_000);
  afterAll(async () => {
    await c?.stop();
  });

  const record = (name: string) => c.client().vms.get(name);

  /** Waits for QEMU `pid` to exit, then for the record to say stopped; returns the ms between the two. */
  async function lag(name: string, pid: number): Promise<{ ms: number; vm: Vm }> {
    await until('QEMU gone', () => !existsSync(`/proc/${pid}`) || /^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8')), 120_000, 20);
    const gone = Date.now();
    const vm = await until('recorded stopped', async () => {
      const v = await record(name);
      return v?.status === 'stopped' && v;
    }, 10_000, 20);
    return { ms: Date.now() - gone, vm };
  }

  it('a guest that powers itself off is recorded as stopped (QEMU_EXITED) within a second, from the SHUTDOWN event', async () => {
    const vm = await c.client().vms.create({ name: 'off1', image: 'ucloud-test', cpu: 1, ram: '128MiB', disk: '1GiB', hdd: ['16MiB'] });
    const running = await until('running', async () => {
      const v = await record(vm.name);
      return v?.status === 'running' && v.qemu && v;
    }, 120_000);
    const { ms, vm: stopped } = await lag('off1', running.qemu!.pid);
    console.log(`guest power-off recorded ${ms} ms after QEMU exited`);
    expect(ms).toBeLessThan(1500);
    expect(stopped.error?.code).toBe('QEMU_EXITED');
    expect(stopped.desired).toBe('stopped');
    expect(readFileSync(running.qemu!.serialLog, 'utf8')).toContain('UCLOUD-EVENTS-POWEROFF');
    // Heard from the standing monitor: the guest's SHUTDOWN event, then the socket closing.
    const log = host.stderr();
    const event = log.search(new RegExp(`QEMU event vm=${vm.id} event=SHUTDOWN data=.*guest.:true`));
    expect(event).toBeGreaterThanOrEqual(0);
    expect(log.indexOf(`QEMU exited vm=${vm.id}`)).toBeGreaterThan(event);
    expect(c.qemuPids(vm.id)).toEqual([]);
  }, 240_000);

  it('a QEMU killed with SIGKILL is recorded as stopped within a second', async () => {
    const vm = await c.client().vms.create({ name: 'kill1', image: 'ucloud-test', cpu: 1, ram: '128MiB', disk: '1GiB' });
    const running = await until('running', async () => {
      const v = await record(vm.name);
      return v?.status === 'running' && v.qemu && v;
    }, 120_000);
    process.kill(running.qemu!.pid, 'SIGKILL');
    const { ms, vm: stopped } = await lag('kill1', running.qemu!.pid);
    console.log(`SIGKILL recorded ${ms} ms after QEMU exited`);
    expect(ms).toBeLessThan(1500);
    expect(stopped.error?.code).toBe('QEMU_EXITED');
  }, 240_000);

  it('a VM the agent stops on request is not mistaken for one that exited by itself', async () => {
    await c.client().vms.start('kill1');
    const running = await until('running again', async () => {
      const v = await record('kill1');
      return v?.status === 'running' && v.qemu && v;
    }, 120_000);
    expect(running.error).toBeUndefined();
    await c.client().vms.stop('kill1');
    const stopped = await until('stopped', async () => {
      const v = await record('kill1');
      return v?.status === 'stopped' && v;
    }, 120_000);
    expect(stopped.error).toBeUndefined();
    expect(stopped.desired).toBe('stopped');
  }, 240_000);
});
