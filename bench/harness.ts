// What the VM benchmarks share: a whole ucloud (`ucloud up`) in a scratch
// directory with its own ports, a client for it, the median, waiting for SSH,
// and the hand-made bridge their by-hand baselines boot on.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readCliConfig } from '../src/common/cli-config.js';
import { createWriteStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '../src/client/client.js';
import { packageRoot } from '../src/common/paths.js';
import { waitForExit } from '../src/host/qemu/index.js';
import { METRICS_OFF_ENV } from '../test/helpers/ports.js';

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

function freePort(host: string): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen({ port: 0, host }, () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

export interface BenchCloud {
  dir: string;
  env: NodeJS.ProcessEnv;
  client: Client;
  stop(): Promise<void>;
}

/** Runs `ucloud up` (local etcd, every daemon, TCG unless UCLOUD_ACCEL says otherwise) in a new scratch directory. */
export async function startCloud(name: string): Promise<BenchCloud> {
  const dir = mkdtempSync(join(tmpdir(), `ucloud-bench-${name}-`));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    UCLOUD_CONFIG: join(dir, 'ucloud.conf'),
    UCLOUD_CLI_CONFIG: join(dir, 'cli.json'),
    UCLOUD_LOCAL_ETCD_URL: `http://127.0.0.1:${await freePort('127.0.0.1')}`,
    UCLOUD_STATE_DIR: join(dir, 'state'),
    UCLOUD_RUN_DIR: join(dir, 'run'),
    UCLOUD_LOG_DIR: join(dir, 'log'),
    IMAGE_PATH: join(dir, 'images'),
    FILES_PATH: join(dir, 'files'),
    UCLOUD_API_LISTEN: `[::1]:${await freePort('::1')}`,
    UCLOUD_HOST_NAME: 'bench',
    ...METRICS_OFF_ENV,
    UCLOUD_ACCEL: process.env.UCLOUD_ACCEL ?? 'tcg',
  };
  // `up` runs its own etcd and generates its password into the state dir.
  delete env.UCLOUD_ETCD_ENDPOINTS;
  delete env.UCLOUD_ETCD_USERNAME;
  delete env.UCLOUD_ETCD_PASSWORD_FILE;
  writeFileSync(env.UCLOUD_CONFIG!, '');
  const up = spawn(process.execPath, [join(packageRoot(), 'bin', 'ucloud'), 'up'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let upErr = '';
  up.stderr.on('data', (b: Buffer) => (upErr += b.toString()));
  const stop = async () => {
    if (up.exitCode === null) {
      up.kill('SIGINT');
      await new Promise((r) => up.once('exit', r));
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 180_000;
  while (!upErr.includes('ucloud is up')) {
    if (up.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`ucloud up failed:\n${upErr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const { url, token } = readCliConfig(env.UCLOUD_CLI_CONFIG).profiles.local!;
  return { dir, env, client: new Client({ url, token }), stop };
}

/** One SSH attempt running `true` as `user`, optionally from inside a network namespace. */
function sshOnce(key: string, user: string, address: string, netns?: string): Promise<boolean> {
  const args = ['-i', key, '-o', 'IdentitiesOnly=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=2', '-o', 'LogLevel=QUIET', `${user}@${address}`, 'true'];
  const [cmd, ...argv] = netns ? ['ip', 'netns', 'exec', netns, 'ssh', ...args] : ['ssh', ...args];
  return new Promise((resolve) => execFile(cmd!, argv, { timeout: 10_000 }, (err) => resolve(!err)));
}

/** Milliseconds from `t0` (performance.now()) to the first successful SSH as `user`. */
export async function untilSsh(key: string, user: string, address: string, t0: number, opts: { netns?: string; limitMs?: number; everyMs?: number } = {}): Promise<number> {
  while (performance.now() - t0 < (opts.limitMs ?? 180_000)) {
    if (await sshOnce(key, user, address, opts.netns)) return performance.now() - t0;
    await new Promise((r) => setTimeout(r, opts.everyMs ?? 100));
  }
  throw new Error(`no ssh to ${user}@${address}`);
}

export interface HandBridge {
  /** Runs `ip -n <namespace> …`. */
  ip(...args: string[]): Buffer;
  /**
   * Starts a QEMU by hand, with a ucloud VM's command line (from /proc/<pid>/cmdline) on a new overlay `disk` and tap `tapb0`.
   * `logSerial` reads its serial socket into scratch/console.log as ucloud's console keeper does: a guest
   * that prints much to its console is slowed by a reader (printk waits on the UART), and QEMU drops the bytes when nobody reads.
   */
  startQemu(cmdline: string[], opts: { vmRunDir: string; disk: string; scratch: string; logSerial?: boolean }): ChildProcess;
  /** Kills a QEMU from startQemu and removes its tap. */
  stopQemu(q: ChildProcess): Promise<void>;
  remove(): void;
}

/**
 * The baseline's network: a namespace with a bridge holding fe80::1 and the
 * network's <prefix>::1 (as ucloud's bridges do) and radvd advertising the
 * prefix, nothing else of ucloud.
 */
export function handBridge(name: string, dir: string, prefix: string): HandBridge {
  execFileSync('ip', ['netns', 'add', name]);
  const ip = (...a: string[]) => execFileSync('ip', ['-n', name, ...a]);
  ip('link', 'set', 'lo', 'up');
  ip('link', 'add', 'br0', 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0');
  ip('addr', 'add', 'fe80::1/64', 'dev', 'br0', 'nodad');
  ip('addr', 'add', `${prefix.replace('::/64', '::1')}/64`, 'dev', 'br0', 'nodad');
  ip('link', 'set', 'br0', 'up');
  writeFileSync(
    join(dir, 'radvd.conf'),
    `interface br0 { AdvSendAdvert on; MinRtrAdvInterval 3; MaxRtrAdvInterval 10; AdvDefaultLifetime 0; prefix ${prefix} { AdvOnLink on; AdvAutonomous on; }; };\n`,
  );
  execFileSync('ip', ['netns', 'exec', name, 'radvd', '-C', join(dir, 'radvd.conf'), '-p', join(dir, 'radvd.pid')]);
  return {
    ip,
    startQemu(cmdline, { vmRunDir, disk, scratch, logSerial }) {
      const joined = cmdline.join(' ');
      const vmDisk = /file=([^,]+\.qcow2)/.exec(joined)![1]!;
      const tap = /ifname=([^,]+)/.exec(joined)![1]!;
      ip('tuntap', 'add', 'dev', 'tapb0', 'mode', 'tap');
      ip('link', 'set', 'tapb0', 'master', 'br0', 'up');
      const args = cmdline.slice(1).map((a) => a.split(vmDisk).join(disk).split(vmRunDir).join(scratch).split(`ifname=${tap}`).join('ifname=tapb0'));
      // QEMU runs in the foreground (no -daemonize under its seccomp filter); `ip netns exec` execs it.
      const q = spawn('ip', ['netns', 'exec', name, cmdline[0]!, ...args], { stdio: 'ignore' });
      if (logSerial) {
        const log = createWriteStream(join(scratch, 'console.log'));
        const attach = () => {
          if (q.exitCode !== null || q.signalCode !== null) return log.end();
          const s = connect(join(scratch, 'serial.sock'));
          s.once('error', () => setTimeout(attach, 20)); // not listening yet
          s.once('connect', () => s.pipe(log));
        };
        attach();
      }
      return q;
    },
    async stopQemu(q) {
      q.kill('SIGKILL');
      await waitForExit(q.pid!, 5000);
      ip('link', 'del', 'tapb0');
    },
    remove() {
      try {
        execFileSync('ip', ['netns', 'pids', name]).toString().split('\n').filter(Boolean).forEach((p) => process.kill(Number(p), 'SIGKILL'));
        execFileSync('ip', ['netns', 'del', name]);
      } catch {
        // already gone
      }
    },
  };
}
