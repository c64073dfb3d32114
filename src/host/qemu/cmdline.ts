// The QEMU command line of a VM, as a pure function of its spec, so that the
// source and destination of a live migration build identical machines and
// tests can check the exact arguments without starting anything.

import { UcloudError } from '../../common/errors.js';
import type { QemuDrive } from '../../storage/driver.js';

export type QemuAccel = 'kvm' | 'tcg';

export interface QemuNic {
  /** The tap the network driver created for this NIC. */
  ifname: string;
  mac: string;
}

export interface QemuPaths {
  pidFile: string;
  qmpSocket: string;
  /** The serial port's socket: QEMU listens, the VM's console keeper connects (src/host/console/). */
  serialSocket: string;
  /**
   * A second QMP monitor, held open by the host agent for the VM's whole life
   * to receive its events (SHUTDOWN, STOP, RESUME, MIGRATION; the socket
   * closing is QEMU gone). QEMU serves one client per monitor socket, so
   * `qmpSocket` stays free for one-shot commands (stop, resize, migrate).
   */
  eventSocket?: string;
  /** The VNC server's socket, for a VM with a display: QEMU listens, the host's console endpoint connects (never a TCP port). */
  vncSocket?: string;
}

export interface QemuVmSpec {
  /** The VM's uuid: becomes QEMU's -uuid and the marker that recognises the process as this VM's. */
  id: string;
  name: string;
  cpus: number;
  ramBytes: number;
  accel: QemuAccel;
  /**
   * Default `pc`. A migration's two ends must run the same versioned type
   * (`pc-i440fx-7.2`, `pc-q35-7.2`): the runtime pins the alias at start.
   */
  machine?: string;
  /**
   * The CPU model (`-cpu`). A named, versioned model (Nehalem-v1) is the same
   * on every host, so the VM can migrate; `host`/`max` (the default, as before
   * cpu_model) pass the host's CPU through.
   */
  cpu?: string;
  disks: QemuDrive[];
  nics: QemuNic[];
  paths: QemuPaths;
  /**
   * SMBIOS type 1 (system) serial number the guest reads from DMI: where stock
   * cloud-init finds its NoCloud seed (src/host/seed.ts). Printable, at most
   * 255 bytes.
   */
  smbiosSerial?: string;
  /** `-incoming` value for the destination of a migration: `tcp:[addr]:port` or `defer`. */
  incoming?: string;
  /**
   * The unprivileged uid and gid this VM's QEMU drops to once it has opened its
   * disks, taps, sockets and Ceph keyring (`-runas`); never 0.
   */
  runAs?: { uid: number; gid: number };
}

/**
 * QEMU's seccomp filter. Every group ucloud can deny with QEMU 7.2 is denied:
 * obsolete system calls, fork/exec (`spawn`: an escaped QEMU cannot start a
 * shell), and scheduler/affinity/priority changes (`resourcecontrol`).
 * `elevateprivileges=deny` is left out on purpose: 7.2 installs the filter
 * before `-runas` drops to the VM's uid, so the drop itself is killed (SIGSYS;
 * 7.2 has no `-run-with`). After the drop the process has no capabilities and
 * NoNewPrivs is set (libseccomp), so set*uid cannot gain anything anyway.
 * `spawn=deny` is also why QEMU runs without `-daemonize` (its fork comes
 * after the filter): the launcher detaches it instead (process.ts).
 */
export const QEMU_SANDBOX = 'on,obsolete=deny,spawn=deny,resourcecontrol=deny';

const MIB = 1024 * 1024;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;
// IFNAMSIZ is 16 including the NUL; keep to characters no tool has to quote.
const IFNAME_RE = /^[A-Za-z0-9_.-]{1,15}$/;
const MACHINE_RE = /^(pc|q35|pc-(i440fx|q35)-\d+\.\d+)$/;
// A model name only: no `,feature=on` options smuggled in.
const CPU_MODEL_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const OPT_KEY_RE = /^[a-z][a-z0-9._-]*$/i;
// sun_path holds 108 bytes including the terminating NUL; QEMU fails late and
// obscurely on longer paths, so refuse them here.
const MAX_UNIX_SOCKET_PATH_BYTES = 107;
// Set by the builder itself; a storage driver's options may not replace them
// (nor the file's or the backing's sub-options, e.g. file.filename, backing.driver).
const RESERVED_DRIVE_KEYS = new Set(['file', 'if', 'format', 'id', 'backing']);
const isReservedDriveKey = (key: string) => RESERVED_DRIVE_KEYS.has(key) || /^(file|backing)\./.test(key);

/** The argument text that marks a process as the QEMU of VM `vmId`. */
export function vmMarker(vmId: string): string {
  return `ucloud-vm=${vmId}`;
}

/**
 * QEMU's option syntax (`key=value,key=value`) lets a value contain a comma
 * only by doubling it. Without this, a path like `/srv/a,b` would end the value
 * early and smuggle `b` in as an option of its own.
 */
export function escapeOptValue(value: string): string {
  return value.replaceAll(',', ',,');
}

/** The inverse of a key=value,… option string, with doubled commas undone. */
export function parseQemuOpts(text: string): Map<string, string> {
  const parts: string[] = [];
  let cur = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === ',' && text[i + 1] === ',') {
      cur += ',';
      i++;
    } else if (ch === ',') {
      parts.push(cur);
      cur = '';
    } else {
      cur += ch;
    }
  }
  parts.push(cur);
  const opts = new Map<string, string>();
  for (const part of parts) {
    const eq = part.indexOf('=');
    if (eq > 0) opts.set(part.slice(0, eq), part.slice(eq + 1));
  }
  return opts;
}

/**
 * True when an argv built by buildQemuArgs belongs to VM `vmId`. Parses the
 * -name option instead of searching for a substring, so a guest name that
 * contains another VM's marker cannot pass for that VM.
 */
export function argvHasVmMarker(argv: readonly string[], vmId: string): boolean {
  if (!UUID_RE.test(vmId)) return false;
  for (let i = 0; i < argv.length - 1; i++) {
    if (argv[i] === '-name' && parseQemuOpts(argv[i + 1] ?? '').get('process') === vmMarker(vmId)) return true;
  }
  return false;
}

/** The id of the VM whose QEMU `argv` is (its -name marker), or undefined for any other process. */
export function vmIdOfArgv(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length - 1; i++) {
    if (argv[i] !== '-name') continue;
    const id = /^ucloud-vm=(.+)$/.exec(parseQemuOpts(argv[i + 1] ?? '').get('process') ?? '')?.[1];
    if (id && UUID_RE.test(id)) return id;
  }
  return undefined;
}

export function buildQemuArgs(spec: QemuVmSpec): string[] {
  validate(spec);
  const mib = spec.ramBytes / MIB;
  const args: string[] = [
    // process= renames the main thread (what top shows, truncated to 15
    // characters) and puts the marker into /proc/<pid>/cmdline.
    '-name', `guest=${escapeOptValue(spec.name)},process=${vmMarker(spec.id)},debug-threads=on`,
    '-uuid', spec.id,
    '-machine', `${spec.machine ?? 'pc'},accel=${spec.accel}`,
    // Under TCG, `max` booted as fast as the default qemu64 (measured, within
    // noise) and gives guests x86-64-v2+ features some distributions require.
    '-cpu', spec.cpu ?? (spec.accel === 'kvm' ? 'host' : 'max'),
    '-m', `${mib}M`,
    '-smp', String(spec.cpus),
    '-nodefaults', '-no-user-config', '-display', 'none', '-vga', 'none',
  ];
  if (spec.paths.vncSocket !== undefined) {
    // Standard VGA, not bochs-display: its legacy text mode shows the firmware,
    // the boot loader and a kernel's text console, then VBE for framebuffers,
    // with any guest and under TCG. No password: the console ticket is the
    // credential, and only root on the host reaches the socket (run dir 0700).
    // force-shared: a client asking for the screen alone is dropped rather than cutting off the others watching.
    // A USB tablet: an absolute pointer, so the guest's cursor is where the viewer's is (a PS/2 mouse is relative and drifts).
    args.push('-device', 'VGA', '-device', 'qemu-xhci,id=xhci', '-device', 'usb-tablet,bus=xhci.0', '-vnc', `unix:${escapeOptValue(spec.paths.vncSocket)},share=force-shared`);
  }
  if (spec.smbiosSerial !== undefined) args.push('-smbios', `type=1,serial=${escapeOptValue(spec.smbiosSerial)}`);

  spec.disks.forEach((disk, i) => {
    args.push('-drive', driveOption(disk, i));
  });

  spec.nics.forEach((nic, i) => {
    args.push(
      '-netdev', `tap,id=net${i},ifname=${nic.ifname},script=no,downscript=no`,
      '-device', `virtio-net-pci,netdev=net${i},mac=${nic.mac.toLowerCase()},id=nic${i}`,
    );
  });

  args.push(
    // The serial port is a socket, never a file: a guest writing to its
    // console without end must not fill the host. With wait=off QEMU runs
    // without a client and drops output while none is connected; the VM's
    // console keeper is that client and keeps a size-capped log.
    '-chardev', `socket,id=serial0,path=${escapeOptValue(spec.paths.serialSocket)},server=on,wait=off`,
    '-serial', 'chardev:serial0',
    '-qmp', `unix:${escapeOptValue(spec.paths.qmpSocket)},server=on,wait=off`,
  );
  if (spec.paths.eventSocket !== undefined) {
    args.push('-chardev', `socket,id=events0,path=${escapeOptValue(spec.paths.eventSocket)},server=on,wait=off`, '-mon', 'chardev=events0,mode=control');
  }
  args.push(
    '-pidfile', spec.paths.pidFile,
    '-sandbox', QEMU_SANDBOX,
  );
  if (spec.runAs) args.push('-runas', `${spec.runAs.uid}:${spec.runAs.gid}`);
  if (spec.incoming !== undefined) args.push('-incoming', spec.incoming);
  return args;
}

function driveOption(disk: QemuDrive, index: number): string {
  const opts = new Map<string, string>([
    ['file', disk.file],
    ['if', 'virtio'],
    ['format', disk.format],
    // A stable id lets block_resize and query-block name the disk. cache=none
    // bypasses the host page cache (safe for migration on shared storage);
    // drivers whose backend has its own cache (librbd) or cannot do O_DIRECT
    // (tmpfs) override it through their options.
    ['id', `disk${index}`],
    ['cache', 'none'],
    ['discard', 'unmap'],
    // -drive turns auto-read-only on for the file node: QEMU then reopens the
    // file read-only when it gives up write access, which it does as the last
    // step of an outgoing migration (inactivating its disks). After -runas
    // that reopen fails (the disk is root's), and so would the migration.
    ['file.auto-read-only', 'off'],
  ]);
  if (disk.backing) {
    // Explicit, so QEMU (root while it opens disks) never reads the backing
    // file's name or format from the qcow2 header, which the guest's QEMU can
    // rewrite: with backing.file.filename set, the header's name is not used.
    opts.set('backing.driver', disk.backing.format);
    opts.set('backing.file.driver', 'file');
    opts.set('backing.file.filename', disk.backing.file);
  }
  for (const [key, value] of Object.entries(disk.options ?? {})) {
    if (!OPT_KEY_RE.test(key) || isReservedDriveKey(key)) {
      throw invalid(`drive option "${key}" is not allowed`, { field: `disks[${index}].options`, key });
    }
    opts.set(key, value);
  }
  return [...opts].map(([k, v]) => `${k}=${escapeOptValue(v)}`).join(',');
}

function validate(spec: QemuVmSpec): void {
  if (!UUID_RE.test(spec.id)) throw invalid(`VM id must be a uuid, got "${spec.id}"`, { field: 'id' });
  if (spec.name === '' || /[\p{Cc}]/u.test(spec.name)) throw invalid('VM name must be non-empty and printable', { field: 'name' });
  if (!Number.isSafeInteger(spec.cpus) || spec.cpus < 1) throw invalid(`cpus must be a positive whole number, got ${spec.cpus}`, { field: 'cpus' });
  if (!Number.isSafeInteger(spec.ramBytes) || spec.ramBytes <= 0 || spec.ramBytes % MIB !== 0) {
    throw invalid(`RAM must be a positive whole number of MiB, got ${spec.ramBytes} bytes`, { field: 'ramBytes' });
  }
  if (spec.accel !== 'kvm' && spec.accel !== 'tcg') throw invalid(`accelerator must be kvm or tcg, got "${String(spec.accel)}"`, { field: 'accel' });
  spec.disks.forEach((d, i) => {
    if (d.file === '') throw invalid(`disk ${i} has no file`, { field: `disks[${i}].file` });
    if (d.format !== 'raw' && d.format !== 'qcow2') throw invalid(`disk ${i} has unknown format "${String(d.format)}"`, { field: `disks[${i}].format` });
    if (d.backing) {
      if (d.format !== 'qcow2') throw invalid(`disk ${i}: only a qcow2 has a backing image`, { field: `disks[${i}].backing` });
      if (!d.backing.file.startsWith('/')) throw invalid(`disk ${i}: the backing image must be an absolute host path`, { field: `disks[${i}].backing.file` });
      // A qcow2 backing image would have a header of its own for QEMU to follow.
      if (d.backing.format !== 'raw') throw invalid(`disk ${i}: a backing image must be raw, got "${String(d.backing.format)}"`, { field: `disks[${i}].backing.format` });
    }
  });
  spec.nics.forEach((n, i) => {
    if (!IFNAME_RE.test(n.ifname)) throw invalid(`NIC ${i}: "${n.ifname}" is not a usable interface name`, { field: `nics[${i}].ifname` });
    if (!MAC_RE.test(n.mac)) throw invalid(`NIC ${i}: "${n.mac}" is not a MAC address`, { field: `nics[${i}].mac` });
    // The I/G bit: a multicast MAC on a NIC breaks the guest's networking quietly.
    if (parseInt(n.mac.slice(0, 2), 16) & 1) throw invalid(`NIC ${i}: ${n.mac} is a multicast MAC`, { field: `nics[${i}].mac` });
  });
  for (const key of ['pidFile', 'qmpSocket', 'serialSocket'] as const) {
    if (spec.paths[key] === '') throw invalid(`paths.${key} is empty`, { field: `paths.${key}` });
  }
  if (spec.paths.eventSocket === '') throw invalid('paths.eventSocket is empty', { field: 'paths.eventSocket' });
  if (spec.paths.vncSocket === '') throw invalid('paths.vncSocket is empty', { field: 'paths.vncSocket' });
  for (const key of ['qmpSocket', 'serialSocket', 'eventSocket', 'vncSocket'] as const) {
    if (Buffer.byteLength(spec.paths[key] ?? '') > MAX_UNIX_SOCKET_PATH_BYTES) {
      throw invalid(`${key === 'qmpSocket' ? 'QMP' : key === 'eventSocket' ? 'QMP event' : key === 'vncSocket' ? 'VNC' : 'serial'} socket path is longer than ${MAX_UNIX_SOCKET_PATH_BYTES} bytes: ${spec.paths[key] ?? ''}`, {
        field: `paths.${key}`,
      });
    }
  }
  if (spec.runAs) {
    const { uid, gid } = spec.runAs;
    // 0 would be root again; 2^32-1 is (uid_t)-1, "unchanged", to the kernel.
    const ok = (n: number) => Number.isSafeInteger(n) && n > 0 && n < 0xffffffff;
    if (!ok(uid) || !ok(gid)) throw invalid(`runAs must be a non-zero uid and gid, got ${uid}:${gid}`, { field: 'runAs' });
  }
  if (spec.smbiosSerial !== undefined) {
    // An SMBIOS string ends at NUL; control characters have no business in DMI text.
    if (spec.smbiosSerial === '' || /[\p{Cc}]/u.test(spec.smbiosSerial) || Buffer.byteLength(spec.smbiosSerial) > 255) {
      throw invalid('the SMBIOS serial must be 1-255 bytes of printable text', { field: 'smbiosSerial' });
    }
  }
  if (spec.machine !== undefined && !MACHINE_RE.test(spec.machine)) throw invalid(`machine must be pc, q35 or a versioned pc-i440fx-X.Y / pc-q35-X.Y, got "${spec.machine}"`, { field: 'machine' });
  if (spec.cpu !== undefined && !CPU_MODEL_RE.test(spec.cpu)) throw invalid(`cpu must be a QEMU CPU model name (see qemu-system-x86_64 -cpu help), got "${spec.cpu}"`, { field: 'cpu' });
  if (spec.incoming === '') throw invalid('incoming must be a migration URI or "defer"', { field: 'incoming' });
}

function invalid(message: string, details: Record<string, unknown>): UcloudError {
  return new UcloudError('VALIDATION_FAILED', message, { details });
}
