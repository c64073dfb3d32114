import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { UcloudError } from '../../src/common/errors.js';
import { checkUserData, MAX_USER_DATA_BYTES, userDataFromBytes } from '../../src/common/user-data.js';
import { publicKeyLines, renderMetaData, renderVendorData, resolversScript, VENDOR_DATA_BOUNDARY } from '../../src/managers/cloud-seed.js';

const codeOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return (err as UcloudError).code;
  }
  return undefined;
};

/** The parts of a multipart as [content type, body]. */
function parts(mime: string): [string, string][] {
  const [head, ...rest] = mime.split(`\n--${VENDOR_DATA_BOUNDARY}`);
  expect(head).toMatch(new RegExp(`^Content-Type: multipart/mixed; boundary="${VENDOR_DATA_BOUNDARY}"\nMIME-Version: 1.0\n`));
  expect(rest.at(-1)).toBe('--\n');
  return rest.slice(0, -1).map((p) => {
    const [headers, body] = [p.slice(0, p.indexOf('\n\n')), p.slice(p.indexOf('\n\n') + 2)];
    return [/Content-Type: ([^;\n]+)/.exec(headers)![1]!, body];
  });
}

describe('vendor-data', () => {
  it('is a multipart of a cloud-config (hosts, growpart, no password SSH) and the resolvers script', () => {
    const vd = renderVendorData({ resolvers: ['2620:fe::fe', '2001:db8:0:0::53'] });
    const [[type1, cfg], [type2, script]] = parts(vd) as [[string, string], [string, string]];
    expect(type1).toBe('text/cloud-config');
    expect(cfg.startsWith('#cloud-config\n')).toBe(true);
    expect(parseYaml(cfg)).toEqual({
      preserve_hostname: false,
      manage_etc_hosts: true,
      growpart: { mode: 'auto', devices: ['/'], ignore_growroot_disabled: false },
      resize_rootfs: true,
      ssh_pwauth: false,
    });
    expect(type2).toBe('text/x-shellscript');
    expect(script.startsWith('#!/bin/sh\n')).toBe(true);
    // canonical, in order
    expect(script).toContain("ns='2620:fe::fe 2001:db8::53'");
  });

  it('has no script part without resolvers', () => {
    expect(parts(renderVendorData({ resolvers: [] })).map(([t]) => t)).toEqual(['text/cloud-config']);
  });

  it('refuses anything but IPv6 resolver addresses: nothing reaches the script unchecked', () => {
    for (const bad of ["2001:db8::1' ; reboot ; '", '10.0.0.1', 'fe80::1%eth0', 'fe80::1', '::1', 'dns.example']) {
      expect(codeOf(() => resolversScript([bad])), bad).toBe('INVALID_CONFIG');
      expect(codeOf(() => renderVendorData({ resolvers: [bad] })), bad).toBe('INVALID_CONFIG');
    }
  });
});

describe('meta-data', () => {
  it('is YAML with instance-id, local-hostname, hostname and the keys', () => {
    expect(parseYaml(renderMetaData({ instanceId: 'i-1', hostname: 'web1', publicKeys: ['ssh-ed25519 AAAA x'] }))).toEqual({
      'instance-id': 'i-1',
      'local-hostname': 'web1',
      hostname: 'web1',
      'public-keys': ['ssh-ed25519 AAAA x'],
    });
  });

  it('leaves out keys that do not parse', () => {
    expect(publicKeyLines([{ key: 'not a key' }, { key: 'ssh-ed25519 AAAA' }])).toEqual([]);
  });
});

describe('user-data checks', () => {
  it('takes text up to 16384 bytes; empty is none', () => {
    expect(checkUserData('#cloud-config\n')).toBe('#cloud-config\n');
    expect(checkUserData('')).toBeUndefined();
    expect(checkUserData('x'.repeat(MAX_USER_DATA_BYTES))).toHaveLength(MAX_USER_DATA_BYTES);
  });

  it('counts bytes, not characters', () => {
    expect(codeOf(() => checkUserData('x'.repeat(MAX_USER_DATA_BYTES + 1)))).toBe('USER_DATA_TOO_LARGE');
    expect(codeOf(() => checkUserData('é'.repeat(MAX_USER_DATA_BYTES / 2 + 1)))).toBe('USER_DATA_TOO_LARGE');
    expect(checkUserData('é'.repeat(MAX_USER_DATA_BYTES / 2))).toBeDefined();
  });

  it('refuses NUL and lone surrogates', () => {
    expect(codeOf(() => checkUserData('#!/bin/sh\n\0'))).toBe('USER_DATA_INVALID');
    expect(codeOf(() => checkUserData('#cloud-config\n# \ud800\n'))).toBe('USER_DATA_INVALID');
    expect(checkUserData('#cloud-config\n# 🙂\n')).toBeDefined();
  });

  it('from a file: UTF-8 only (gzip is refused), a BOM dropped', () => {
    expect(codeOf(() => userDataFromBytes(Buffer.from([0x1f, 0x8b, 0x08, 0x00])))).toBe('USER_DATA_INVALID');
    expect(codeOf(() => userDataFromBytes(Buffer.from([0x23, 0xff, 0x0a])))).toBe('USER_DATA_INVALID');
    expect(userDataFromBytes(Buffer.from('\ufeff#cloud-config\n'))).toBe('#cloud-config\n');
    expect(codeOf(() => userDataFromBytes(Buffer.alloc(MAX_USER_DATA_BYTES + 1, 0x41)))).toBe('USER_DATA_TOO_LARGE');
  });
});
