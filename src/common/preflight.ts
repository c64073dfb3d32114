import { constants } from 'node:fs';
import { access, mkdir } from 'node:fs/promises';
import { kvmUsable } from './accel.js';
import type { Config } from './config.js';
import { UcloudError } from './errors.js';
import { commandExists } from './exec.js';

// Every sanity check lives here, each with the fix a person can apply. Daemons
// name the checks they need; all failures are reported together, not one by one.

export interface Check {
  name: string;
  run(config: Config): Promise<void>;
}

class CheckFailed extends Error {
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
} satisfies Record<string, Check>;

export type CheckName = keyof typeof CHECKS;

/** Runs the named checks; throws PREFLIGHT_FAILED listing every failure and its fix. */
export async function preflight(config: Config, names: readonly CheckName[]): Promise<void> {
  const failures: string[] = [];
  for (const n of names) {
    try {
      await CHECKS[n].run(config);
    } catch (err) {
      const fix = err instanceof CheckFailed ? err.fix : 'see the log';
      failures.push(`${CHECKS[n].name}: ${(err as Error).message}\n    fix: ${fix}`);
    }
  }
  if (failures.length) {
    throw new UcloudError('PREFLIGHT_FAILED', `preflight found ${failures.length} problem(s):\n  ${failures.join('\n  ')}`, { hint: 'fix them and start again' });
  }
}
