import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    guestImage: string;
  }
}

const root = join(import.meta.dirname, '..', '..');

/**
 * The stock Debian image the stock-image e2e files boot (guest/build-debian-image.sh --cached, cached
 * in ~/.cache/ucloud): started at once, beside the compile and the rest of the run, where it used the
 * slot of the first file that needed it for its whole build (about four minutes on a fresh machine
 * under the suite's load). Those files wait for it on the script's own lock; an unchanged cached image
 * makes this a few milliseconds. Stopped at the end of a run that did not need it (its own process
 * group, so mmdebstrap goes too and the script removes its partial files).
 */
function prebuildDebianImage(): () => void {
  if (process.getuid?.() !== 0) return () => undefined;
  mkdirSync(join(root, '.cache'), { recursive: true });
  const log = openSync(join(root, '.cache', 'debian-image-build.log'), 'w');
  const child = spawn('bash', [join(root, 'guest', 'build-debian-image.sh'), '--cached'], { cwd: root, stdio: ['ignore', 'ignore', log], detached: true });
  child.on('error', () => undefined);
  return () => {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        // ended meanwhile
      }
    }
  };
}

/**
 * Once per run: compile the CLI the integration tests start as real processes (and bundle the web dashboard),
 * and build the test guest image (cached in .cache/, a few seconds when warm); the stock Debian image
 * builds beside them (prebuildDebianImage).
 */
export default function setup(project: TestProject): () => void {
  const stopDebianBuild = prebuildDebianImage();
  const image = join(root, '.cache', 'guest', 'ucloud-test.qcow2');
  try {
    // UCLOUD_TEST_NO_BUILD=1 skips the compile when dist/ is known to be current.
    if (!process.env.UCLOUD_TEST_NO_BUILD) {
      // The one build recipe (package.json): tsc, the dashboard (dist/web), the CLI's bundle (dist/src/bundle).
      execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'inherit' });
    }
    if (!existsSync(image)) {
      mkdirSync(join(root, '.cache', 'guest'), { recursive: true });
      execFileSync('bash', [join(root, 'guest', 'build-image.sh'), image], { cwd: root, stdio: 'inherit' });
    }
  } catch (err) {
    stopDebianBuild();
    throw err;
  }
  project.provide('guestImage', image);
  return stopDebianBuild;
}
