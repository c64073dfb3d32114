// bench/image-import: (1) image import throughput of each storage driver against
// `qemu-img convert` alone on the same file (the physical limit), and (2) VM
// disk creation time from a 1 GiB and a 10 GiB image on each driver against a
// full copy. Starts a throw-away single-node Ceph for the ceph driver.
// Usage: node dist/bench/image-import.js [dataMiB=512]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../src/common/exec.js';
import { packageRoot } from '../src/common/paths.js';
import type { ImageVolume, StorageDriver } from '../src/storage/driver.js';
import { storageDriver } from '../src/storage/registry.js';
import { RbdClient } from '../src/storage/rbd.js';

const dataMiB = Number(process.argv[2] ?? 512);
const GiB = 2 ** 30;

async function time(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

const mibps = (bytes: number, ms: number) => `${((bytes / 2 ** 20) / (ms / 1000)).toFixed(0)} MiB/s`;

/** A qcow2 of `virtualGiB` with `dataMiB` of real (incompressible-ish) data at its start. */
async function makeImage(path: string, virtualGiB: number): Promise<void> {
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', path, `${virtualGiB}G`]);
  await run('qemu-io', ['-f', 'qcow2', '-c', `write -P 0x6b 0 ${dataMiB}M`, path], { timeoutMs: 600_000 });
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'ucloud-bench-import-'));
  const cephDir = join(dir, 'ceph');
  const script = join(packageRoot(), 'scripts', 'ceph-test-cluster.sh');
  try {
    const src1 = join(dir, 'img1.qcow2');
    const src10 = join(dir, 'img10.qcow2');
    await makeImage(src1, 1);
    await makeImage(src10, 10);
    const { stdout } = await run('bash', [script, 'start', cephDir], { timeoutMs: 180_000 });
    const conf = stdout.trim().split('\n').pop()!;
    await new RbdClient({ conf }).ensurePool('bench');
    const drivers: [string, StorageDriver][] = [
      ['fs', await storageDriver('fs', { path: join(dir, 'store') })],
      ['ceph', await storageDriver('ceph', { pool: 'bench', conf })],
    ];
    const bytes = dataMiB * 2 ** 20;

    console.log(`image-import (${dataMiB} MiB of data in a qcow2)`);
    const limit = await time(() => run('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', '-W', src1, join(dir, 'plain.raw')], { timeoutMs: 600_000 }));
    console.log(`  qemu-img convert alone, to a local raw file:   ${limit.toFixed(0)} ms (${mibps(bytes, limit)})`);
    await run('rbd', ['-c', conf, 'create', '--size', '1G', 'bench/plain']);
    const limitRbd = await time(() =>
      run('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', '-n', '--target-is-zero', '-m', '16', '-W', src1, `rbd:bench/plain:conf=${conf}`], { timeoutMs: 600_000 }),
    );
    console.log(`  qemu-img convert alone, into RBD:               ${limitRbd.toFixed(0)} ms (${mibps(bytes, limitRbd)})`);
    const images: Record<string, Record<string, ImageVolume>> = {};
    for (const [name, d] of drivers) {
      images[name] = {};
      const ms = await time(async () => {
        images[name]!.one = await d.importImage('one', { path: src1, format: 'qcow2', virtualSize: GiB });
      });
      const ref = name === 'fs' ? limit : limitRbd;
      console.log(`  ucloud ${name.padEnd(4)} driver importImage:                ${ms.toFixed(0)} ms (${mibps(bytes, ms)}), ${(ms / ref).toFixed(2)}x the limit`);
      images[name]!.ten = await d.importImage('ten', { path: src10, format: 'qcow2', virtualSize: 10 * GiB });
    }

    console.log('vm-disk creation (copy-on-write) vs a full copy');
    for (const [name, d] of drivers) {
      for (const size of ['one', 'ten'] as const) {
        const img = images[name]![size]!;
        const cow = await time(() => d.createDisk(`bench-${size}`, img.virtualSize, img));
        const full = await time(() =>
          name === 'fs'
            ? run('cp', ['--sparse=never', join(dir, 'store', 'images', img.ref), join(dir, `full-${size}.raw`)], { timeoutMs: 900_000 })
            : run('rbd', ['-c', conf, 'cp', img.ref, `bench/full-${size}`], { timeoutMs: 900_000 }),
        );
        console.log(`  ${name.padEnd(4)} ${size === 'one' ? ' 1' : '10'} GiB image: ucloud disk ${cow.toFixed(0)} ms, full copy ${full.toFixed(0)} ms (${(full / cow).toFixed(0)}x)`);
      }
    }
  } finally {
    await run('bash', [script, 'stop', cephDir], { timeoutMs: 120_000 }).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(`image-import: ${(err as Error).message}`);
  process.exit(1);
});
