// bench/image-import: (1) image import throughput of each storage driver against
// `qemu-img convert` alone on the same file (the physical limit): ucloud's side
// is the whole import path the imagescanner runs (open the user's file, inspect
// its header, convert it in the sandbox, into RBD over NBD through a
// qemu-storage-daemon for Ceph),
// nothing is copied first; and (2) VM disk creation time from a 1 GiB and a
// 10 GiB image on each driver against a full copy. Starts a throw-away
// single-node Ceph for the ceph driver.
// Usage: node dist/bench/image-import.js [dataMiB=512] [rounds=3]  (or --data-mib N --rounds N)
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../src/common/exec.js';
import { packageRoot } from '../src/common/paths.js';
import { importUserFile } from '../src/scanners/image-source.js';
import type { ImageVolume, StorageDriver } from '../src/storage/driver.js';
import { storageDriver } from '../src/storage/registry.js';
import { RbdClient } from '../src/storage/rbd.js';
import { benchArgs } from './args.js';

const { 'data-mib': dataMiB, rounds } = benchArgs('usage: node dist/bench/image-import.js [dataMiB=512] [rounds=3]   (or --data-mib N --rounds N; root)', { 'data-mib': 512, rounds: 3 }, { positional: ['data-mib', 'rounds'] });

/** Times `fn`, having first flushed what earlier steps left dirty: else their writeback lands in its time (rounds of 1.1–1.8 s against 0.16 s seen). */
async function time(fn: () => Promise<unknown>): Promise<number> {
  await run('sync', []);
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
    // The user's folder, as the imagescanner finds it under files_path.
    const userDir = join(dir, 'files', 'bench');
    mkdirSync(userDir, { recursive: true });
    const src1 = join(userDir, 'img1.qcow2');
    const src10 = join(userDir, 'img10.qcow2');
    await makeImage(src1, 1);
    await makeImage(src10, 10);
    const { stdout } = await run('bash', [script, 'start', cephDir], { timeoutMs: 180_000 });
    const conf = stdout.trim().split('\n').pop()!;
    await new RbdClient({ conf }).ensurePool('bench');
    const drivers: [string, StorageDriver][] = [
      ['fs', await storageDriver('fs', { path: join(dir, 'store') })],
      ['ceph', await storageDriver('ceph', { pool: 'bench', conf, user: 'admin' })],
    ];
    const bytes = dataMiB * 2 ** 20;
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

    // Alternate the contenders round by round, so a busy moment of the machine hits both alike; report medians.
    console.log(`image-import (${dataMiB} MiB of data in a 1 GiB qcow2; median of ${rounds} rounds)`);
    const images: Record<string, Record<string, ImageVolume>> = {};
    for (const [name, d] of drivers) {
      const alone: number[] = [];
      const ours: number[] = [];
      for (let r = 0; r < rounds; r++) {
        if (name === 'fs') {
          const out = join(dir, 'plain.raw');
          alone.push(await time(() => run('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', '-W', src1, out], { timeoutMs: 600_000 })));
          rmSync(out);
        } else {
          await run('rbd', ['-c', conf, 'create', '--size', '1G', 'bench/plain']);
          alone.push(
            await time(() =>
              run('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', '-n', '--target-is-zero', '-m', '16', '-W', src1, `rbd:bench/plain:conf=${conf}`], { timeoutMs: 600_000 }),
            ),
          );
          await run('rbd', ['-c', conf, 'rm', '--no-progress', 'bench/plain']);
        }
        let vol: ImageVolume | undefined;
        ours.push(
          await time(async () => {
            vol = await importUserFile({ ownerDir: userDir, name: 'img1.qcow2' }, d, `one${r}`);
          }),
        );
        if (r < rounds - 1) await d.deleteImage(vol!);
        else images[name] = { one: vol! };
      }
      const [a, o] = [median(alone), median(ours)];
      console.log(`  ${name.padEnd(4)} qemu-img convert alone: ${a.toFixed(0)} ms (${mibps(bytes, a)}); ucloud import: ${o.toFixed(0)} ms (${mibps(bytes, o)}), ${(o / a).toFixed(2)}x`);
      console.log(`       rounds (alone / ucloud, ms): ${alone.map((x, i) => `${x.toFixed(0)}/${ours[i]!.toFixed(0)}`).join(', ')}`);
      images[name]!.ten = await importUserFile({ ownerDir: userDir, name: 'img10.qcow2' }, d, 'ten');
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
