import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/common/config.js';
import { UcloudError } from '../../src/common/errors.js';
import { preflight } from '../../src/common/preflight.js';

describe('preflight', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ucloud-preflight-'));
  const file = join(dir, 'not-a-dir');
  writeFileSync(file, '');
  chmodSync(file, 0o400);

  it('reports every failed check at once, each with its fix', async () => {
    const { config } = loadConfig({ file: '/dev/null', env: {}, overrides: { qemu_binary: 'qemu-system-nonesuch', run_dir: join(file, 'run'), etcd_endpoints: '' } });
    const err = await preflight(config, ['qemu', 'runDir', 'etcdEndpoints', 'qemuImg']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UcloudError);
    const e = err as UcloudError;
    expect(e.code).toBe('PREFLIGHT_FAILED');
    expect(e.message).toContain('preflight found 3 problem(s)');
    expect(e.message).toMatch(/qemu-system-nonesuch is not installed\n\s+fix: apt-get install qemu-system-x86/);
    expect(e.message).toMatch(/run directory: .*not writable.*\n\s+fix: run as root, or set run_dir/);
    expect(e.message).toMatch(/no etcd endpoints are configured\n\s+fix: set etcd_endpoints/);
  });

  it("refuses a qemu_uid_range holding an existing user's or group's id; accepts the default and off", async () => {
    const taken = loadConfig({ file: '/dev/null', env: {}, overrides: { qemu_uid_range: '1-100' } }).config;
    const err = (await preflight(taken, ['qemuUids']).catch((e: unknown) => e)) as UcloudError;
    expect(err.code).toBe('PREFLIGHT_FAILED');
    expect(err.message).toMatch(/qemu_uid_range 1-100 holds ids of existing users or groups: \/etc\/passwd:daemon:1/);
    expect(err.message).toMatch(/fix: set qemu_uid_range to ids no account uses/);
    for (const range of ['1000000000-1000999999', 'off']) {
      await expect(preflight(loadConfig({ file: '/dev/null', env: {}, overrides: { qemu_uid_range: range } }).config, ['qemuUids'])).resolves.toBeUndefined();
    }
    expect(() => loadConfig({ file: '/dev/null', env: {}, overrides: { qemu_uid_range: '0-5' } })).toThrow(/qemu_uid_range must be/);
  });

  it('passes when everything is there', async () => {
    const { config } = loadConfig({ file: '/dev/null', env: {}, overrides: { run_dir: join(dir, 'run'), etcd_endpoints: 'http://127.0.0.1:2379' } });
    await expect(preflight(config, ['qemu', 'qemuImg', 'runDir', 'etcdEndpoints'])).resolves.toBeUndefined();
  });
});
