import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileManager } from '../../src/managers/files.js';
import { ImageManager } from '../../src/managers/images.js';
import type { Image } from '../../src/model/index.js';
import { ImageScanner } from '../../src/scanners/imagescanner.js';
import { Keys, Kinds } from '../../src/store/keys.js';
import { TestCluster, until } from '../helpers/cluster.js';
import { removeVm, vmRecord, writeVms } from '../helpers/vm-record.js';

// An image's bytes go only when no VM uses it, whatever the API's look missed:
// the imagescanner looks at etcd again before it removes anything.

describe('image delete: the imagescanner keeps an image a VM uses (real etcd, fs store)', () => {
  let c: TestCluster;
  let images: ImageManager;
  let scanner: ImageScanner;
  const bytes = () => join(c.dir, 'keep-store', 'images', 'alice.kept.raw');

  beforeAll(async () => {
    c = await TestCluster.start();
    images = new ImageManager(c.store);
    await images.ensureStore('keep', 'fs', { path: join(c.dir, 'keep-store') });
    mkdirSync(join(c.dir, 'keep-store', 'images'), { recursive: true });
    writeFileSync(bytes(), Buffer.alloc(1024 * 1024, 0x5a));
    const now = new Date().toISOString();
    const img: Image = { name: 'kept', store: 'keep', owner: 'alice', public: false, status: 'ready', volume: { ref: 'alice.kept.raw', format: 'raw', virtualSize: 1024 * 1024 }, createdAt: now, updatedAt: now };
    await c.store.put(Kinds.image, Keys.image('alice', 'kept'), img);
    scanner = new ImageScanner(c.store, images, new FileManager(c.store), { filesPath: join(c.dir, 'files') }, pino({ level: 'silent' }));
    await scanner.start();
  }, 60_000);
  afterAll(async () => {
    await scanner?.stop();
    await c?.stop();
  });

  it('an image marked deleting that a VM made before the mark uses is ready again with IMAGE_IN_USE, its bytes kept; once the VM is gone it is deleted', async () => {
    // As if the VM committed between the API's look and its mark.
    const vm = { ...vmRecord('alice', 'late'), image: { store: 'keep', owner: 'alice', name: 'kept' } };
    await writeVms(c.store, [vm]);
    await images.update('alice', 'kept', (cur) => ({ ...cur, status: 'deleting' }));
    const back = await until('the image ready again', async () => {
      const cur = await images.get('alice', 'kept');
      return cur?.status === 'ready' && cur.error ? cur : undefined;
    }, 30_000, 50);
    expect(back.error).toMatchObject({ code: 'IMAGE_IN_USE' });
    expect(back.error!.message).toContain('used by 1 VM(s)');
    expect(back.error!.message).not.toContain('late'); // the image's viewers are not the VM's owner
    expect(existsSync(bytes())).toBe(true);

    await removeVm(c.store, vm);
    await images.update('alice', 'kept', (cur) => ({ ...cur, status: 'deleting' }));
    await until('the image deleted', async () => !(await images.get('alice', 'kept')), 30_000, 50);
    expect(existsSync(bytes())).toBe(false);
  });
});
