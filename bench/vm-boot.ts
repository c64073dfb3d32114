// bench/vm-boot: time from `vm create` to the guest's boot marker on its serial
// console, against the very same QEMU command line started directly, in one
// process, runs alternating so both see the same machine. Prints medians and
// the ratio. Usage: node dist/bench/vm-boot.js [runs=5]
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { run } from '../src/common/exec.js';
import { isOurQemu, waitForExit } from '../src/host/qemu/index.js';
import { benchArgs } from './args.js';
import { median, startCloud } from './harness.js';

const MARKER = 'UCLOUD-GUEST-BOOTED';
const { runs } = benchArgs('usage: node dist/bench/vm-boot.js [runs=5]   (or --runs N; root)', { runs: 5 }, { positional: ['runs'] });

/**
 * The plain side has no console keeper: read QEMU's serial socket directly,
 * connecting as soon as it exists (what the keeper does for ucloud).
 */
function waitForMarkerOnSocket(path: string, t0: number, timeoutMs = 120_000): Promise<number> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const attempt = () => {
      if (performance.now() - t0 > timeoutMs) return reject(new Error(`no boot marker on ${path}`));
      const s = connect(path);
      s.on('data', (b: Buffer) => {
        seen = (seen + b.toString('latin1')).slice(-4096);
        if (seen.includes(MARKER)) {
          s.destroy();
          resolve(performance.now() - t0);
        }
      });
      s.on('error', () => setTimeout(attempt, 2));
    };
    attempt();
  });
}

/** Polls the console log every 2 ms. */
async function waitForMarker(file: string, t0: number, timeoutMs = 120_000): Promise<number> {
  for (;;) {
    try {
      if (statSync(file).size > 0 && readFileSync(file, 'utf8').includes(MARKER)) return performance.now() - t0;
    } catch {
      // not created yet
    }
    if (performance.now() - t0 > timeoutMs) throw new Error(`no boot marker in ${file}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

async function main(): Promise<void> {
  const cloud = await startCloud('boot');
  const { dir, env, client } = cloud;
  try {
    // The first VM of a network on a host also builds the network's bridge, VXLAN and radvd
    // (measured once here); the runs below join that network, kept by a stopped VM.
    const f0 = performance.now();
    const anchor = await client.vms.create({ name: 'anchor', image: 'ucloud-test', cpu: 1, ram: '128MiB', disk: '1GiB' });
    const anchorLog = join(dir, 'run', 'vms', anchor.id, 'console.log');
    const firstOfNetwork = await waitForMarker(anchorLog, f0);
    const anchorLaunch = Date.parse((await client.vms.get(anchor.id)).qemu!.startedAt) - (Date.now() - (performance.now() - f0));
    await client.vms.stop(anchor.id);
    while ((await client.vms.get(anchor.id)).status !== 'stopped') await new Promise((r) => setTimeout(r, 50));
    const ucloud: number[] = [];
    const plain: number[] = [];
    // Where the time goes: until QEMU has been launched (ucloud: API, etcd, scheduler, agent, disk; plain: the launch itself).
    const ucloudLaunch: number[] = [];
    const plainLaunch: number[] = [];
    let cmdline: string[] | undefined;
    for (let i = 0; i < runs + 1; i++) {
      // ucloud: create through the API, wait for the marker in the VM's console log (written by its keeper).
      const t0 = performance.now();
      const wall0 = Date.now();
      const vm = await client.vms.create({ name: `boot${i}`, image: 'ucloud-test', cpu: 1, ram: '128MiB', disk: '1GiB' });
      const log = join(dir, 'run', 'vms', vm.id, 'console.log');
      const tu = await waitForMarker(log, t0);
      const running = await client.vms.get(vm.id);
      const launched = Date.parse(running.qemu!.startedAt) - wall0;
      cmdline = readFileSync(`/proc/${running.qemu!.pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
      await client.vms.delete(vm.id);
      while (isOurQemu(running.qemu!.pid, vm.id)) await new Promise((r) => setTimeout(r, 20));

      // plain: the same command line, its paths moved to a scratch dir, on an overlay made beforehand.
      const scratch = mkdtempSync(join(dir, 'plain-'));
      const disk = cmdline.find((a) => a.startsWith('file=') && a.includes('.qcow2'))!;
      const diskPath = /^file=([^,]+)/.exec(disk)![1]!;
      const backing = join(dir, 'images', 'images', 'admin.ucloud-test.raw');
      await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', backing, '-F', 'raw', join(scratch, 'os.qcow2'), String(2 ** 30)]);
      const runDir = join(dir, 'run', 'vms', vm.id);
      const args = cmdline.slice(1).map((a) => a.split(diskPath).join(join(scratch, 'os.qcow2')).split(runDir).join(scratch));
      const t1 = performance.now();
      // QEMU no longer daemonizes (its seccomp filter denies the fork): it runs in the foreground here.
      const q = spawn(cmdline[0]!, args, { stdio: 'ignore' });
      const plainLaunched = performance.now() - t1;
      const tp = await waitForMarkerOnSocket(join(scratch, 'serial.sock'), t1);
      q.kill('SIGKILL');
      await waitForExit(q.pid!, 5000);
      // The first pair warms caches (page cache, QEMU's binary); it is not counted.
      if (i > 0) {
        ucloud.push(tu);
        plain.push(tp);
        ucloudLaunch.push(launched);
        plainLaunch.push(plainLaunched);
        process.stderr.write(`run ${i}: ucloud ${tu.toFixed(0)} ms, plain qemu ${tp.toFixed(0)} ms\n`);
      }
    }
    await client.vms.delete(anchor.id);
    while ((await client.vms.list()).length) await new Promise((r) => setTimeout(r, 50));
    const mu = median(ucloud);
    const mp = median(plain);
    console.log(`vm-boot (${runs} runs each, accel ${env.UCLOUD_ACCEL}, 1 vCPU, 128 MiB)`);
    console.log(`  ucloud (vm create -> boot marker):     median ${mu.toFixed(0)} ms  [${ucloud.map((x) => x.toFixed(0)).join(', ')}]`);
    console.log(`  plain qemu (same command line):        median ${mp.toFixed(0)} ms  [${plain.map((x) => x.toFixed(0)).join(', ')}]`);
    console.log(`  added by ucloud: ${(mu - mp).toFixed(0)} ms; ratio ${(mu / mp).toFixed(3)}`);
    console.log(`  until QEMU launched: ucloud median ${median(ucloudLaunch).toFixed(0)} ms (API + etcd + scheduler + agent + disk + launch), plain ${median(plainLaunch).toFixed(0)} ms (launch)`);
    console.log(`  first VM of a network on this host (builds bridge, VXLAN, radvd): ${firstOfNetwork.toFixed(0)} ms to the marker, QEMU launched after ${anchorLaunch.toFixed(0)} ms`);
    console.log(`  guest boot after launch: ucloud median ${median(ucloud.map((x, i) => x - ucloudLaunch[i]!)).toFixed(0)} ms, plain ${median(plain.map((x, i) => x - plainLaunch[i]!)).toFixed(0)} ms`);
  } finally {
    await cloud.stop();
  }
}

main().catch((err: unknown) => {
  console.error(`vm-boot: ${(err as Error).message}`);
  process.exit(1);
});
