import { describe, expect, it } from 'vitest';
import { UcloudError } from '../../src/common/errors.js';
import {
  expandIPv6,
  formatIPv6,
  interfaceIdFromMac,
  linkLocalAddress,
  macFromAddress,
  normalizeMac,
  slaacAddress,
  stripZone,
} from '../../src/common/eui64.js';

describe('normalizeMac', () => {
  it.each([
    ['52:54:00:12:34:56', '52:54:00:12:34:56'],
    ['52:54:00:AB:CD:EF', '52:54:00:ab:cd:ef'],
    ['52-54-00-ab-cd-ef', '52:54:00:ab:cd:ef'],
    ['5254.00ab.cdef', '52:54:00:ab:cd:ef'],
    ['525400abcdef', '52:54:00:ab:cd:ef'],
    [' 02:00:00:00:00:01 ', '02:00:00:00:00:01'],
  ])('%s → %s', (input, out) => {
    expect(normalizeMac(input)).toBe(out);
  });

  it.each(['', 'zz:54:00:12:34:56', '52:54:00:12:34', '52:54:00:12:34:56:78', '52:54-00:12:34:56', '5254:0012:3456', 'hello'])(
    'refuses %j',
    (input) => {
      expect(() => normalizeMac(input)).toThrow(UcloudError);
    },
  );
});

describe('interfaceIdFromMac, slaacAddress, linkLocalAddress', () => {
  it.each([
    // mac, interface id, link-local
    ['52:54:00:12:34:56', '5054:ff:fe12:3456', 'fe80::5054:ff:fe12:3456'],
    ['00:00:00:00:00:00', '200:ff:fe00:0', 'fe80::200:ff:fe00:0'],
    ['02:00:00:00:00:01', '0:ff:fe00:1', 'fe80::ff:fe00:1'],
    ['ff:ff:ff:ff:ff:ff', 'fdff:ffff:feff:ffff', 'fe80::fdff:ffff:feff:ffff'],
    ['0A:1B:2C:3D:4E:5F', '81b:2cff:fe3d:4e5f', 'fe80::81b:2cff:fe3d:4e5f'],
  ])('%s', (mac, iid, ll) => {
    expect(interfaceIdFromMac(mac)).toBe(iid);
    expect(linkLocalAddress(mac)).toBe(ll);
  });

  it.each([
    ['fd00:1:2:3::/64', '52:54:00:12:34:56', 'fd00:1:2:3:5054:ff:fe12:3456'],
    ['fd00:1:2:3::', '52:54:00:12:34:56', 'fd00:1:2:3:5054:ff:fe12:3456'],
    ['2001:DB8::/64', '52:54:00:12:34:56', '2001:db8::5054:ff:fe12:3456'],
    ['2001:db8:0:0:ffff::/64', '02:00:00:00:00:01', '2001:db8::ff:fe00:1'], // host bits of the prefix ignored
    ['fd00::/64', '02:00:00:00:00:00', 'fd00::ff:fe00:0'],
  ])('slaacAddress(%s, %s) = %s', (prefix, mac, addr) => {
    expect(slaacAddress(prefix, mac)).toBe(addr);
    expect(macFromAddress(addr)).toBe(normalizeMac(mac));
  });

  it.each(['fd00::/48', 'fd00::/128', 'fd00::/64/1', 'not-an-address/64', '10.0.0.0/64', 'fe80::%eth0/64'])('slaacAddress refuses %j', (prefix) => {
    expect(() => slaacAddress(prefix, '52:54:00:12:34:56')).toThrow(UcloudError);
  });

  it('refuses a bad MAC', () => {
    expect(() => linkLocalAddress('52:54:00')).toThrow(UcloudError);
  });
});

describe('macFromAddress', () => {
  it.each([
    // global and link-local EUI-64 addresses in the forms people and the kernel write
    ['fd00:1:2:3:5054:ff:fe12:3456', '52:54:00:12:34:56'],
    ['FD00:1:2:3:5054:FF:FE12:3456', '52:54:00:12:34:56'],
    ['fd00:0001:0002:0003:5054:00ff:fe12:3456', '52:54:00:12:34:56'],
    ['fe80::5054:ff:fe12:3456', '52:54:00:12:34:56'],
    ['fe80::5054:ff:fe12:3456%eth0', '52:54:00:12:34:56'],
    ['fe80::5054:ff:fe12:3456%br-0a1b', '52:54:00:12:34:56'],
    ['fe80::5054:ff:fe12:3456%2', '52:54:00:12:34:56'],
    ['2001:db8::ff:fe00:1', '02:00:00:00:00:01'],
    ['2001:db8::200:ff:fe00:0', '00:00:00:00:00:00'],
    ['2001:db8:1::fdff:ffff:feff:ffff', 'ff:ff:ff:ff:ff:ff'],
    ['2001:db8::5054:ff:254.18.52.86', '52:54:00:12:34:56'], // dotted tail, same bits
    [' fe80::5054:ff:fe12:3456 ', '52:54:00:12:34:56'],
  ])('%s → %s', (addr, mac) => {
    expect(macFromAddress(addr)).toBe(mac);
  });

  it.each([
    ['a privacy (temporary) address', '2001:db8::a9c4:31f2:8be0:1d07'],
    ['a stable-privacy address', 'fd00:1:2:3:e1b2:7c0f:4a3d:9b21'],
    ['a small host number', 'fd00::1234'],
    ['ff:fe not in the middle', 'fd00::ff:fe:1:2'],
    ['fffe shifted by a byte', 'fd00::5054:fff:e12:3456'],
    ['the unspecified address', '::'],
    ['loopback', '::1'],
    ['IPv4-mapped', '::ffff:127.0.0.1'],
    ['IPv4-mapped that looks like EUI-64', '::ffff:254.1.2.3'],
    ['IPv4-mapped, long form', '0:0:0:0:0:ffff:254.1.2.3'],
    ['IPv4-compatible in ::/64', '::5054:ff:fe12:3456'],
    ['multicast', 'ff02::5054:ff:fe12:3456'],
    ['an IPv4 address', '127.0.0.1'],
    ['empty', ''],
    ['garbage', 'hello'],
    ['two ::', 'fd00::1::2'],
    ['a group too long', 'fd00:12345::1'],
    ['nine groups', '1:2:3:4:5:6:7:8:9'],
    ['a bracketed URL host', '[fe80::5054:ff:fe12:3456]'],
    ['a prefix length', 'fe80::5054:ff:fe12:3456/64'],
    ['only a zone', '%eth0'],
  ])('%s (%j) carries no MAC', (_why, addr) => {
    expect(macFromAddress(addr)).toBeUndefined();
  });
});

describe('expandIPv6 and formatIPv6', () => {
  it.each([
    ['::', [0, 0, 0, 0, 0, 0, 0, 0], '::'],
    ['::1', [0, 0, 0, 0, 0, 0, 0, 1], '::1'],
    ['1::', [1, 0, 0, 0, 0, 0, 0, 0], '1::'],
    ['fe80::1%eth0', [0xfe80, 0, 0, 0, 0, 0, 0, 1], 'fe80::1'],
    ['::ffff:1.2.3.4', [0, 0, 0, 0, 0, 0xffff, 0x102, 0x304], '::ffff:102:304'],
    ['2001:DB8:0:0:1:0:0:1', [0x2001, 0xdb8, 0, 0, 1, 0, 0, 1], '2001:db8::1:0:0:1'], // first of equal runs
    ['2001:db8:0:1:1:1:1:1', [0x2001, 0xdb8, 0, 1, 1, 1, 1, 1], '2001:db8:0:1:1:1:1:1'], // a single 0 stays
    ['1:2:3:4:5:6:7::', [1, 2, 3, 4, 5, 6, 7, 0], '1:2:3:4:5:6:7:0'],
  ])('%s', (text, groups, formatted) => {
    expect(expandIPv6(text)).toEqual(groups);
    expect(formatIPv6(groups)).toBe(formatted);
  });

  it('stripZone', () => {
    expect(stripZone('fe80::1%eth0')).toBe('fe80::1');
    expect(stripZone('fd00::1')).toBe('fd00::1');
  });
});
