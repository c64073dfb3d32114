import { describe, expect, it } from 'vitest';
import { AllocKeys, Keys, lastSegment } from '../../src/store/keys.js';

describe('key layout', () => {
  it('puts each record family under its own prefix', () => {
    const id = '0e7c1f2a-8a51-4a39-9b3e-5c1e0c2d9f10';
    expect(Keys.vm(id)).toBe(`vm/${id}`);
    expect(Keys.vm(id).startsWith(Keys.vms())).toBe(true);
    expect(Keys.vmName('alice', 'web1')).toBe('vm-name/alice/web1');
    expect(Keys.host('hv1')).toBe('host/hv1');
    expect(Keys.hostAlive('hv1')).toBe('host-alive/hv1');
    expect(Keys.hostAlloc('hv1')).toBe('host-alloc/hv1');
    expect(Keys.image('alice', 'debian12')).toBe('image/alice/debian12');
    expect(Keys.image('alice', 'debian12').startsWith(Keys.imagesOf('alice'))).toBe(true);
    expect(Keys.imageStore('local')).toBe('image-store/local');
    expect(Keys.user('alice')).toBe('user/alice');
  });

  it('keeps prefixes of different families apart', () => {
    // "host/" must not match "host-alive/…" or "host-alloc/…" in a prefix scan.
    expect(Keys.hostAlive('a').startsWith(Keys.hosts())).toBe(false);
    expect(Keys.hostAlloc('a').startsWith(Keys.hosts())).toBe(false);
    expect(Keys.vmName('a', 'b').startsWith(Keys.vms())).toBe(false);
    expect(Keys.imageStore('a').startsWith(Keys.images())).toBe(false);
    expect(Keys.imageVmIndex().startsWith(Keys.images())).toBe(false);
    // An agent's index holds its host's VMs only: not another host's whose name starts alike.
    expect(Keys.hostVm('hv1', 'x')).toBe('host-vm/hv1/x');
    expect(Keys.imageVm({ store: 'local', owner: 'alice', name: 'deb' }, 'x')).toBe('image-vm/owner/alice/deb/x');
    expect(Keys.imageVm({ store: 'local', name: 'deb' }, 'x')).toBe('image-vm/store/local/deb/x');
    expect(() => Keys.imageVms({ store: 'local', owner: 'a/b', name: 'deb' })).toThrow(/invalid name/);
    expect(Keys.hostVm('hv1', 'x').startsWith(Keys.hostVms('hv1'))).toBe(true);
    expect(Keys.hostVm('hv10', 'x').startsWith(Keys.hostVms('hv1'))).toBe(false);
    expect(Keys.hostVms('hv1').startsWith(Keys.hostVmIndex())).toBe(true);
    expect(Keys.hostVm('a', 'x').startsWith(Keys.hosts())).toBe(false);
    expect(Keys.hostVm('a', 'x').startsWith(Keys.vms())).toBe(false);
  });

  it('refuses segments that would add a level', () => {
    expect(() => Keys.vm('a/b')).toThrow();
    expect(() => Keys.vmName('alice', '')).toThrow();
    expect(() => Keys.image('x/y', 'z')).toThrow();
    // a 4xx with a code, should a name ever reach the layout unchecked
    expect(() => Keys.vmName('alice', 'a/b')).toThrow(expect.objectContaining({ code: 'INVALID_NAME' }));
  });

  it('reads back the last segment', () => {
    expect(lastSegment(Keys.vm('abc'))).toBe('abc');
    expect(lastSegment(Keys.image('s', 'img'))).toBe('img');
  });

  it('encodes allocations so they can be read back', () => {
    expect(Keys.allocVni(4242).startsWith(Keys.allocVnis())).toBe(true);
    expect(AllocKeys.vni(Keys.allocVni(4242))).toBe(4242);
    expect(AllocKeys.prefixAddress(Keys.allocPrefix('fd75:636c:6f75:12::/64'))).toBe('fd75:636c:6f75:12::');
    expect(Keys.allocMac('52:54:00:ab:cd:ef')).toBe('alloc-mac/52-54-00-ab-cd-ef');
    expect(Keys.network('alice', 'lab').startsWith(Keys.networksOf('alice'))).toBe(true);
    expect(Keys.networksOf('al').startsWith(Keys.networksOf('alice'))).toBe(false);
  });
});
