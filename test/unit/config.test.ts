import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONFIG_KEYS, loadConfig, parseListen, parseOverrides } from '../../src/common/config.js';

describe('configuration', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ucloud-config-'));
  const file = join(dir, 'ucloud.conf');
  writeFileSync(file, '# a comment\nimage_path = /srv/images\naccel = kvm\nstop_timeout = 5s\n');

  it('layers defaults < file < environment < flags', () => {
    const a = loadConfig({ file, env: {} });
    expect(a.config.imagePath).toBe('/srv/images');
    expect(a.sources.image_path).toBe('file');
    expect(a.config.runDir).toBe(CONFIG_KEYS.run_dir.default);
    expect(a.config.stopTimeoutMs).toBe(5000);
    const b = loadConfig({ file, env: { IMAGE_PATH: '/env/images' } });
    expect(b.config.imagePath).toBe('/env/images');
    expect(b.sources.image_path).toBe('env');
    const c = loadConfig({ file, env: { IMAGE_PATH: '/env/images' }, overrides: parseOverrides(['image_path=/flag/images']) });
    expect(c.config.imagePath).toBe('/flag/images');
    expect(c.sources.image_path).toBe('flag');
  });

  it('reads etcd endpoints from UCLOUD_ETCD_ENDPOINTS', () => {
    expect(loadConfig({ file, env: { UCLOUD_ETCD_ENDPOINTS: 'http://a:2379, http://b:2379' } }).config.etcdEndpoints).toEqual(['http://a:2379', 'http://b:2379']);
  });

  it('rejects unknown keys and bad values with INVALID_CONFIG', () => {
    const bad = join(dir, 'bad.conf');
    writeFileSync(bad, 'imagepath = /x\n');
    expect(() => loadConfig({ file: bad, env: {} })).toThrow(/unknown key "imagepath"/);
    expect(() => loadConfig({ file, env: { UCLOUD_ACCEL: 'warp' } })).toThrow(/accel must be one of/);
    expect(() => parseOverrides(['nope=1'])).toThrow(/INVALID_CONFIG|expected key=value/);
    expect(() => loadConfig({ file: join(dir, 'missing.conf'), env: {} })).toThrow(/cannot read config file/);
  });

  it('parses listen addresses', () => {
    expect(parseListen('k', '[::1]:8470')).toEqual({ host: '::1', port: 8470 });
    expect(parseListen('k', '127.0.0.1:80')).toEqual({ host: '127.0.0.1', port: 80 });
    expect(parseListen('k', ':8470')).toEqual({ host: '::', port: 8470 });
    expect(() => parseListen('k', 'nope')).toThrow();
  });
});
