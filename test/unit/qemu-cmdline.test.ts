import { describe, expect, it } from 'vitest';
import { UcloudError } from '../../src/common/errors.js';
import { argvHasVmMarker, buildQemuArgs, escapeOptValue, parseQemuOpts, type QemuVmSpec } from '../../src/host/qemu/index.js';
import { nocloudNetSerial } from '../../src/host/seed.js';

const ID = '6fcbd5a6-d728-4a29-b47a-3971f4377c49';
const OTHER = '11111111-2222-4333-8444-555555555555';

function spec(over: Partial<QemuVmSpec> = {}): QemuVmSpec {
  return {
    id: ID,
    name: 'web1',
    cpus: 2,
    ramBytes: 256 * 1024 * 1024,
    accel: 'tcg',
    disks: [],
    nics: [],
    paths: { pidFile: '/run/ucloud/vms/x/qemu.pid', qmpSocket: '/run/ucloud/vms/x/qmp.sock', serialSocket: '/run/ucloud/vms/x/serial.sock' },
    ...over,
  };
}

/** The value following `flag`, for every occurrence. */
function values(args: string[], flag: string): string[] {
  return args.flatMap((a, i) => (a === flag ? [args[i + 1]!] : []));
}

function errorOf(fn: () => unknown): UcloudError {
  try {
    fn();
  } catch (err) {
    if (err instanceof UcloudError) return err;
    throw err;
  }
  throw new Error('expected a UcloudError');
}

describe('buildQemuArgs', () => {
  it('builds the whole command line of a diskless TCG VM', () => {
    expect(buildQemuArgs(spec())).toEqual([
      '-name', `guest=web1,process=ucloud-vm=${ID},debug-threads=on`,
      '-uuid', ID,
      '-machine', 'pc,accel=tcg',
      '-cpu', 'max',
      '-m', '256M',
      '-smp', '2',
      '-nodefaults', '-no-user-config', '-display', 'none', '-vga', 'none',
      '-chardev', 'socket,id=serial0,path=/run/ucloud/vms/x/serial.sock,server=on,wait=off',
      '-serial', 'chardev:serial0',
      '-qmp', 'unix:/run/ucloud/vms/x/qmp.sock,server=on,wait=off',
      '-pidfile', '/run/ucloud/vms/x/qemu.pid',
      '-sandbox', 'on,obsolete=deny,spawn=deny,resourcecontrol=deny',
    ]);
  });

  it('drops to the VM uid and gid with -runas, and refuses root or out-of-range ids', () => {
    expect(values(buildQemuArgs(spec({ runAs: { uid: 1000000007, gid: 1000000007 } })), '-runas')).toEqual(['1000000007:1000000007']);
    expect(values(buildQemuArgs(spec()), '-runas')).toEqual([]);
    for (const runAs of [{ uid: 0, gid: 5 }, { uid: 5, gid: 0 }, { uid: -1, gid: 5 }, { uid: 2 ** 32 - 1, gid: 5 }, { uid: 1.5, gid: 5 }]) {
      expect(errorOf(() => buildQemuArgs(spec({ runAs }))).code, JSON.stringify(runAs)).toBe('VALIDATION_FAILED');
    }
  });

  it('uses -cpu host under KVM and the requested machine type', () => {
    const args = buildQemuArgs(spec({ accel: 'kvm', machine: 'q35' }));
    expect(values(args, '-cpu')).toEqual(['host']);
    expect(values(args, '-machine')).toEqual(['q35,accel=kvm']);
  });

  it('turns each disk into a virtio -drive with a stable id, cache=none and discard', () => {
    const args = buildQemuArgs(
      spec({
        disks: [
          { file: '/var/lib/ucloud/disks/a.qcow2', format: 'qcow2' },
          { file: 'rbd:pool/img:conf=/etc/ceph/ceph.conf', format: 'raw', options: { cache: 'writeback', 'share-rw': 'on' } },
        ],
      }),
    );
    expect(values(args, '-drive')).toEqual([
      'file=/var/lib/ucloud/disks/a.qcow2,if=virtio,format=qcow2,id=disk0,cache=none,discard=unmap,file.auto-read-only=off',
      'file=rbd:pool/img:conf=/etc/ceph/ceph.conf,if=virtio,format=raw,id=disk1,cache=writeback,discard=unmap,file.auto-read-only=off,share-rw=on',
    ]);
  });

  it("gives a qcow2 overlay its backing image explicitly, so QEMU never takes one from the disk's header", () => {
    const args = buildQemuArgs(spec({ disks: [{ file: '/s/disks/a.qcow2', format: 'qcow2', backing: { file: '/s/images/u,1.raw', format: 'raw' } }] }));
    expect(values(args, '-drive')).toEqual([
      'file=/s/disks/a.qcow2,if=virtio,format=qcow2,id=disk0,cache=none,discard=unmap,file.auto-read-only=off,backing.driver=raw,backing.file.driver=file,backing.file.filename=/s/images/u,,1.raw',
    ]);
    const bad = [
      { file: '/d', format: 'raw' as const, backing: { file: '/i.raw', format: 'raw' as const } }, // a raw disk has no backing
      { file: '/d', format: 'qcow2' as const, backing: { file: '/i.qcow2', format: 'qcow2' as const } }, // it would have a header to follow
      { file: '/d', format: 'qcow2' as const, backing: { file: 'json:{}', format: 'raw' as const } },
    ];
    for (const disk of bad) expect(errorOf(() => buildQemuArgs(spec({ disks: [disk] }))).code, JSON.stringify(disk)).toBe('VALIDATION_FAILED');
    // nor may a driver's options name a backing (or the file's sub-options) itself
    for (const key of ['backing', 'backing.file.filename', 'backing.driver', 'file.filename']) {
      expect(errorOf(() => buildQemuArgs(spec({ disks: [{ file: '/d', format: 'qcow2', options: { [key]: '/dev/sda' } }] }))).code, key).toBe('VALIDATION_FAILED');
    }
  });

  it('refuses drive options that would replace what the builder sets, or are not option keys', () => {
    expect(errorOf(() => buildQemuArgs(spec({ disks: [{ file: '/d', format: 'raw', options: { file: '/etc/shadow' } }] }))).code).toBe(
      'VALIDATION_FAILED',
    );
    expect(errorOf(() => buildQemuArgs(spec({ disks: [{ file: '/d', format: 'raw', options: { 'a,b': 'x' } }] }))).code).toBe(
      'VALIDATION_FAILED',
    );
  });

  it('gives each NIC a tap netdev and a virtio-net device with its MAC', () => {
    const args = buildQemuArgs(
      spec({
        nics: [
          { ifname: 'tap0a1b2c', mac: '02:00:00:AA:BB:01' },
          { ifname: 'tap0a1b2d', mac: '02:00:00:aa:bb:02' },
        ],
      }),
    );
    expect(values(args, '-netdev')).toEqual([
      'tap,id=net0,ifname=tap0a1b2c,script=no,downscript=no',
      'tap,id=net1,ifname=tap0a1b2d,script=no,downscript=no',
    ]);
    expect(values(args, '-device')).toEqual([
      'virtio-net-pci,netdev=net0,mac=02:00:00:aa:bb:01,id=nic0',
      'virtio-net-pci,netdev=net1,mac=02:00:00:aa:bb:02,id=nic1',
    ]);
  });

  it('rejects bad NICs: malformed or multicast MACs, unusable interface names', () => {
    for (const nic of [
      { ifname: 'tap0', mac: '02:00:00:aa:bb' },
      { ifname: 'tap0', mac: '03:00:00:aa:bb:01' },
      { ifname: 'a-very-long-interface-name', mac: '02:00:00:aa:bb:01' },
      { ifname: 'tap0,script=/bin/evil', mac: '02:00:00:aa:bb:01' },
    ]) {
      expect(errorOf(() => buildQemuArgs(spec({ nics: [nic] }))).code).toBe('VALIDATION_FAILED');
    }
  });

  it('writes RAM in MiB and rejects sizes that are not whole MiB', () => {
    expect(values(buildQemuArgs(spec({ ramBytes: 2 ** 30 })), '-m')).toEqual(['1024M']);
    const err = errorOf(() => buildQemuArgs(spec({ ramBytes: 256 * 1024 * 1024 + 512 })));
    expect(err.code).toBe('VALIDATION_FAILED');
    expect(err.details).toMatchObject({ field: 'ramBytes' });
    expect(errorOf(() => buildQemuArgs(spec({ ramBytes: 0 }))).code).toBe('VALIDATION_FAILED');
    expect(errorOf(() => buildQemuArgs(spec({ ramBytes: 1.5 * 1024 * 1024 }))).code).toBe('VALIDATION_FAILED');
  });

  it('rejects a non-uuid id, zero cpus, an over-long QMP socket path', () => {
    expect(errorOf(() => buildQemuArgs(spec({ id: 'not-a-uuid' }))).details).toMatchObject({ field: 'id' });
    expect(errorOf(() => buildQemuArgs(spec({ cpus: 0 }))).details).toMatchObject({ field: 'cpus' });
    const long = `/${'x'.repeat(100)}/qmp.sock`;
    expect(errorOf(() => buildQemuArgs(spec({ paths: { ...spec().paths, qmpSocket: long } }))).details).toMatchObject({
      field: 'paths.qmpSocket',
    });
    expect(errorOf(() => buildQemuArgs(spec({ paths: { ...spec().paths, serialSocket: long } }))).details).toMatchObject({
      field: 'paths.serialSocket',
    });
  });

  it('doubles commas where QEMU parses options, and only there', () => {
    const args = buildQemuArgs(
      spec({
        name: 'a,process=evil',
        disks: [{ file: '/srv/a,b/disk.raw', format: 'raw', options: { 'throttling.iops-total': '1,2' } }],
        paths: { pidFile: '/srv/a,b/qemu.pid', qmpSocket: '/srv/a,b/qmp.sock', serialSocket: '/srv/a,b/serial.sock' },
      }),
    );
    expect(values(args, '-name')).toEqual([`guest=a,,process=evil,process=ucloud-vm=${ID},debug-threads=on`]);
    expect(values(args, '-drive')).toEqual([
      'file=/srv/a,,b/disk.raw,if=virtio,format=raw,id=disk0,cache=none,discard=unmap,file.auto-read-only=off,throttling.iops-total=1,,2',
    ]);
    expect(values(args, '-qmp')).toEqual(['unix:/srv/a,,b/qmp.sock,server=on,wait=off']);
    expect(values(args, '-chardev')).toEqual(['socket,id=serial0,path=/srv/a,,b/serial.sock,server=on,wait=off']);
    // -pidfile takes the rest of the argument literally.
    expect(values(args, '-pidfile')).toEqual(['/srv/a,b/qemu.pid']);
  });

  it('gives a VM with a VNC socket a VGA card and VNC on that unix socket only; none without', () => {
    const vnc = '/run/ucloud/vms/x/vnc,1.sock';
    const args = buildQemuArgs(spec({ paths: { ...spec().paths, vncSocket: vnc } }));
    expect(values(args, '-vnc')).toEqual(['unix:/run/ucloud/vms/x/vnc,,1.sock,share=force-shared']);
    expect(values(args, '-device')).toEqual(expect.arrayContaining(['VGA', 'qemu-xhci,id=xhci', 'usb-tablet,bus=xhci.0']));
    // -vga none stays: the card is the one -device above, not a default one.
    expect(values(args, '-vga')).toEqual(['none']);
    expect(values(buildQemuArgs(spec()), '-vnc')).toEqual([]);
    expect(values(buildQemuArgs(spec()), '-device').filter((d) => /^(VGA|qemu-xhci|usb-tablet)/.test(d))).toEqual([]);
    expect(errorOf(() => buildQemuArgs(spec({ paths: { ...spec().paths, vncSocket: `/${'v'.repeat(120)}` } }))).details).toMatchObject({ field: 'paths.vncSocket' });
  });

  it('adds -incoming for a migration destination', () => {
    expect(values(buildQemuArgs(spec({ incoming: 'tcp:[2001:db8::1]:49152' })), '-incoming')).toEqual(['tcp:[2001:db8::1]:49152']);
    expect(buildQemuArgs(spec())).not.toContain('-incoming');
  });

  it('is pure: the same spec gives the same arguments', () => {
    expect(buildQemuArgs(spec())).toEqual(buildQemuArgs(spec()));
  });

  it('gives the guest the NoCloud-net seed as its SMBIOS serial, with the metadata port when it is not 80', () => {
    const serial = nocloudNetSerial('fd75:636c:6f75:1a2b::/64');
    expect(serial).toBe('ds=nocloud-net;s=http://[fd75:636c:6f75:1a2b::1]/nocloud/');
    const args = buildQemuArgs(spec({ smbiosSerial: serial }));
    expect(values(args, '-smbios')).toEqual(['type=1,serial=ds=nocloud-net;s=http://[fd75:636c:6f75:1a2b::1]/nocloud/']);
    // Before the devices, once; none at all without a serial.
    expect(args.indexOf('-smbios')).toBeLessThan(args.indexOf('-chardev'));
    expect(buildQemuArgs(spec())).not.toContain('-smbios');
    expect(nocloudNetSerial('FD75:636C:6F75:1A2B:0:0:0:0/64', 8080)).toBe('ds=nocloud-net;s=http://[fd75:636c:6f75:1a2b::1]:8080/nocloud/');
    expect(nocloudNetSerial('fd75:636c:6f75:1a2b::/64', 80)).not.toContain(':80/');
    expect(() => nocloudNetSerial('fd75:636c:6f75::/48')).toThrow(/\/64/);
  });

  it('escapes commas in the SMBIOS serial and refuses empty, control-character or over-long ones', () => {
    const args = buildQemuArgs(spec({ smbiosSerial: 'a,serial=evil,uuid=x' }));
    const opt = values(args, '-smbios')[0]!;
    expect(opt).toBe('type=1,serial=a,,serial=evil,,uuid=x');
    expect(parseQemuOpts(opt).get('serial')).toBe('a,serial=evil,uuid=x');
    expect(parseQemuOpts(opt).has('uuid')).toBe(false);
    for (const smbiosSerial of ['', 'a\nb', 'a\u0000b', 'x'.repeat(256)]) {
      expect(errorOf(() => buildQemuArgs(spec({ smbiosSerial }))).code, JSON.stringify(smbiosSerial)).toBe('VALIDATION_FAILED');
    }
    expect(values(buildQemuArgs(spec({ smbiosSerial: 'x'.repeat(255) })), '-smbios')).toHaveLength(1);
  });
});

describe('the VM marker', () => {
  it('is found in a built command line, for that VM only', () => {
    const argv = ['qemu-system-x86_64', ...buildQemuArgs(spec())];
    expect(argvHasVmMarker(argv, ID)).toBe(true);
    expect(argvHasVmMarker(argv, OTHER)).toBe(false);
    expect(argvHasVmMarker(argv, '')).toBe(false);
  });

  it('cannot be forged through the guest name', () => {
    const argv = buildQemuArgs(spec({ id: OTHER, name: `x,process=ucloud-vm=${ID}` }));
    expect(argv.join(' ')).toContain(`ucloud-vm=${ID}`);
    expect(argvHasVmMarker(argv, ID)).toBe(false);
    expect(argvHasVmMarker(argv, OTHER)).toBe(true);
  });
});

describe('QEMU option strings', () => {
  it('round-trip through escape and parse', () => {
    const text = `file=${escapeOptValue('/a,,b,c')},if=virtio,empty=`;
    expect([...parseQemuOpts(text)]).toEqual([
      ['file', '/a,,b,c'],
      ['if', 'virtio'],
      ['empty', ''],
    ]);
  });
});
