import { defineConfig } from 'vitest/config';

// Two cores: at most two test files at once; QEMU-heavy files serialise themselves
// through the shared guest image and their own etcd, so they are safe side by side.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 2,
    fileParallelism: true,
    testTimeout: 120_000,
    hookTimeout: 180_000,
    globalSetup: ['test/helpers/global-setup.ts'],
    reporters: ['default', './test/helpers/summary-reporter.ts'],
  },
});
