// bench/cloud-image: a stock Debian 12 cloud image (guest/build-debian-image.sh),
// time from `vm create` to the first successful SSH as `debian`, next to the same
// image and QEMU command line started by hand on a hand-made bridge in a network
// namespace (radvd, and the reference NoCloud-net seed of bench/nocloud-seed.ts
// at the same http://[<prefix>::1]/nocloud/ the SMBIOS serial names): the limit
// of the guest's own boot. Runs alternate in one process. Prints medians and the ratio.
// Usage: node dist/bench/cloud-image.js [runs=3]   (root; port 80 of the prefix must be free)
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../src/common/exec.js';
import { packageRoot } from '../src/common/paths.js';
import { isOurQemu } from '../src/host/qemu/index.js';
import { benchArgs } from './args.js';
import { handBridge, median, startCloud, untilSsh, type HandBridge } from './harness.js';

const { runs } = benchArgs('usage: node dist/bench/cloud-image.js [runs=3]   (or --runs N; root; port 80 of the prefix must be free)', { runs: 3 }, { positional: ['runs'] });
const NS = 'uclbenchci';
const CPU = 2;
const RAM = '1GiB';
const DISK = 4 * 2 ** 30;
const LIMIT = { limitMs: 900_000, everyMs: 250 };

async function main(): Promise<void> {
  const t = performance.now();
  const image = execFileSync('bash', [join(packageRoot(), 'guest', 'build-debian-image.sh'), '--cached'], { stdio: ['ignore', 'pipe', 'inherit'] }).toString().trim();
  const buildS = (performance.now() - t) / 1000;
  const cloud = await startCloud('cloudimg');
  const { dir, env, client } = cloud;
  const key = join(dir, 'bench_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
  let seed: ChildProcess | undefined;
  let hand: HandBridge | undefined;
  try {
    await client.keys.add('bench', readFileSync(`${key}.pub`, 'utf8'));
    // As a user would: upload through the API, import into the default store.
    const cli = (...args: string[]) => execFileSync(process.execPath, [join(packageRoot(), 'bin', 'ucloud'), ...args], { env, stdio: ['ignore', 'ignore', 'inherit'] });
    cli('file', 'upload', image, '--name', 'debian12.qcow2', '--wait');
    cli('image', 'create', 'debian12', '--from-file', 'debian12.qcow2', '--wait');
    const imageFile = readdirSync(join(dir, 'images', 'images')).find((f) => f.includes('debian12'));
    if (!imageFile) throw new Error('imported image file not found');
    const net = await client.networks.create('bench');

    // The hand-made side: a namespace with a bridge holding fe80::1 and the network's ::1, radvd, the reference seed.
    hand = handBridge(NS, dir, net.prefix);
    seed = spawn('ip', ['netns', 'exec', NS, process.execPath, join(packageRoot(), 'dist', 'bench', 'nocloud-seed.js'), `${key}.pub`, net.prefix.replace('::/64', '::1')], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise((r) => seed!.stdout!.once('data', r));

    const ucloud: number[] = [];
    const plain: number[] = [];
    // One pair more than counted, first: the just-imported image is cold in the page cache for
    // the first VM and warm for every boot after it (the same warm-up bench/vm-ssh drops).
    for (let i = 0; i < runs + 1; i++) {
      const t0 = performance.now();
      const vm = await client.vms.create({ name: `deb${i}`, image: 'debian12', cpu: CPU, ram: RAM, disk: DISK, networks: ['bench'] });
      const tu = await untilSsh(key, 'debian', vm.nics![0]!.address, t0, LIMIT);
      const running = await client.vms.get(vm.id);
      const cmdline = readFileSync(`/proc/${running.qemu!.pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
      await client.vms.delete(vm.id);
      while (isOurQemu(running.qemu!.pid, vm.id)) await new Promise((r) => setTimeout(r, 20));

      // Same command line, same SMBIOS seed URL; a fresh overlay of the same imported image, the same size.
      const scratch = mkdtempSync(join(dir, 'plain-'));
      const fmt = imageFile.endsWith('.qcow2') ? 'qcow2' : 'raw';
      await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', join(dir, 'images', 'images', imageFile), '-F', fmt, join(scratch, 'os.qcow2'), String(DISK)]);
      if (i === 0) process.stderr.write(`qemu command line: ${cmdline.join(' ')}\n`);
      const t1 = performance.now();
      const q = hand.startQemu(cmdline, { vmRunDir: join(dir, 'run', 'vms', vm.id), disk: join(scratch, 'os.qcow2'), scratch, logSerial: true });
      const tp = await untilSsh(key, 'debian', vm.nics![0]!.address, t1, { ...LIMIT, netns: NS });
      await hand.stopQemu(q);
      if (i > 0) {
        ucloud.push(tu);
        plain.push(tp);
      }
      process.stderr.write(`${i ? `run ${i}` : 'warm-up'}: ucloud ${(tu / 1000).toFixed(1)} s, by hand ${(tp / 1000).toFixed(1)} s\n`);
    }
    const mu = median(ucloud);
    const mp = median(plain);
    const s = (x: number) => (x / 1000).toFixed(1);
    console.log(`cloud-image (stock Debian 12 cloud image, ${runs} runs each, accel ${env.UCLOUD_ACCEL}, ${CPU} vCPU, ${RAM}, 4 GiB disk; cloud-init from the SMBIOS NoCloud-net seed; image ready in ${buildS.toFixed(0)} s)`);
    console.log(`  ucloud (vm create -> first ssh as debian):     median ${s(mu)} s  [${ucloud.map(s).join(', ')}]`);
    console.log(`  by hand (same qemu, reference NoCloud seed):   median ${s(mp)} s  [${plain.map(s).join(', ')}]`);
    console.log(`  added by ucloud: ${s(mu - mp)} s; ratio ${(mu / mp).toFixed(3)} (goal <= 1.05)`);
  } finally {
    seed?.kill();
    hand?.remove();
    await cloud.stop();
  }
}

main().catch((err: unknown) => {
  console.error(`cloud-image: ${(err as Error).message}`);
  process.exit(1);
});
