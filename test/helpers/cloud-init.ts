import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

// Debian 12's cloud-init (22.4) as code to run, not as a service: its .deb and
// the few pure-Python dependencies this machine's python3 lacks, fetched with
// `apt-get download` and unpacked (dpkg -x) into a cache outside the repo
// (UCLOUD_CLOUD_INIT_CACHE, default ~/.cache/ucloud/cloud-init), once per
// machine. Nothing is installed: cloud-init must never run on the test host.

const PACKAGES = ['cloud-init', 'python3-configobj', 'python3-six', 'python3-jsonpatch', 'python3-json-pointer'];

export interface CloudInitCode {
  /** For PYTHONPATH. */
  pythonPath: string;
  /** Debian's default /etc/cloud/cloud.cfg from the package. */
  systemCfg: string;
  /** e.g. 22.4.2-1+deb12u4 */
  version: string;
  /** Runs test/helpers/cloud-init-seed.py: `url` (a NoCloud seed base) or the seed on stdin. */
  seedArgs: (scratch: string, url?: string) => string[];
}

export function cloudInitCode(): CloudInitCode {
  const cache = process.env.UCLOUD_CLOUD_INIT_CACHE ?? join(homedir(), '.cache', 'ucloud', 'cloud-init');
  const root = join(cache, 'root');
  const debs = () => (existsSync(cache) ? readdirSync(cache).filter((f) => f.endsWith('.deb')) : []);
  const have = (pkg: string) => debs().some((f) => f.startsWith(`${pkg}_`));
  if (!PACKAGES.every(have) || !existsSync(join(root, 'usr', 'lib', 'python3', 'dist-packages', 'cloudinit'))) {
    mkdirSync(cache, { recursive: true });
    execFileSync('apt-get', ['download', '-q', '-o', 'APT::Sandbox::User=root', ...PACKAGES.filter((p) => !have(p))], { cwd: cache, stdio: 'pipe' });
    rmSync(root, { recursive: true, force: true });
    for (const deb of debs()) execFileSync('dpkg', ['-x', join(cache, deb), root]);
    writeFileSync(join(cache, 'README'), 'Unpacked Debian packages for ucloud tests (test/helpers/cloud-init.ts); safe to delete.\n');
  }
  const deb = debs().find((f) => f.startsWith('cloud-init_'))!;
  const pythonPath = join(root, 'usr', 'lib', 'python3', 'dist-packages');
  const script = join(import.meta.dirname, 'cloud-init-seed.py');
  return {
    pythonPath,
    systemCfg: join(root, 'etc', 'cloud', 'cloud.cfg'),
    version: decodeURIComponent(deb.split('_')[1]!).replace(/%3a/gi, ':'),
    seedArgs: (scratch, url) => [script, join(root, 'etc', 'cloud', 'cloud.cfg'), scratch, ...(url ? [url] : [])],
  };
}

/** Debian's own python3: the .deb's code is for it (pyenv's or others' may lack yaml and requests). */
export const SYSTEM_PYTHON = '/usr/bin/python3';
