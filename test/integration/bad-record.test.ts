import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Vm } from '../../src/model/index.js';
import { Keys } from '../../src/store/keys.js';
import { TestCluster, until } from '../helpers/cluster.js';

// One record that fails its schema, written straight into etcd (a bug, a manual
// edit, an older version): every daemon must skip it, log it once, and go on.
// Before, Store.list threw on it, so informers retried for ever: the scheduler
// and the host agent never got ready and `vm list` answered 500.
describe('a record that fails its schema stalls nothing (real etcd, daemons, QEMU)', () => {
  let c: TestCluster;
  const brokenId = randomUUID();
  const brokenKey = Keys.vm(brokenId);
  // The host agent reads only its own index: the broken VM's mirror there is what it meets.
  const brokenMirror = Keys.hostVm('hv1', brokenId);
  // Networks of this file only: VNIs above everyone's default range, a /48 of its own.
  const vni = 16_700_000 + randomInt(0, 70_000);
  const env = {
    UCLOUD_VNI_RANGE: `${vni}-${vni + 20}`,
    UCLOUD_IPV6_POOL: `fd${randomBytes(1).toString('hex')}:${randomBytes(2).toString('hex')}:${randomBytes(2).toString('hex')}::/48`,
  };
  const logOf = (component: string) => {
    try {
      return readFileSync(join(c.dir, 'log', `${component}.log`), 'utf8');
    } catch {
      return '';
    }
  };
  /** Log lines reporting the broken record at `key`. */
  const reports = (component: string, key = brokenKey) => logOf(component).split('\n').filter((l) => l.includes('fails its schema') && l.includes(`"key":"${key}"`)).length;

  beforeAll(async () => {
    c = await TestCluster.start();
    await c.bootstrap({ guestImage: c.tinyImage() });
    const broken = JSON.stringify({ id: brokenId, name: 'broken', owner: 'admin', cpu: 'lots', status: 'running', host: 'hv1' });
    await c.store.ns.put(brokenKey).value(broken);
    await c.store.ns.put(brokenMirror).value(broken);
    await Promise.all((['api', 'scheduler', 'host'] as const).map((d) => c.spawn(d, env).ready));
  }, 180_000);
  afterAll(async () => {
    await c?.cli(['vm', 'delete', 'good', '--wait'], env).catch(() => undefined);
    await c?.stop();
  });

  it('the scheduler and the host agent start, place and run another VM', async () => {
    const created = await c.cli(['vm', 'create', 'good', '--image', 'ucloud-test', '--ram', '128MiB', '--wait', '--timeout', '2m', '-o', 'json'], env);
    expect(created.code, created.stderr).toBe(0);
    const vm = JSON.parse(created.stdout) as Vm;
    expect(vm).toMatchObject({ status: 'running', host: 'hv1' });
    expect(c.qemuPids(vm.id)).toHaveLength(1);
  }, 180_000);

  it('`vm list` answers without the broken VM, however often it is asked', async () => {
    for (let i = 0; i < 3; i++) {
      const list = await c.cli(['vm', 'list', '--all', '-o', 'json']);
      expect(list.code, list.stderr).toBe(0);
      expect((JSON.parse(list.stdout) as Vm[]).map((v) => v.name)).toEqual(['good']);
    }
  });

  it('each daemon logs the broken record once, not on every pass', async () => {
    await until('reports in the logs', () => reports('scheduler') > 0 && reports('host', brokenMirror) > 0 && reports('api') > 0);
    expect(reports('api')).toBe(1);
    expect(reports('scheduler')).toBe(1);
    expect(reports('host', brokenMirror)).toBe(1);
  });

  it('the agent leaves the broken record alone (a corrupt record is not a deleted VM)', async () => {
    expect((await c.store.ns.get(brokenKey).string()) ?? '').toContain('"broken"');
    expect((await c.store.ns.get(brokenMirror).string()) ?? '').toContain('"broken"');
  });
});
