// bench/vm-ssh: time from `vm create` to the first successful SSH command, against
// the same image and QEMU command line started by hand on a hand-made bridge
// (with radvd and a metadata server, in a network namespace of its own), runs
// alternating in one process. Prints medians and the ratio.
// Usage: node dist/bench/vm-ssh.js [runs=5]   (root; port 80 must be free)
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../src/common/exec.js';
import { packageRoot } from '../src/common/paths.js';
import { isOurQemu, waitForExit } from '../src/host/qemu/index.js';
import { median, startCloud } from './harness.js';

const runs = Number(process.argv[2] ?? 5);
const NS = 'uclbench';

function sshOnce(key: string, address: string, netns?: string): Promise<boolean> {
  const args = ['-i', key, '-o', 'IdentitiesOnly=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=2', '-o', 'LogLevel=QUIET', `root@${address}`, 'true'];
  const [cmd, ...argv] = netns ? ['ip', 'netns', 'exec', netns, 'ssh', ...args] : ['ssh', ...args];
  return new Promise((resolve) => execFile(cmd!, argv, { timeout: 10_000 }, (err) => resolve(!err)));
}

async function untilSsh(key: string, address: string, t0: number, netns?: string): Promise<number> {
  while (performance.now() - t0 < 180_000) {
    if (await sshOnce(key, address, netns)) return performance.now() - t0;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no ssh to ${address}`);
}

async function main(): Promise<void> {
  const cloud = await startCloud('ssh');
  const { dir, env, client } = cloud;
  const key = join(dir, 'bench_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
  let meta: ChildProcess | undefined;
  try {
    await client.keys.add('bench', readFileSync(`${key}.pub`, 'utf8'));
    const net = await client.networks.create('bench');

    // The hand-made side: a namespace with a bridge holding fe80::1 and the network's ::1, radvd, a metadata server.
    execFileSync('ip', ['netns', 'add', NS]);
    const ns = (...a: string[]) => execFileSync('ip', ['-n', NS, ...a]);
    ns('link', 'set', 'lo', 'up');
    ns('link', 'add', 'br0', 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0');
    ns('addr', 'add', 'fe80::1/64', 'dev', 'br0', 'nodad');
    ns('addr', 'add', `${net.prefix.replace('::/64', '::1')}/64`, 'dev', 'br0', 'nodad');
    ns('link', 'set', 'br0', 'up');
    writeFileSync(
      join(dir, 'radvd.conf'),
      `interface br0 { AdvSendAdvert on; MinRtrAdvInterval 3; MaxRtrAdvInterval 10; AdvDefaultLifetime 0; prefix ${net.prefix} { AdvOnLink on; AdvAutonomous on; }; };\n`,
    );
    execFileSync('ip', ['netns', 'exec', NS, 'radvd', '-C', join(dir, 'radvd.conf'), '-p', join(dir, 'radvd.pid')]);
    meta = spawn('ip', ['netns', 'exec', NS, process.execPath, join(packageRoot(), 'dist', 'bench', 'static-metadata.js'), `${key}.pub`], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise((r) => meta!.stdout!.once('data', r));

    const ucloud: number[] = [];
    const plain: number[] = [];
    for (let i = 0; i < runs + 1; i++) {
      const t0 = performance.now();
      const vm = await client.vms.create({ name: `ssh${i}`, image: 'ucloud-test', cpu: 1, ram: '128MiB', disk: '1GiB', networks: ['bench'] });
      const tu = await untilSsh(key, vm.nics![0]!.address, t0);
      const running = await client.vms.get(vm.id);
      const cmdline = readFileSync(`/proc/${running.qemu!.pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
      await client.vms.delete(vm.id);
      while (isOurQemu(running.qemu!.pid, vm.id)) await new Promise((r) => setTimeout(r, 20));

      const scratch = mkdtempSync(join(dir, 'plain-'));
      const diskPath = /file=([^,]+\.qcow2)/.exec(cmdline.join(' '))![1]!;
      await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', join(dir, 'images', 'images', 'admin.ucloud-test.raw'), '-F', 'raw', join(scratch, 'os.qcow2'), String(2 ** 30)]);
      const tap = /ifname=([^,]+)/.exec(cmdline.join(' '))![1]!;
      ns('tuntap', 'add', 'dev', 'tapb0', 'mode', 'tap');
      ns('link', 'set', 'tapb0', 'master', 'br0', 'up');
      const runDir = join(dir, 'run', 'vms', vm.id);
      const args = cmdline.slice(1).map((a) => a.split(diskPath).join(join(scratch, 'os.qcow2')).split(runDir).join(scratch).split(`ifname=${tap}`).join('ifname=tapb0'));
      const t1 = performance.now();
      // QEMU runs in the foreground (no -daemonize under its seccomp filter); `ip netns exec` execs it.
      const q = spawn('ip', ['netns', 'exec', NS, cmdline[0]!, ...args], { stdio: 'ignore' });
      const tp = await untilSsh(key, vm.nics![0]!.address, t1, NS);
      q.kill('SIGKILL');
      await waitForExit(q.pid!, 5000);
      ns('link', 'del', 'tapb0');
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
    try {
      execFileSync('ip', ['netns', 'pids', NS]).toString().split('\n').filter(Boolean).forEach((p) => process.kill(Number(p), 'SIGKILL'));
      execFileSync('ip', ['netns', 'del', NS]);
    } catch {
      // not made
    }
    await cloud.stop();
  }
}

main().catch((err: unknown) => {
  console.error(`vm-ssh: ${(err as Error).message}`);
  process.exit(1);
});
