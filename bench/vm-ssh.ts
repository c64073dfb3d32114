// bench/vm-ssh: time from `vm create` to the first successful SSH command, against
// the same image and QEMU command line started by hand on a hand-made bridge
// (with radvd and a metadata server, in a network namespace of its own), runs
// alternating in one process. Prints medians and the ratio.
// Usage: node dist/bench/vm-ssh.js [runs=5]   (root; port 80 must be free)
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../src/common/exec.js';
import { packageRoot } from '../src/common/paths.js';
import { isOurQemu } from '../src/host/qemu/index.js';
import { benchArgs } from './args.js';
import { handBridge, median, startCloud, untilSsh, type HandBridge } from './harness.js';

const { runs } = benchArgs('usage: node dist/bench/vm-ssh.js [runs=5]   (or --runs N; root; port 80 must be free)', { runs: 5 }, { positional: ['runs'] });
const NS = 'uclbench';

async function main(): Promise<void> {
  const cloud = await startCloud('ssh');
  const { dir, env, client } = cloud;
  const key = join(dir, 'bench_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
  let meta: ChildProcess | undefined;
  let hand: HandBridge | undefined;
  try {
    await client.keys.add('bench', readFileSync(`${key}.pub`, 'utf8'));
    const net = await client.networks.create('bench');

    // The hand-made side: a namespace with a bridge holding fe80::1 and the network's ::1, radvd, a metadata server.
    hand = handBridge(NS, dir, net.prefix);
    meta = spawn('ip', ['netns', 'exec', NS, process.execPath, join(packageRoot(), 'dist', 'bench', 'static-metadata.js'), `${key}.pub`], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise((r) => meta!.stdout!.once('data', r));

    const ucloud: number[] = [];
    const plain: number[] = [];
    for (let i = 0; i < runs + 1; i++) {
      const t0 = performance.now();
      const vm = await client.vms.create({ name: `ssh${i}`, image: 'ucloud-test', cpu: 1, ram: '128MiB', disk: '1GiB', networks: ['bench'] });
      const tu = await untilSsh(key, 'root', vm.nics![0]!.address, t0);
      const running = await client.vms.get(vm.id);
      const cmdline = readFileSync(`/proc/${running.qemu!.pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
      await client.vms.delete(vm.id);
      while (isOurQemu(running.qemu!.pid, vm.id)) await new Promise((r) => setTimeout(r, 20));

      const scratch = mkdtempSync(join(dir, 'plain-'));
      await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', join(dir, 'images', 'images', 'admin.ucloud-test.raw'), '-F', 'raw', join(scratch, 'os.qcow2'), String(2 ** 30)]);
      const t1 = performance.now();
      const q = hand.startQemu(cmdline, { vmRunDir: join(dir, 'run', 'vms', vm.id), disk: join(scratch, 'os.qcow2'), scratch });
      const tp = await untilSsh(key, 'root', vm.nics![0]!.address, t1, { netns: NS });
      await hand.stopQemu(q);
      if (i > 0) {
        ucloud.push(tu);
        plain.push(tp);
        process.stderr.write(`run ${i}: ucloud ${tu.toFixed(0)} ms, plain qemu ${tp.toFixed(0)} ms\n`);
      }
    }
    const mu = median(ucloud);
    const mp = median(plain);
    console.log(`vm-ssh (${runs} runs each, accel ${env.UCLOUD_ACCEL}, 1 vCPU, 128 MiB; guest SLAAC with DAD, key via metadata)`);
    console.log(`  ucloud (vm create -> first ssh):        median ${mu.toFixed(0)} ms  [${ucloud.map((x) => x.toFixed(0)).join(', ')}]`);
    console.log(`  plain qemu, hand-made bridge:           median ${mp.toFixed(0)} ms  [${plain.map((x) => x.toFixed(0)).join(', ')}]`);
    console.log(`  added by ucloud: ${(mu - mp).toFixed(0)} ms; ratio ${(mu / mp).toFixed(3)}`);
  } finally {
    meta?.kill();
    hand?.remove();
    await cloud.stop();
  }
}

main().catch((err: unknown) => {
  console.error(`vm-ssh: ${(err as Error).message}`);
  process.exit(1);
});
