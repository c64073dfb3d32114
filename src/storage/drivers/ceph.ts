// Ceph RBD storage: images are RBD images `img-<name>` with a protected snapshot `base`;
// VM disks are copy-on-write clones `disk-<id>` of that snapshot, so making a disk costs
// the same whatever the image size. Every host sees the same pool: disks survive their
// host and VMs can live-migrate.
//
// Import streams the source through qemu's rbd block driver (`qemu-img convert … rbd:…`):
// no temporary raw copy on local disk, zero runs are skipped. It writes into
// `img-<name>.part` and renames to `img-<name>` only once data and snapshot are complete,
// so a half-imported image never carries the final name; a failure removes the part
// image, and a part image left by a crashed process is removed by the next import.

import { spawn } from 'node:child_process';
import { UcloudError } from '../../common/errors.js';
import { run } from '../../common/exec.js';
import { Reverter } from '../../common/reverter.js';
import type {
  DiskVolume,
  ImageVolume,
  ImportSource,
  ProgressFn,
  QemuDrive,
  StorageCapabilities,
  StorageDriver,
  StorageDriverFactory,
} from '../driver.js';
import { ERRNO, RbdClient } from '../rbd.js';

export interface CephSettings {
  /** The RBD pool holding images and disks. It must exist (see check()). */
  pool: string;
  /** ceph.conf path; default: librados' search (CEPH_CONF, /etc/ceph/ceph.conf). */
  conf?: string;
  /** Ceph client id, without "client."; default "admin". Its keyring is found through the conf. */
  user?: string;
}

export const BASE_SNAP = 'base';
const IMAGE_PREFIX = 'img-';
const DISK_PREFIX = 'disk-';
const PART_SUFFIX = '.part';
const SECTOR = 512;

// Ceph pool and image names may hold much more, but ':' '@' '/' ',' and spaces would
// break `rbd:pool/image:opt=…` strings and -drive option parsing.
const NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const USER_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;
const KNOWN_SETTINGS = new Set(['pool', 'conf', 'user']);

function invalid(message: string, details?: Record<string, unknown>): UcloudError {
  return new UcloudError('INVALID_CONFIG', `ceph storage: ${message}`, {
    hint: 'ceph settings are { pool: "<rbd pool>", conf?: "/etc/ceph/ceph.conf", user?: "admin" }',
    details,
  });
}

export function parseCephSettings(settings: Record<string, unknown>): Required<Pick<CephSettings, 'pool' | 'user'>> & { conf?: string } {
  if (settings === null || typeof settings !== 'object') throw invalid('settings must be an object');
  const unknown = Object.keys(settings).filter((k) => !KNOWN_SETTINGS.has(k));
  if (unknown.length) throw invalid(`unknown setting(s) ${unknown.join(', ')}`, { unknown });
  const { pool, conf, user } = settings;
  if (typeof pool !== 'string' || !NAME_RE.test(pool)) {
    throw invalid(`pool must be a Ceph pool name (letters, digits, "_", "-", "."), got ${JSON.stringify(pool)}`);
  }
  if (conf !== undefined) {
    if (typeof conf !== 'string' || !conf.startsWith('/') || /[,\s\0]/.test(conf)) {
      throw invalid(`conf must be an absolute path without commas or spaces, got ${JSON.stringify(conf)}`);
    }
  }
  if (user !== undefined && (typeof user !== 'string' || !USER_RE.test(user) || user.startsWith('client.'))) {
    throw invalid(`user must be a Ceph client id without "client." (e.g. "admin"), got ${JSON.stringify(user)}`);
  }
  return { pool, user: (user as string | undefined) ?? 'admin', ...(conf === undefined ? {} : { conf: conf as string }) };
}

/** `pool/image` refs; the pool is part of the ref so disks can be cloned from images kept in another pool. */
function parseRef(ref: string, kind: 'image' | 'disk'): { pool: string; image: string } {
  const m = /^([^/@:]+)\/([^/@:]+)$/.exec(ref);
  if (!m || !NAME_RE.test(m[1]!) || !NAME_RE.test(m[2]!)) {
    throw new UcloudError('STORAGE_FAILED', `not a ceph ${kind} reference: ${JSON.stringify(ref)}`, { details: { ref } });
  }
  return { pool: m[1]!, image: m[2]! };
}

function checkName(what: string, name: string): void {
  if (!NAME_RE.test(name)) {
    throw new UcloudError('VALIDATION_FAILED', `${what} ${JSON.stringify(name)} cannot be used as an RBD image name`, { details: { [what]: name } });
  }
}

function checkSize(sizeBytes: number): number {
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0) {
    throw new UcloudError('SIZE_OUT_OF_RANGE', `disk size must be a positive whole number of bytes, got ${sizeBytes}`);
  }
  // QEMU addresses whole sectors
  return Math.ceil(sizeBytes / SECTOR) * SECTOR;
}

/** Escapes a value inside qemu's `rbd:` pseudo-filename, where ':' separates options. */
function qemuEscape(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/:/g, '\\:');
}

export class CephDriver implements StorageDriver {
  readonly driver = 'ceph';
  readonly capabilities: StorageCapabilities = { shared: true, cowClones: true, streamingImport: true };
  readonly pool: string;
  readonly conf: string | undefined;
  readonly user: string;
  readonly rbd: RbdClient;

  constructor(settings: Record<string, unknown>) {
    const s = parseCephSettings(settings);
    this.pool = s.pool;
    this.conf = s.conf;
    this.user = s.user;
    this.rbd = new RbdClient({ conf: s.conf, user: s.user });
  }

  /**
   * The cluster answers, the pool exists and this client may list it, and qemu-img can
   * open rbd: volumes. A missing pool is reported, not created: creating pools needs admin
   * caps and a choice of placement groups and CRUSH rule, and a typo in `pool` must not
   * quietly start a new, empty store.
   */
  async check(): Promise<void> {
    const images = await this.rbd.list(this.pool);
    if (images === undefined) {
      throw new UcloudError('CEPH_UNAVAILABLE', `the Ceph pool ${this.pool} does not exist`, {
        hint: `create it: ceph osd pool create ${this.pool} && rbd pool init ${this.pool}; or fix the store's pool setting`,
        details: { pool: this.pool, conf: this.conf },
      });
    }
    let help = '';
    try {
      help = (await run('qemu-img', ['--help'], { timeoutMs: 10_000 })).stdout;
    } catch (err) {
      throw new UcloudError('CEPH_UNAVAILABLE', 'qemu-img cannot be run', { hint: 'apt-get install qemu-utils qemu-block-extra', cause: err });
    }
    const formats = /Supported formats:(.*)/.exec(help)?.[1]?.split(/\s+/) ?? [];
    if (!formats.includes('rbd')) {
      throw new UcloudError('CEPH_UNAVAILABLE', 'this qemu has no rbd block driver', { hint: 'apt-get install qemu-block-extra' });
    }
  }

  /** The `rbd:` pseudo-filename QEMU and qemu-img open; `extra` adds librados options. */
  rbdUri(pool: string, image: string, extra: Record<string, string> = {}): string {
    let uri = `rbd:${pool}/${image}`;
    if (this.conf) uri += `:conf=${qemuEscape(this.conf)}`;
    uri += `:id=${this.user}`;
    for (const [k, v] of Object.entries(extra)) uri += `:${k}=${qemuEscape(v)}`;
    return uri;
  }

  imageRef(name: string): string {
    return `${this.pool}/${IMAGE_PREFIX}${name}`;
  }

  diskRef(diskId: string): string {
    return `${this.pool}/${DISK_PREFIX}${diskId}`;
  }

  async importImage(name: string, source: ImportSource, onProgress?: ProgressFn): Promise<ImageVolume> {
    checkName('image name', name);
    if (source.format !== 'raw' && source.format !== 'qcow2') {
      throw new UcloudError('IMAGE_INVALID', `cannot import format ${String(source.format)}`);
    }
    const pool = this.pool;
    const final = `${IMAGE_PREFIX}${name}`;
    const part = `${final}${PART_SUFFIX}`;

    const virtualSize = await this.probeSource(source);
    if (await this.rbd.exists(pool, final)) {
      throw new UcloudError('IMAGE_EXISTS', `the RBD image ${pool}/${final} exists already`, { details: { pool, image: final } });
    }
    await this.removeLeftoverPart(pool, part);

    return new Reverter().run(async (rev) => {
      if (!(await this.rbd.create(pool, part, virtualSize))) {
        throw new UcloudError('CONFLICT', `another import of image ${name} has just started`, { details: { pool, image: part } });
      }
      rev.add(`remove ${pool}/${part}`, () => this.removeImageAndSnaps(pool, part));

      const total = virtualSize;
      onProgress?.(0, total);
      await convertWithProgress(
        [
          'convert',
          '-p',
          '-n', // the target exists (made above) …
          '--target-is-zero', // … and is all zeros: skip writing zero runs
          '-W', // out-of-order writes: measurably faster into RBD
          '-m',
          '16',
          '-f',
          source.format,
          '-O',
          'raw',
          source.path,
          this.rbdUri(pool, part, { client_mount_timeout: '15' }),
        ],
        (pct) => onProgress?.(Math.min(total, Math.round((pct / 100) * total)), total),
      );

      await this.rbd.snapCreate(pool, part, BASE_SNAP);
      await this.rbd.snapProtect(pool, part, BASE_SNAP);
      try {
        await this.rbd.rename(pool, part, final);
      } catch (err) {
        if (await this.rbd.exists(pool, final)) {
          throw new UcloudError('IMAGE_EXISTS', `the RBD image ${pool}/${final} appeared during the import`, { details: { pool, image: final }, cause: err });
        }
        throw err;
      }
      onProgress?.(total, total);
      return { ref: `${pool}/${final}`, format: 'raw' as const, virtualSize };
    });
  }

  /** The source's virtual size, refusing what cannot become a standalone image. */
  private async probeSource(source: ImportSource): Promise<number> {
    let info: { 'virtual-size': number; format: string; 'backing-filename'?: string };
    try {
      const { stdout } = await run('qemu-img', ['info', '--output=json', '-f', source.format, source.path], { timeoutMs: 30_000 });
      info = JSON.parse(stdout) as typeof info;
    } catch (err) {
      const stderr = err instanceof UcloudError ? String(err.details?.stderr ?? err.message) : String(err);
      throw new UcloudError('IMAGE_INVALID', `cannot read ${source.path} as ${source.format}: ${stderr.split('\n').pop() ?? ''}`, {
        details: { path: source.path, format: source.format },
        cause: err,
      });
    }
    if (info['backing-filename']) {
      throw new UcloudError('IMAGE_HAS_BACKING_FILE', `${source.path} depends on a backing file (${info['backing-filename']})`, {
        details: { path: source.path },
      });
    }
    const size = info['virtual-size'];
    if (!Number.isSafeInteger(size) || size <= 0) {
      throw new UcloudError('IMAGE_INVALID', `${source.path} has no usable virtual size`, { details: { path: source.path, size } });
    }
    return size;
  }

  /** A `.part` image nobody has open is what a crashed import left; one that is open is an import under way. */
  private async removeLeftoverPart(pool: string, part: string): Promise<void> {
    if (!(await this.rbd.exists(pool, part))) return;
    const watchers = await this.rbd.watchers(pool, part);
    if (watchers.length) {
      throw new UcloudError('CONFLICT', `an import into ${pool}/${part} is under way`, { details: { pool, image: part, watchers } });
    }
    await this.removeImageAndSnaps(pool, part);
  }

  private async removeImageAndSnaps(pool: string, image: string): Promise<void> {
    if (!(await this.rbd.exists(pool, image))) return;
    for (const snap of await this.rbd.snapList(pool, image)) {
      if (snap.protected) await this.rbd.snapUnprotect(pool, image, snap.name);
      await this.rbd.snapRemove(pool, image, snap.name);
    }
    await this.rbd.remove(pool, image);
  }

  async deleteImage(image: ImageVolume): Promise<void> {
    const { pool, image: name } = parseRef(image.ref, 'image');
    const info = await this.rbd.info(pool, name);
    if (!info) return; // gone already
    const children = await this.rbd.children(pool, name, BASE_SNAP);
    const inUse = () =>
      new UcloudError('IMAGE_IN_USE', `image ${image.ref} still has ${children.length || 'some'} disk(s) cloned from it`, {
        details: { image: image.ref, disks: children.map((c) => `${c.pool}/${c.image}`) },
      });
    if (children.length) throw inUse();
    // a clone made between the two calls makes unprotect fail (EBUSY): nothing changed then
    if (!(await this.rbd.snapUnprotect(pool, name, BASE_SNAP))) {
      children.push(...(await this.rbd.children(pool, name, BASE_SNAP)));
      throw inUse();
    }
    await this.removeImageAndSnaps(pool, name);
  }

  async createDisk(diskId: string, sizeBytes: number, image?: ImageVolume): Promise<DiskVolume> {
    checkName('disk id', diskId);
    const size = checkSize(sizeBytes);
    const pool = this.pool;
    const name = `${DISK_PREFIX}${diskId}`;
    const disk: DiskVolume = { ref: `${pool}/${name}`, format: 'raw' };

    if (!image) {
      if (!(await this.rbd.create(pool, name, size))) await this.adoptExisting(disk, size, undefined);
      return disk;
    }

    const src = parseRef(image.ref, 'image');
    const parent = await this.rbd.info(src.pool, src.image);
    if (!parent) {
      throw new UcloudError('STORAGE_FAILED', `image ${image.ref} is missing from the Ceph cluster`, { details: { image: image.ref } });
    }
    if (size < parent.size) {
      throw new UcloudError('DISK_SHRINK_REFUSED', `a disk of ${sizeBytes} bytes is smaller than its image (${parent.size} bytes)`, {
        details: { sizeBytes, imageSize: parent.size, image: image.ref },
      });
    }
    return new Reverter().run(async (rev) => {
      if (!(await this.rbd.clone({ pool: src.pool, image: src.image, snap: BASE_SNAP }, { pool, image: name }))) {
        // made by an earlier attempt (e.g. the host agent restarted): keep it, it may hold the VM's data
        await this.adoptExisting(disk, size, src);
        return disk;
      }
      rev.add(`remove ${disk.ref}`, () => this.rbd.remove(pool, name));
      if (size > parent.size) await this.rbd.resize(pool, name, size);
      return disk;
    });
  }

  /** createDisk is repeatable: an existing disk made from the same image is kept and grown if needed. */
  private async adoptExisting(disk: DiskVolume, size: number, src: { pool: string; image: string } | undefined): Promise<void> {
    const { pool, image } = parseRef(disk.ref, 'disk');
    const info = await this.rbd.info(pool, image);
    if (!info) throw new UcloudError('CONFLICT', `disk ${disk.ref} was removed while being created`, { details: { disk: disk.ref } });
    const sameParent = src
      ? info.parent?.pool === src.pool && info.parent.image === src.image && info.parent.snapshot === BASE_SNAP
      : info.parent === undefined;
    if (!sameParent) {
      throw new UcloudError('STORAGE_FAILED', `disk ${disk.ref} exists already and was made from something else`, {
        details: { disk: disk.ref, parent: info.parent, expected: src },
      });
    }
    if (info.size < size) await this.rbd.resize(pool, image, size);
  }

  async resizeDisk(disk: DiskVolume, sizeBytes: number): Promise<void> {
    const { pool, image } = parseRef(disk.ref, 'disk');
    const size = checkSize(sizeBytes);
    const current = await this.requireSize(pool, image, disk.ref);
    if (size < current) {
      throw new UcloudError('DISK_SHRINK_REFUSED', `disk ${disk.ref} is ${current} bytes; it cannot shrink to ${sizeBytes}`, {
        details: { disk: disk.ref, sizeBytes, currentBytes: current },
      });
    }
    if (size > current) await this.rbd.resize(pool, image, size);
  }

  /**
   * Ceph still counts a killed QEMU as a watcher of its disk for up to ~30 s, and
   * `rbd rm` answers EBUSY meanwhile: wait that out here, so callers see one
   * idempotent delete like every driver's.
   */
  async deleteDisk(disk: DiskVolume): Promise<void> {
    const { pool, image } = parseRef(disk.ref, 'disk');
    const deadline = Date.now() + 45_000;
    for (;;) {
      try {
        await this.rbd.remove(pool, image);
        return;
      } catch (err) {
        const busy = err instanceof UcloudError && err.details?.exitCode === ERRNO.EBUSY;
        if (!busy || Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 2000));
      }
    }
  }

  async diskSize(disk: DiskVolume): Promise<number> {
    const { pool, image } = parseRef(disk.ref, 'disk');
    return this.requireSize(pool, image, disk.ref);
  }

  private async requireSize(pool: string, image: string, ref: string): Promise<number> {
    const info = await this.rbd.info(pool, image);
    if (!info) throw new UcloudError('STORAGE_FAILED', `disk ${ref} does not exist in the Ceph cluster`, { details: { disk: ref } });
    return info.size;
  }

  /**
   * QEMU 7.2 takes no image lock on rbd: volumes (only file-posix locks), so a second
   * process — the incoming side of a live migration — opens the image without share-rw;
   * librbd's exclusive-lock feature hands writes over when the destination resumes.
   * discard=unmap lets a guest's TRIM free RADOS objects.
   */
  qemuDrive(disk: DiskVolume): QemuDrive {
    const { pool, image } = parseRef(disk.ref, 'disk');
    return { file: this.rbdUri(pool, image), format: 'raw', options: { discard: 'unmap' } };
  }
}

/** Runs `qemu-img` and reports its `-p` percentage; killed when it shows no progress for `idleMs`. */
function convertWithProgress(args: string[], onPercent: (pct: number) => void, idleMs = 300_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('qemu-img', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const err: Buffer[] = [];
    let buf = '';
    let stalled = false;
    let timer = setTimeout(stall, idleMs);
    function stall(): void {
      stalled = true;
      child.kill('SIGKILL');
    }
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      buf += chunk;
      // progress lines look like "    (12.34/100%)\r"
      const parts = buf.split(/[\r\n]/);
      buf = parts.pop() ?? '';
      for (const p of parts) {
        const m = /\((\d+(?:\.\d+)?)\/100%\)/.exec(p);
        if (m) {
          clearTimeout(timer);
          timer = setTimeout(stall, idleMs);
          onPercent(Number(m[1]));
        }
      }
    });
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new UcloudError('STORAGE_FAILED', `cannot run qemu-img: ${e.message}`, { hint: 'apt-get install qemu-utils qemu-block-extra', cause: e }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const stderr = Buffer.concat(err).toString('utf8').trim();
      const details = { command: ['qemu-img', ...args].join(' '), stderr: stderr.slice(-2000) };
      if (stalled) {
        reject(new UcloudError('CEPH_UNAVAILABLE', `qemu-img made no progress for ${idleMs / 1000} s while writing to Ceph`, { details }));
      } else if (code !== 0) {
        const last = stderr.split('\n').pop() ?? '';
        const unreachable = /error connecting|connect.*cluster|timed out/i.test(stderr);
        reject(
          new UcloudError(unreachable ? 'CEPH_UNAVAILABLE' : 'STORAGE_FAILED', `qemu-img convert failed (exit ${code ?? signal}): ${last}`, { details }),
        );
      } else {
        resolve();
      }
    });
  });
}

export const cephDriver: StorageDriverFactory = (settings) => new CephDriver(settings);
