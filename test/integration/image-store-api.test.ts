import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Keys, Kinds } from '../../src/store/keys.js';
import type { Vm } from '../../src/model/index.js';
import { TestCluster, until } from '../helpers/cluster.js';

// POST /v1/image-stores through a real API process: settings are refused by the
// driver with a 4xx and a code before anything touches the filesystem, and the
// API stays responsive (a store under /proc used to spin it in a mkdir loop).
describe('image store settings through the API', () => {
  let c: TestCluster;

  /** Everything stored but the audit log (the API daemon records refused requests as events). */
  const revision = () => c.stateOutsideEvents();

  const post = async (body: unknown, timeoutMs = 5000) => {
    const t = Date.now();
    const res = await fetch(`${c.apiUrl}/v1/image-stores`, {
      method: 'POST',
      headers: { authorization: `Bearer ${c.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    return { status: res.status, body: (await res.json()) as { code?: string; name?: string }, ms: Date.now() - t };
  };
  const healthMs = async () => {
    const t = Date.now();
    const res = await fetch(`${c.apiUrl}/v1/health`, { signal: AbortSignal.timeout(2000) });
    expect(res.ok).toBe(true);
    return Date.now() - t;
  };

  beforeAll(async () => {
    c = await TestCluster.start();
    await c.bootstrap({ guestImage: c.tinyImage() });
    await c.spawn('api').ready;
  });
  afterAll(async () => {
    await c?.stop();
  });

  it('a store under /proc is a fast 400 INVALID_STORE_SETTINGS; the API keeps answering', async () => {
    const before = await revision();
    const [r, health] = await Promise.all([post({ name: 'p', driver: 'fs', settings: { path: '/proc/x' } }), healthMs()]);
    expect(r.status).toBe(400);
    expect(r.body.code).toBe('INVALID_STORE_SETTINGS');
    expect(r.ms).toBeLessThan(2000);
    expect(health).toBeLessThan(2000);
    expect(await healthMs()).toBeLessThan(1000);
    expect(await revision()).toBe(before);
  });

  it('driver names that are object properties (__proto__, constructor, …) are 400 UNKNOWN_STORAGE_DRIVER', async () => {
    const before = await revision();
    for (const driver of ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'nosuch']) {
      const r = await post({ name: 'p', driver, settings: { path: join(c.dir, 'p') } });
      expect([r.status, r.body.code], driver).toEqual([400, 'UNKNOWN_STORAGE_DRIVER']);
    }
    expect(await revision()).toBe(before);
  });

  it('NUL bytes, control characters, 300-byte names, relative paths, symlinks into /dev are 400 with a code; nothing is written', async () => {
    mkdirSync(join(c.dir, 'links'));
    symlinkSync('/dev', join(c.dir, 'links', 'dev'));
    const before = await revision();
    const cases: [string, Record<string, unknown>, string][] = [
      ['NUL byte', { path: `${c.dir}/nul\0x` }, 'INVALID_STORE_SETTINGS'],
      ['escape sequence', { path: `${c.dir}/esc\x1b[2Jx` }, 'INVALID_STORE_SETTINGS'],
      ['300-byte name', { path: `${c.dir}/${'n'.repeat(300)}` }, 'INVALID_STORE_SETTINGS'],
      ['relative', { path: 'images' }, 'INVALID_STORE_SETTINGS'],
      ['..', { path: `${c.dir}/../../sys/x` }, 'INVALID_STORE_SETTINGS'],
      ['symlink to /dev', { path: join(c.dir, 'links', 'dev', 'x') }, 'INVALID_STORE_SETTINGS'],
      ['unknown setting', { path: join(c.dir, 'ok'), owner: 'root' }, 'INVALID_STORE_SETTINGS'],
    ];
    for (const [what, settings, code] of cases) {
      const r = await post({ name: 'bad', driver: 'fs', settings });
      expect([r.status, r.body.code], what).toEqual([400, code]);
    }
    // Ceph: pool names are checked by the driver too, before any cluster call.
    for (const pool of ['a'.repeat(300), 'x:conf=/tmp/evil', '', 'a/b']) {
      const r = await post({ name: 'bad', driver: 'ceph', settings: { pool } });
      expect([r.status, r.body.code], pool).toEqual([400, 'INVALID_STORE_SETTINGS']);
    }
    expect(await revision()).toBe(before);
    expect(await c.store.get(Kinds.imageStore, Keys.imageStore('bad'))).toBeUndefined();
  });

  it('the CLI says the same in one line with its hint and exits 2 (the example in docs/storage.md)', async () => {
    const r = await c.cli(['image-store', 'create', 'p', '--driver', 'fs', '--path', '/proc/x']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('error: INVALID_STORE_SETTINGS: path must not be under /proc, got "/proc/x"\n  hint: see docs/storage.md for each driver\'s settings\n');
  });

  it('image create without --store uses the only store there is', async () => {
    await c.managers().files.put({ id: randomUUID(), owner: 'admin', name: 'disk.qcow2', sizeBytes: 1, sha512: 'a'.repeat(128), mtimeMs: 0, seenAt: new Date().toISOString() });
    const r = await c.cli(['image', 'create', 'one', '--from-file', 'disk.qcow2', '-o', 'json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ name: 'one', store: 'local', status: 'pending' });
  });

  it('a good store is still created', async () => {
    const r = await post({ name: 'good', driver: 'fs', settings: { path: join(c.dir, 'good-store') } });
    expect(r.status).toBe(200);
    expect(r.body.name).toBe('good');
  });

  it('with two stores and no default_image_store, a create without a store is IMAGE_STORE_REQUIRED; nothing is written', async () => {
    const before = await revision();
    const res = await fetch(`${c.apiUrl}/v1/images`, {
      method: 'POST',
      headers: { authorization: `Bearer ${c.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'two', file: 'disk.qcow2' }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ code: 'IMAGE_STORE_REQUIRED', details: { stores: ['good', 'local'] } });
    const r = await c.cli(['image', 'create', 'two', '--from-file', 'disk.qcow2']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('IMAGE_STORE_REQUIRED');
    expect(r.stderr).toContain('pass --store');
    expect(await revision()).toBe(before);
    // Naming one still works.
    const named = await c.cli(['image', 'create', 'two', '--from-file', 'disk.qcow2', '--store', 'good', '-o', 'json']);
    expect(named.code, named.stderr).toBe(0);
    expect(JSON.parse(named.stdout)).toMatchObject({ store: 'good' });
  });

  it('default_image_store picks the store when none is named; one that does not exist is IMAGE_STORE_NOT_FOUND', async () => {
    const restartApi = async (env: NodeJS.ProcessEnv) => {
      await c.daemons.find((d) => d.name === 'api' && d.child.exitCode === null && d.child.signalCode === null)!.stop();
      await c.spawn('api', env).ready;
    };
    await restartApi({ UCLOUD_DEFAULT_IMAGE_STORE: 'good' });
    const r = await c.cli(['image', 'create', 'three', '--from-file', 'disk.qcow2', '-o', 'json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ name: 'three', store: 'good' });
    const named = await c.cli(['image', 'create', 'four', '--from-file', 'disk.qcow2', '--store', 'local', '-o', 'json']);
    expect(JSON.parse(named.stdout)).toMatchObject({ store: 'local' });

    await restartApi({ UCLOUD_DEFAULT_IMAGE_STORE: 'nosuch' });
    const missing = await c.cli(['image', 'create', 'five', '--from-file', 'disk.qcow2']);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain('IMAGE_STORE_NOT_FOUND');
    await restartApi({});
  });

  it('a VM made from an image whose record points outside the store fails with INVALID_STORAGE_REF; nothing outside is used', async () => {
    await c.spawn('scheduler').ready;
    await c.spawn('host').ready;
    const bait = join(c.dir, 'bait.raw');
    writeFileSync(bait, 'host file');
    // What a forged etcd write would do: the image's ref climbs out of <store>/images to a host file.
    const item = (await c.store.list(Kinds.image, Keys.images())).items.find((i) => i.value.name === 'ucloud-test')!;
    await c.store.put(Kinds.image, item.key, { ...item.value, volume: { ...item.value.volume!, ref: '../../bait.raw' } });
    const made = await c.cli(['vm', 'create', 'evil', '--image', 'ucloud-test', '--cpu', '1', '--ram', '128MiB', '--os-ssd', '1GiB', '-o', 'json']);
    expect(made.code, made.stderr).toBe(0);
    const failed = await until('the VM to fail', async () => {
      const v = JSON.parse((await c.cli(['vm', 'status', 'evil', '-o', 'json'])).stdout) as Vm;
      return v.status === 'error' && v;
    }, 60_000);
    expect(failed.error?.code).toBe('INVALID_STORAGE_REF');
    expect(c.qemuPids(failed.id)).toEqual([]);
    expect(readdirSync(join(c.imagePath, 'disks')).filter((f) => f.startsWith(failed.id))).toEqual([]);
    expect(readFileSync(bait, 'utf8')).toBe('host file');
    expect(existsSync(join(c.imagePath, 'disks', `${failed.id}-os.qcow2`))).toBe(false);
  });
});
