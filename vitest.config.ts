import { defineConfig } from 'vitest/config';

// Two cores: at most two test files at once; QEMU-heavy files serialise themselves
// through the shared guest image and their own etcd, so they are safe side by side.
// The fleet-scale test takes both cores for two minutes: it runs alone, after the
// rest, so that it neither slows nor is slowed by the TCG guests' timeouts.
const common = { pool: 'forks', maxWorkers: 2, fileParallelism: true, testTimeout: 120_000, hookTimeout: 180_000 } as const;

export default defineConfig({
  test: {
    // Once for the whole run (compile, guest image); the projects do not repeat it.
    globalSetup: ['test/helpers/global-setup.ts'],
    reporters: ['default', './test/helpers/summary-reporter.ts'],
    projects: [
      { test: { ...common, name: 'suite', include: ['test/**/*.test.ts'], exclude: ['test/scale/**'], sequence: { groupOrder: 0 } } },
      { test: { ...common, name: 'scale', include: ['test/scale/**/*.test.ts'], sequence: { groupOrder: 1 } } },
    ],
  },
});
