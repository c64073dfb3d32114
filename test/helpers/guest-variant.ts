import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './cluster.js';

/**
 * The test guest image with `init` as its /usr/sbin/ucloud-init (guest/README.md;
 * undefined: the standard one) and `append` as its kernel command line
 * (UCLOUD_GUEST_APPEND; undefined: the standard one), built once per recipe
 * into .cache/guest/ucloud-<name>-<hash>.qcow2; `workDir` holds the script
 * while the image is built.
 */
export function guestVariant(name: string, init: string | undefined, workDir: string, opts: { append?: string } = {}): string {
  const recipe = createHash('sha256')
    .update(init ?? '')
    .update(opts.append === undefined ? '' : `\0append=${opts.append}`)
    .update(readFileSync(join(ROOT, 'guest', 'build-image.sh')))
    .digest('hex')
    .slice(0, 12);
  const image = join(ROOT, '.cache', 'guest', `ucloud-${name}-${recipe}.qcow2`);
  if (!existsSync(image)) {
    const env: NodeJS.ProcessEnv = { ...process.env };
    if (init !== undefined) {
      const script = join(workDir, `${name}.sh`);
      writeFileSync(script, init, { mode: 0o755 });
      env.UCLOUD_GUEST_INIT = script;
    }
    if (opts.append !== undefined) env.UCLOUD_GUEST_APPEND = opts.append;
    execFileSync('bash', [join(ROOT, 'guest', 'build-image.sh'), image], { env, stdio: 'ignore' });
  }
  return image;
}
