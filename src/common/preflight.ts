import { constants } from 'node:fs';
import { access, mkdir, readFile } from 'node:fs/promises';
import { kvmUsable } from './accel.js';
import type { Config } from './config.js';
import { UcloudError } from './errors.js';
import { commandExists } from './exec.js';
import { readSecretFile } from './secret-file.js';

// Every sanity check lives here, each with the fix a person can apply. Daemons
// name the checks they need; all failures are reported together, not one by one.

export interface Check {
  name: string;
  /** Throws CheckFailed when the check fails; may return what it found, shown beside "ok". */
  run(config: Config): Promise<void | string>;
}

/** What a check throws: what is wrong, and what a person does about it. */
export class CheckFailed extends Error {
  constructor(
    message: string,
    readonly fix: string,
  ) {
    super(message);
  }
}

function binary(name: string, cmd: (c: Config) => string, pkg: string): Check {
  return {
    name,
    async run(c) {
      if (!(await commandExists(cmd(c)))) throw new CheckFailed(`${cmd(c)} is not installed`, `apt-get install ${pkg}`);
    },
  };
}

function writableDir(name: string, dir: (c: Config) => string, key: string): Check {
  return {
    name,
    async run(c) {
      try {
        await mkdir(dir(c), { recursive: true });
        await access(dir(c), constants.W_OK);
      } catch (err) {
        throw new CheckFailed(`${dir(c)} is not writable (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, `run as root, or set ${key} to a writable directory`);
      }
    },
  };
}

export const CHECKS = {
  qemu: binary('qemu', (c) => c.qemuBinary, 'qemu-system-x86'),
  qemuImg: binary('qemu-img', () => 'qemu-img', 'qemu-utils'),
  bwrap: binary('bubblewrap', () => 'bwrap', 'bubblewrap'),
  // The cidata disk of a VM without a network (src/host/seed.ts).
  mkfsVfat: binary('mkfs.vfat', () => 'mkfs.vfat', 'dosfstools'),
  mcopy: binary('mcopy', () => 'mcopy', 'mtools'),
  etcdBinary: binary('etcd', () => 'etcd', 'etcd-server'),
  accel: {
    name: 'accelerator',
    async run(c) {
      if (c.accel === 'kvm' && !(await kvmUsable())) {
        throw new CheckFailed('accel = kvm but /dev/kvm cannot be opened', 'load the kvm module and run as root, or set accel = tcg (slower)');
      }
    },
  },
  runDir: writableDir('run directory', (c) => c.runDir, 'run_dir'),
  logDir: writableDir('log directory', (c) => c.logDir, 'log_dir'),
  stateDir: writableDir('state directory', (c) => c.stateDir, 'state_dir'),
  imagePath: writableDir('image path', (c) => c.imagePath, 'image_path (IMAGE_PATH)'),
  filesPath: writableDir('files path', (c) => c.filesPath, 'files_path (FILES_PATH)'),
  etcdEndpoints: {
    name: 'etcd endpoints',
    async run(c) {
      if (c.etcdEndpoints.length === 0) throw new CheckFailed('no etcd endpoints are configured', 'set etcd_endpoints (UCLOUD_ETCD_ENDPOINTS), or use `ucloud up`, which starts a local etcd');
    },
  },
  etcdCredentials: {
    name: 'etcd credentials',
    async run(c) {
      if (!c.etcdPasswordFile) return;
      try {
        await readSecretFile(c.etcdPasswordFile, 'etcd_password_file');
      } catch (err) {
        throw new CheckFailed((err as Error).message, (err as UcloudError).hint ?? `write the etcd password into ${c.etcdPasswordFile} (mode 600), or set etcd_password_file`);
      }
    },
  },
  qemuUids: {
    name: 'QEMU uids',
    async run(c) {
      const range = c.qemuUidRange;
      if (!range) return;
      if (process.getuid?.() !== 0) {
        throw new CheckFailed('the host agent is not root, so it cannot run each QEMU as its own uid', 'run `ucloud host` as root, or set qemu_uid_range = off (QEMU then runs with your uid)');
      }
      // A VM's uid shared with a real user or group would give that account the VM's disk.
      const taken = [...(await idsIn('/etc/passwd', 2, range)), ...(await idsIn('/etc/group', 2, range))];
      if (taken.length) {
        throw new CheckFailed(`qemu_uid_range ${range.first}-${range.last} holds ids of existing users or groups: ${taken.slice(0, 5).join(', ')}`, 'set qemu_uid_range to ids no account uses (e.g. above the subuid ranges in /etc/subuid)');
      }
    },
  },
} satisfies Record<string, Check>;

/** Entries of a passwd/group file whose id (field `field`) lies in `range`, as "name:id". */
async function idsIn(file: string, field: number, range: { first: number; last: number }): Promise<string[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text
    .split('\n')
    .map((l) => l.split(':'))
    .filter((f) => f.length > field && Number(f[field]) >= range.first && Number(f[field]) <= range.last)
    .map((f) => `${file}:${f[0]}:${f[field]}`);
}

export type CheckName = keyof typeof CHECKS;

/** One check's outcome, as `ucloud host preflight` prints it. */
export interface CheckResult {
  name: string;
  ok: boolean;
  /** What failed (or, for a passing check that has something to say, what was found). */
  message?: string;
  fix?: string;
}

/** Runs every check, one after another, and reports each; none throws. */
export async function runChecks(config: Config, checks: readonly Check[]): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const c of checks) {
    try {
      const found = await c.run(config);
      results.push({ name: c.name, ok: true, ...(typeof found === 'string' ? { message: found } : {}) });
    } catch (err) {
      results.push({ name: c.name, ok: false, message: (err as Error).message, fix: err instanceof CheckFailed ? err.fix : 'see the log' });
    }
  }
  return results;
}

/** Runs the named checks; throws PREFLIGHT_FAILED listing every failure and its fix. */
export async function preflight(config: Config, names: readonly CheckName[]): Promise<void> {
  const failures = (await runChecks(config, names.map((n) => CHECKS[n]))).filter((r) => !r.ok).map((r) => `${r.name}: ${r.message}\n    fix: ${r.fix}`);
  if (failures.length) {
    throw new UcloudError('PREFLIGHT_FAILED', `preflight found ${failures.length} problem(s):\n  ${failures.join('\n  ')}`, { hint: 'fix them and start again' });
  }
}
