import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    guestImage: string;
  }
}

const root = join(import.meta.dirname, '..', '..');

/**
 * Once per run: compile the CLI the integration tests start as real processes (and bundle the web dashboard),
 * and build the test guest image (cached in .cache/, a few seconds when warm).
 */
export default function setup(project: TestProject): void {
  // UCLOUD_TEST_NO_BUILD=1 skips the compile when dist/ is known to be current.
  if (!process.env.UCLOUD_TEST_NO_BUILD) {
    // The one build recipe (package.json): tsc, the dashboard (dist/web), the CLI's bundle (dist/src/bundle).
    execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'inherit' });
  }
  const image = join(root, '.cache', 'guest', 'ucloud-test.qcow2');
  if (!existsSync(image)) {
    mkdirSync(join(root, '.cache', 'guest'), { recursive: true });
    execFileSync('bash', [join(root, 'guest', 'build-image.sh'), image], { cwd: root, stdio: 'inherit' });
  }
  project.provide('guestImage', image);
}
