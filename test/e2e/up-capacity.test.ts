import { copyFileSync, mkdirSync } from 'node:fs';
import { readCliConfig } from '../../src/common/cli-config.js';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Client, type HostView } from '../../src/client/client.js';
import type { Host, Vm } from '../../src/model/index.js';
import { Keys, Kinds } from '../../src/store/keys.js';
import { TestCluster, until, type Daemon } from '../helpers/cluster.js';

// Issue 9, as an operator meets it: `ucloud up` with no capacity settings on this
// machine registers its cores with cpu_allocation_ratio 4, so four 1-vCPU VMs per
// core run at once (real QEMU under TCG) and the next one waits, saying why.
describe('ucloud up: CPU overcommit on the all-in-one', () => {
  let c: TestCluster;
  let up: Daemon;
  let client: Client;
  const cores = availableParallelism(); // what `nproc` says; 2 on the test machine
  const allowed = cores * 4;
  const names = Array.from({ length: allowed }, (_, i) => `oc${i}`);

  const hv1 = async () => {
    const r = await c.cli(['host', 'list', '-o', 'json']);
    expect(r.code, r.stderr).toBe(0);
    return (JSON.parse(r.stdout) as HostView[]).find((h) => h.name === 'hv1')!;
  };

  beforeAll(async () => {
    c = await TestCluster.start({ localEtcd: true });
    // The image `up` would build from Debian packages; copying the one built for this run saves the seconds.
    mkdirSync(join(c.dir, 'state', 'guest'), { recursive: true });
    copyFileSync(inject('guestImage'), join(c.dir, 'state', 'guest', 'ucloud-test.qcow2'));
    // No capacity_* and no *_allocation_ratio anywhere: the machine's own cores and the defaults.
    expect(Object.keys(c.env).filter((k) => /CAPACITY|RATIO/.test(k))).toEqual([]);
    up = c.spawn('up');
    await up.ready;
    const { url, token } = readCliConfig(c.env.UCLOUD_CLI_CONFIG).profiles.local!;
    client = new Client({ url, token });
  });
  afterAll(async () => {
    // Delete every VM first (QEMU included), then stop `up`.
    if (client) {
      await Promise.all([...names, 'ninth'].map((n) => client.vms.delete(n).catch(() => undefined)));
      await until('every VM deleted', async () => (await client.vms.list()).length === 0, 120_000).catch(() => undefined);
    }
    await c.stop();
  });

  it(`host list shows ${cores} physical / ${allowed} allowed vCPUs`, async () => {
    const h = await hv1();
    expect(h.capacity.cpu).toBe(cores);
    expect(h.allocationRatio).toEqual({ cpu: 4, ram: 1, disk: 1 });
    expect(h.allowed.cpu).toBe(allowed);
    const table = await c.cli(['host', 'list']);
    expect(table.stdout).toContain('CPU used/allowed (physical)');
    expect(table.stdout).toMatch(new RegExp(`hv1 .* 0/${allowed} \\(${cores}\\) `));
  });

  // Before ratios, capacity.cpu meant "vCPUs to hand out": such a record counts 1:1.
  // `up` gives its own host the configured ratios only when that number is the
  // detected core count; a stated one (the old way to overcommit) stays as it is.
  // A cpu_allocation_ratio of 3, not the default 4, tells "configured" from "defaults".
  describe('a host recorded by an older ucloud (no ratios), `up` started again', () => {
    const restartWithRatio3 = async (record: (cur: Host) => Host) => {
      const store = c.newStore();
      try {
        const cur = (await store.get(Kinds.host, Keys.host('hv1')))!.value;
        const { allocationRatio: _, ...old } = record(cur);
        await store.put(Kinds.host, Keys.host('hv1'), old);
        up.child.kill('SIGINT');
        await new Promise((r) => up.child.once('exit', r));
        up = c.spawn('up', { UCLOUD_CPU_ALLOCATION_RATIO: '3' });
        await up.ready; // bootstrap (and so ensureHost) is done by now
        return { old, now: (await store.get(Kinds.host, Keys.host('hv1')))!.value };
      } finally {
        store.close();
      }
    };

    it('with a stated CPU capacity: stays 1:1, and the log says how to change it', async () => {
      const { old, now } = await restartWithRatio3((h) => ({ ...h, capacity: { ...h.capacity, cpu: cores + 1 } }));
      expect(now).toEqual(old);
      expect((await hv1()).allowed.cpu).toBe(cores + 1);
      expect(up.stderr()).toContain(`ucloud host set hv1 --cpu ${cores} --cpu-ratio 3`);
    });

    it('with the detected core count: gets the configured ratios (3 → ' + cores * 3 + ' allowed)', async () => {
      const { old, now } = await restartWithRatio3((h) => ({ ...h, capacity: { ...h.capacity, cpu: cores } }));
      expect(now).toEqual({ ...old, allocationRatio: { cpu: 3, ram: 1, disk: 1 } });
      expect((await hv1()).allowed.cpu).toBe(cores * 3);
      // Back to the defaults for what follows; nothing is booked, so `host set` takes it.
      const r = await c.cli(['host', 'set', 'hv1', '--cpu-ratio', '4']);
      expect(r.code, r.stderr).toBe(0);
      expect((await hv1()).allowed.cpu).toBe(allowed);
    });
  });

  it(`${allowed} 1-vCPU VMs created at once all run (QEMU alive), and one more stays pending naming the ratio`, async () => {
    const created = await Promise.all(names.map((name) => client.vms.create({ name, image: 'ucloud-test', cpu: 1, ram: '128MiB', disk: '1GiB' })));
    const running = await until(
      `all ${allowed} running`,
      async () => {
        const vms = await Promise.all(created.map((v) => client.vms.get(v.id)));
        return vms.every((v) => v.status === 'running' && v.qemu?.pid) && vms;
      },
      240_000,
      500,
    );
    // At once: every QEMU process is alive together.
    for (const v of running) expect(c.qemuPids(v.id)).toEqual([v.qemu!.pid]);
    expect(new Set(running.map((v) => v.qemu!.pid)).size).toBe(allowed);
    expect(running.every((v) => v.host === 'hv1')).toBe(true);

    const ninth = await client.vms.create({ name: 'ninth', image: 'ucloud-test', cpu: 1, ram: '128MiB', disk: '1GiB' });
    const pending = await until('the ninth told why it waits', async () => {
      const v: Vm = await client.vms.get(ninth.id);
      return v.status === 'pending' && v.reason !== 'waiting for the scheduler' && v;
    });
    expect(pending.host).toBeUndefined();
    expect(pending.reason).toBe(`no alive host has 1 vCPU free (most free: 0 of ${allowed} allowed = ${cores} core${cores === 1 ? '' : 's'} × cpu_allocation_ratio 4)`);
    const status = await c.cli(['vm', 'status', 'ninth']);
    expect(status.stdout).toContain('cpu_allocation_ratio 4');
    const h = await hv1();
    expect([h.used.cpu, h.allowed.cpu, h.vms]).toEqual([allowed, allowed, allowed]);
    expect((await c.cli(['host', 'list'])).stdout).toMatch(new RegExp(`hv1 .* ${allowed}/${allowed} \\(${cores}\\) `));
  });

  it('host set below what is booked is refused and changes nothing', async () => {
    const before = await hv1();
    const fewer = await c.cli(['host', 'set', 'hv1', '--cpu', String(Math.max(1, cores - 1))]);
    expect(fewer.code).toBe(4);
    expect(fewer.stderr).toMatch(/^error: CAPACITY_BELOW_BOOKED: host "hv1" has \d+ vCPU booked; the change would allow \d+ vCPU/);
    const ratio = await c.cli(['host', 'set', 'hv1', '--cpu-ratio', '3']);
    expect([ratio.code, ratio.stderr]).toEqual([4, expect.stringContaining('CAPACITY_BELOW_BOOKED')]);
    const after = await hv1();
    expect(after).toEqual(before);
    // The ninth is still waiting: nothing made room.
    expect((await client.vms.get('ninth')).host).toBeUndefined();
  });
});
