import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/common/config.js';
import { UcloudError } from '../../src/common/errors.js';
import { checkResolvers, MAX_RESOLVERS, resolversOf } from '../../src/common/resolvers.js';
import { renderRadvdConf } from '../../src/host/network/radvd.js';

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof UcloudError) return err.code;
    throw err;
  }
  throw new Error('expected a UcloudError');
}

describe('DNS resolvers', () => {
  it('accepts global and unique-local unicast addresses, canonical and without repeats', () => {
    expect(checkResolvers(['2001:DB8:0:0::53', ' 2620:fe::fe', 'fd00::53', '2001:db8::53'])).toEqual(['2001:db8::53', '2620:fe::fe', 'fd00::53']);
    expect(checkResolvers([])).toEqual([]);
  });

  it('refuses what a guest cannot use as a resolver, and more than three, with INVALID_RESOLVER', () => {
    for (const bad of ['1.2.3.4', 'dns.example', '2001:db8::/64', 'fe80::1%eth0', '::', '::1', '::ffff:192.0.2.1', 'ff02::1', 'fe80::53', 'febf::1', '']) {
      expect(codeOf(() => checkResolvers([bad])), bad).toBe('INVALID_RESOLVER');
    }
    expect(MAX_RESOLVERS).toBe(3);
    expect(codeOf(() => checkResolvers(['2001:db8::1', '2001:db8::2', '2001:db8::3', '2001:db8::4']))).toBe('INVALID_RESOLVER');
    expect(checkResolvers(['2001:db8::1', '2001:db8::2', '2001:db8::3', '2001:db8::3'])).toHaveLength(3);
    // fec0::/10 (deprecated site-local) is neither link-local nor refused: it is still unicast.
    expect(checkResolvers(['fec0::1'])).toEqual(['fec0::1']);
  });

  it("uses a network's own list (an empty one too), else the cluster default", () => {
    expect(resolversOf({}, ['2001:db8::53'])).toEqual(['2001:db8::53']);
    expect(resolversOf({ resolvers: ['fd00::53'] }, ['2001:db8::53'])).toEqual(['fd00::53']);
    expect(resolversOf({ resolvers: [] }, ['2001:db8::53'])).toEqual([]);
  });

  it('reads dns_resolvers from the configuration, refusing a bad one with INVALID_CONFIG', () => {
    const env = { UCLOUD_CONFIG: '/nonexistent/ucloud.conf' };
    expect(loadConfig({ file: '/dev/null', env }).config.dnsResolvers).toEqual([]);
    expect(loadConfig({ file: '/dev/null', env: { ...env, UCLOUD_DNS_RESOLVERS: '2620:FE::FE, 2620:fe::9' } }).config.dnsResolvers).toEqual(['2620:fe::fe', '2620:fe::9']);
    expect(codeOf(() => loadConfig({ file: '/dev/null', env: { ...env, UCLOUD_DNS_RESOLVERS: '9.9.9.9' } }))).toBe('INVALID_CONFIG');
    expect(codeOf(() => loadConfig({ file: '/dev/null', overrides: { dns_resolvers: '2001:db8::1,2001:db8::2,2001:db8::3,2001:db8::4' }, env }))).toBe('INVALID_CONFIG');
  });

  it('become an RDNSS option of the radvd configuration, with a lifetime of 3 × MaxRtrAdvInterval', () => {
    const conf = renderRadvdConf({ interface: 'ucbr7', prefix: 'fd00:1:2:3::/64', resolvers: ['2001:db8::53', '2620:fe::fe'] });
    expect(conf).toContain('\tRDNSS 2001:db8::53 2620:fe::fe\n\t{\n\t\tAdvRDNSSLifetime 30;\n\t};\n};\n');
    expect(renderRadvdConf({ interface: 'ucbr7', prefix: 'fd00:1:2:3::/64', resolvers: [] })).not.toContain('RDNSS');
    // Whatever reaches the file radvd parses is checked again.
    expect(codeOf(() => renderRadvdConf({ interface: 'ucbr7', prefix: 'fd00:1:2:3::/64', resolvers: ['2001:db8::53; };'] }))).toBe('INVALID_RESOLVER');
  });
});
