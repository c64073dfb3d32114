import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './cluster.js';

/**
 * The test guest image with `init` as its /usr/sbin/ucloud-init (guest/README.md),
 * built once per recipe into .cache/guest/ucloud-<name>-<hash>.qcow2; `workDir`
 * holds the script while the image is built. `append`: its kernel command line
 * instead of build-image.sh's (`ucloud.shell` in it: a root shell on the serial console).
 */
export function guestVariant(name: string, init: string, workDir: string, opts: { append?: string } = {}): string {
  const recipe = createHash('sha256').update(init).update(opts.append ?? '').update(readFileSync(join(ROOT, 'guest', 'build-image.sh'))).digest('hex').slice(0, 12);
  const image = join(ROOT, '.cache', 'guest', `ucloud-${name}-${recipe}.qcow2`);
  if (!existsSync(image)) {
    const script = join(workDir, `${name}.sh`);
    writeFileSync(script, init, { mode: 0o755 });
    execFileSync('bash', [join(ROOT, 'guest', 'build-image.sh'), image], { env: { ...process.env, UCLOUD_GUEST_INIT: script, ...(opts.append ? { UCLOUD_GUEST_APPEND: opts.append } : {}) }, stdio: 'ignore' });
  }
  return image;
}
