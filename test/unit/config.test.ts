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

  it('reads route_mode, bgp_peers and bgp_local_as, and refuses what cannot work', () => {
    const off = loadConfig({ file, env: {} }).config;
    expect({ mode: off.routeMode, peers: off.bgpPeers, routed: off.routedDefault, as: off.bgpLocalAs }).toEqual({ mode: 'off', peers: [], routed: false, as: 65001 });
    const bgp = loadConfig({ file, env: { UCLOUD_ROUTE_MODE: 'bgp', UCLOUD_BGP_PEERS: '2001:DB8:0:1::1 as 65000, fd00::2 AS 4200000000', UCLOUD_NETWORK_ROUTED_DEFAULT: 'routed' } }).config;
    expect(bgp.bgpPeers).toEqual([{ address: '2001:db8:0:1::1', as: 65000 }, { address: 'fd00::2', as: 4200000000 }]);
    expect(bgp.routedDefault).toBe(true);
    const bad = (env: Record<string, string>) => () => loadConfig({ file, env });
    expect(bad({ UCLOUD_ROUTE_MODE: 'ospf' })).toThrow(/route_mode must be one of off, static, bgp/);
    expect(bad({ UCLOUD_ROUTE_MODE: 'bgp' })).toThrow(/route_mode bgp needs bgp_peers/);
    expect(bad({ UCLOUD_NETWORK_ROUTED_DEFAULT: 'routed' })).toThrow(/needs route_mode static or bgp/);
    expect(bad({ UCLOUD_BGP_PEERS: '2001:db8::1' })).toThrow(/expected "ADDRESS as ASN"/);
    expect(bad({ UCLOUD_BGP_PEERS: 'router1 as 65000' })).toThrow(/not an IPv6 address/);
    expect(bad({ UCLOUD_BGP_PEERS: 'fe80::1 as 65000' })).toThrow(/link-local peers are not supported/);
    expect(bad({ UCLOUD_BGP_PEERS: '2001:db8::1 as 0' })).toThrow(/AS number is 1-4294967295/);
    expect(bad({ UCLOUD_BGP_PEERS: '2001:db8::1 as 1, 2001:DB8::1 as 2' })).toThrow(/listed twice/);
    expect(bad({ UCLOUD_BGP_LOCAL_AS: '4294967296' })).toThrow(/AS number/);
    expect(off.routedProtectedPrefixes).toEqual([]);
    expect(loadConfig({ file, env: { UCLOUD_ROUTED_PROTECTED_PREFIXES: '2001:DB8:0:5::9/64, fd00:10::/48' } }).config.routedProtectedPrefixes).toEqual(['2001:db8:0:5::/64', 'fd00:10::/48']);
    expect(bad({ UCLOUD_ROUTED_PROTECTED_PREFIXES: '2001:db8::1' })).toThrow(/routed_protected_prefixes: expected IPv6 prefixes/);
    expect(bad({ UCLOUD_ROUTED_PROTECTED_PREFIXES: '10.0.0.0/8' })).toThrow(/routed_protected_prefixes/);
    expect(bad({ UCLOUD_ROUTED_PROTECTED_PREFIXES: 'fd00::/129' })).toThrow(/routed_protected_prefixes/);
    try {
      bad({ UCLOUD_ROUTE_MODE: 'bgp' })();
    } catch (err) {
      expect((err as { code?: string }).code).toBe('INVALID_CONFIG');
    }
  });

  it('parses listen addresses', () => {
    expect(parseListen('k', '[::1]:8470')).toEqual({ host: '::1', port: 8470 });
    expect(parseListen('k', '127.0.0.1:80')).toEqual({ host: '127.0.0.1', port: 80 });
    expect(parseListen('k', ':8470')).toEqual({ host: '::', port: 8470 });
    expect(() => parseListen('k', 'nope')).toThrow();
  });
});
