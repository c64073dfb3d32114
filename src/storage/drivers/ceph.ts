// Ceph RBD storage: images are RBD images `img-<name>` with a protected snapshot `base`;
// VM disks are copy-on-write clones `disk-<id>` of that snapshot, so making a disk costs
// the same whatever the image size. Every host sees the same pool: disks survive their
// host and VMs can live-migrate.
//
// Import streams the source into RBD without a temporary copy: the sandboxed conversion
// (qemu-img.ts) writes over NBD into a qemu-storage-daemon of ours (storage-daemon.ts) that
// creates, serves and snapshots the new image on its own cluster connections (the sandbox
// never holds the Ceph keyring); zero runs are skipped. The image has its final name from
// the start; the `base` snapshot, taken once every byte is written, is what makes it whole:
// disks clone only from it, and an image without it is what a crashed import left, which the
// next import of that name removes.

import { chmod, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { UcloudError } from '../../common/errors.js';
import { withTimeout } from '../../common/timeout.js';
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
import { checkStorePath } from '../paths.js';
import * as qemuImg from '../qemu-img.js';
import { StorageDaemon } from '../storage-daemon.js';
import { withFileLock } from '../../common/file-lock.js';
import { ERRNO, RbdClient } from '../rbd.js';

export interface CephSettings {
  /** The RBD pool holding images and disks. It must exist (see check()). */
  pool: string;
  /** ceph.conf path; default: librados' search (CEPH_CONF, /etc/ceph/ceph.conf). */
  conf?: string;
  /**
   * Ceph client id, without "client."; default "ucloud": ucloud's own client, whose caps
   * reach only the pools of ucloud's stores (see ensureClient). Its keyring is
   * `ceph.client.<user>.keyring` next to the conf.
   */
  user?: string;
}

/** ucloud's own Ceph client: `mon 'profile rbd'`, `osd 'profile rbd pool=<each store's pool>'`. */
export const UCLOUD_CEPH_USER = 'ucloud';
/** The client that may create ucloud's client and grant it a pool, once, when a store is created. */
const CEPH_ADMIN_USER = 'admin';

export const BASE_SNAP = 'base';
const IMAGE_PREFIX = 'img-';
const DISK_PREFIX = 'disk-';
const SECTOR = 512;

// Ceph pool and image names may hold much more, but ':' '@' '/' ',' and spaces would
// break `rbd:pool/image:opt=…` strings and -drive option parsing.
const NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const USER_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;
const KNOWN_SETTINGS = new Set(['pool', 'conf', 'user']);

function invalid(message: string, details?: Record<string, unknown>): UcloudError {
  return new UcloudError('INVALID_STORE_SETTINGS', `ceph storage: ${message}`, {
    hint: 'ceph settings are { pool: "<rbd pool>", conf?: "/etc/ceph/ceph.conf", user?: "ucloud" }',
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
    checkStorePath('conf', conf); // absolute, bounded, no control characters, not under /proc, /sys, /dev
    if (typeof conf !== 'string' || /[,\s]/.test(conf)) {
      throw invalid(`conf must be an absolute path without commas or spaces, got ${JSON.stringify(conf)}`);
    }
  }
  if (user !== undefined && (typeof user !== 'string' || !USER_RE.test(user) || user.startsWith('client.'))) {
    throw invalid(`user must be a Ceph client id without "client." (e.g. "ucloud"), got ${JSON.stringify(user)}`);
  }
  return { pool, user: (user as string | undefined) ?? UCLOUD_CEPH_USER, ...(conf === undefined ? {} : { conf: conf as string }) };
}

/** `pool/image` refs; the pool is part of the ref so disks can be cloned from images kept in another pool. */
function parseRef(ref: string, kind: 'image' | 'disk'): { pool: string; image: string } {
  const m = /^([^/@:]+)\/([^/@:]+)$/.exec(ref);
  if (!m || !NAME_RE.test(m[1]!) || !NAME_RE.test(m[2]!)) {
    throw new UcloudError('INVALID_STORAGE_REF', `not a ceph ${kind} reference: ${JSON.stringify(ref)}`, { details: { ref } });
  }
  return { pool: m[1]!, image: m[2]! };
}

/**
 * How long a fenced client stays blocklisted: longer than any partition can last
 * unnoticed, since a client that never saw its blocklisting writes again once it
 * expires. The entries are a few bytes each in the OSD map.
 */
const FENCE_EXPIRE_S = 30 * 24 * 3600;

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
  readonly capabilities: StorageCapabilities = { shared: true, cowClones: true, streamingImport: true, fencing: true };
  readonly pool: string;
  readonly conf: string | undefined;
  readonly user: string;
  /** The client's keyring: root-only, read by QEMU before it drops to the VM's uid. */
  readonly keyring: string;
  readonly rbd: RbdClient;

  constructor(settings: Record<string, unknown>) {
    const s = parseCephSettings(settings);
    this.pool = s.pool;
    this.conf = s.conf;
    this.user = s.user;
    // Where Ceph's own tools put a client's keyring: next to the conf (/etc/ceph/ceph.client.<id>.keyring).
    this.keyring = join(dirname(s.conf ?? '/etc/ceph/ceph.conf'), `ceph.client.${s.user}.keyring`);
    this.rbd = new RbdClient({ conf: s.conf, user: s.user, keyring: this.keyring });
  }

  /**
   * The cluster answers, the pool exists and this client may list it, and qemu-img can
   * open rbd: volumes. A missing pool is reported, not created: creating pools needs admin
   * caps and a choice of placement groups and CRUSH rule, and a typo in `pool` must not
   * quietly start a new, empty store.
   */
  async check(): Promise<void> {
    await this.ensureClient();
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

  /**
   * Makes ucloud's Ceph client able to use this store's pool, when it cannot yet:
   * creates `client.<user>` with `mon 'profile rbd' osd 'profile rbd pool=<pool>'`,
   * or adds `profile rbd pool=<pool>` to the pools it has, and writes its keyring
   * (mode 600, root) next to the conf. This is the one place ucloud uses
   * `client.admin` (its keyring found through the conf), and only when a store is
   * created (ImageManager.ensureStore → check()); an operator who made the client
   * with these caps and installed its keyring needs no admin keyring at all.
   * A store configured with another user (e.g. "admin") is used as it is.
   */
  async ensureClient(): Promise<void> {
    if (this.user !== UCLOUD_CEPH_USER) return;
    if (await this.canUsePool()) return;
    const admin = new RbdClient({ conf: this.conf, user: CEPH_ADMIN_USER });
    const entity = `client.${this.user}`;
    const grant = `profile rbd pool=${this.pool}`;
    const asAdmin = async <T>(f: () => Promise<T>): Promise<T> => {
      try {
        return await f();
      } catch (err) {
        throw new UcloudError('CEPH_UNAVAILABLE', `client.${this.user} cannot use pool ${this.pool}, and client.admin cannot grant it`, {
          hint: `as a Ceph admin: ceph auth get-or-create ${entity} mon 'profile rbd' osd '${grant}' -o ${this.keyring} && chmod 600 ${this.keyring} (add the pool to its osd caps if it exists)`,
          details: { pool: this.pool, conf: this.conf, keyring: this.keyring },
          cause: err,
        });
      }
    };
    // A missing pool is check()'s to report; caps never name a pool that does not exist.
    if ((await asAdmin(() => admin.list(this.pool))) === undefined) return;
    // Several stores may be added at once, each a read-modify-write of the caps, so the
    // writers on this machine take turns (a lock beside the keyring); a grant dropped by
    // a writer elsewhere shows in the final check, and is added again.
    await withFileLock(`${this.keyring}.lock`, () => this.grantPool(admin, entity, grant, asAdmin));
  }

  private async grantPool(admin: RbdClient, entity: string, grant: string, asAdmin: <T>(f: () => Promise<T>) => Promise<T>): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      let client = await asAdmin(() => admin.authGet(entity));
      const pools = grantedPools(client?.caps.osd ?? '');
      if (!pools.includes(this.pool)) {
        // Appended: grants an operator added by hand stay as they are.
        const osd = client?.caps.osd ? `${client.caps.osd}, ${grant}` : grant;
        await asAdmin(() => admin.setAuthCaps(entity, { mon: client?.caps.mon ?? 'profile rbd', osd }, client !== undefined));
        client ??= await asAdmin(() => admin.authGet(entity));
      }
      if (!client) throw new UcloudError('CEPH_UNAVAILABLE', `${entity} vanished while being created`);
      await writeKeyring(this.keyring, `[${entity}]\n\tkey = ${client.key}\n`);
      // New caps apply to new connections at once: this one proves them.
      if (await this.canUsePool()) return;
      if (attempt >= 4) {
        throw new UcloudError('CEPH_UNAVAILABLE', `${entity} still cannot use pool ${this.pool} after its caps were set`, {
          details: { pool: this.pool, conf: this.conf, keyring: this.keyring },
        });
      }
    }
  }

  /** This client can list the pool (false also when its keyring is missing or it does not exist). */
  private async canUsePool(): Promise<boolean> {
    try {
      return (await this.rbd.list(this.pool)) !== undefined;
    } catch (err) {
      if (err instanceof UcloudError && err.code === 'CEPH_UNAVAILABLE') return false;
      throw err;
    }
  }

  /** The `rbd:` pseudo-filename QEMU and qemu-img open; `extra` adds librados options. */
  rbdUri(pool: string, image: string, extra: Record<string, string> = {}): string {
    let uri = `rbd:${pool}/${image}`;
    if (this.conf) uri += `:conf=${qemuEscape(this.conf)}`;
    uri += `:id=${this.user}`;
    uri += `:keyring=${qemuEscape(this.keyring)}`;
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
    const image = `${IMAGE_PREFIX}${name}`;
    const virtualSize = checkSize(source.virtualSize);
    try {
      return await this.importOnce(image, source, virtualSize, onProgress);
    } catch (err) {
      if (!(err instanceof LeftoverImage)) throw err;
      // what a crashed import left (no base snapshot, nobody has it open): gone, then once more
      await this.removeImageAndSnaps(this.pool, image);
      return this.importOnce(image, source, virtualSize, onProgress);
    }
  }

  /**
   * One storage daemon (storage-daemon.ts) does the root side of the import on its own
   * cluster connections: creates the image under its final name, serves it over NBD to the
   * sandboxed conversion (qemu-img.ts), which cannot hold the Ceph keyring, then takes the
   * base snapshot. The sandbox starts at once, beside the daemon; qemu-img in it starts and
   * connects the moment the export exists (qemuImg.convert's startWhen: sooner, it sat out
   * QEMU's 1 s reconnect delay). The snapshot is the mark of a whole image: it is taken only after
   * every byte is written and flushed, and nothing clones an image without it, so an
   * import killed at any point leaves an image that is never used and that the next
   * import of that name removes (LeftoverImage).
   */
  private async importOnce(image: string, source: ImportSource, virtualSize: number, onProgress?: ProgressFn): Promise<ImageVolume> {
    const pool = this.pool;
    const total = virtualSize;
    onProgress?.(0, total);
    const dir = await mkdtemp(join(tmpdir(), 'ucloud-import-'));
    const socket = join(dir, 'nbd.sock');
    const abort = new AbortController();
    let exported!: () => void;
    const startWhen = new Promise<void>((resolve) => (exported = resolve));
    const conversion = qemuImg.convert(source, { nbdSocket: socket }, {
      onProgress: (f) => onProgress?.(Math.min(total, Math.round(f * total)), total),
      coroutines: 16,
      signal: abort.signal,
      startWhen,
    });
    conversion.catch(() => undefined);
    let daemon: StorageDaemon | undefined;
    let created = false;
    try {
      daemon = await StorageDaemon.start();
      const location = await this.daemonLocation(daemon, pool, image);
      await daemon.job('blockdev-create', { options: { driver: 'rbd', location, size: virtualSize } }).catch((err: unknown) => this.whyNotCreated(pool, image, err));
      created = true;
      await daemon.request('blockdev-add', { driver: 'rbd', 'node-name': 'img', ...location, cache: { direct: false } });
      // Listening under another name until the export exists: a client that came sooner would find no export.
      await daemon.request('nbd-server-start', { addr: { type: 'unix', data: { path: join(dir, 'listen.sock') } } });
      await daemon.request('block-export-add', { type: 'nbd', id: 'img', 'node-name': 'img', name: '', writable: true });
      await rename(join(dir, 'listen.sock'), socket);
      exported();
      // A daemon that dies (Ceph gone) ends the conversion at once, not after qemu-img's own timeout.
      await Promise.race([conversion, daemon.done.then(() => Promise.reject(new UcloudError('STORAGE_FAILED', 'qemu-storage-daemon quit during the import')))]);
      await daemon.request('blockdev-snapshot-internal-sync', { device: 'img', name: BASE_SNAP });
      // Protection (clones of v1 need it) is its own CLI call: side by side with the daemon closing the image.
      await Promise.all([this.rbd.snapProtect(pool, image, BASE_SNAP), daemon.quit()]);
      onProgress?.(total, total);
      return { ref: `${pool}/${image}`, format: 'raw' as const, virtualSize };
    } catch (err) {
      abort.abort();
      await conversion.catch(() => undefined);
      // Closed, not killed: a killed client stays a watcher for ~30 s and the image could not be removed.
      if (daemon) await withTimeout(daemon.quit(), 30_000, () => new UcloudError('COMMAND_TIMEOUT', 'the rbd helper did not quit within 30 s')).catch(() => daemon?.kill());
      if (created) await this.removeImageAndSnaps(pool, image).catch(() => undefined);
      throw importError(err);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** The daemon's blockdev options for an image: this client, its key handed over the QMP pipe (never on a command line). */
  private async daemonLocation(daemon: StorageDaemon, pool: string, image: string): Promise<Record<string, string>> {
    const key = await readKey(this.keyring, `client.${this.user}`);
    // without a keyring of its own, librados finds one through the conf, as the rbd CLI does
    if (key) await daemon.request('object-add', { 'qom-type': 'secret', id: 'key', data: key, format: 'base64' });
    return { pool, image, user: this.user, ...(this.conf ? { conf: this.conf } : {}), ...(key ? { 'key-secret': 'key' } : {}) };
  }

  /** blockdev-create failed: because the image exists (finished, under way or left by a crash), or for the cluster's own reason. */
  private async whyNotCreated(pool: string, image: string, err: unknown): Promise<never> {
    if (!(await this.rbd.exists(pool, image))) throw err;
    if ((await this.rbd.snapList(pool, image)).some((s) => s.name === BASE_SNAP)) {
      throw new UcloudError('IMAGE_EXISTS', `the RBD image ${pool}/${image} exists already`, { details: { pool, image } });
    }
    const watchers = await this.rbd.watchers(pool, image);
    if (watchers.length) {
      throw new UcloudError('CONFLICT', `an import into ${pool}/${image} is under way`, { details: { pool, image, watchers } });
    }
    throw new LeftoverImage();
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

  /**
   * Blocklists every client instance that watches the disk (an open QEMU) or holds
   * its exclusive lock (the last writer, listed even after its watch timed out, ~30 s
   * into a partition). Instances, not the host's address: its other VMs' QEMUs and
   * any new client keep working, so nothing needs lifting when the host returns.
   */
  async fenceDisk(disk: DiskVolume): Promise<string[]> {
    const clients = await this.diskClients(disk);
    for (const c of clients) await this.rbd.blocklist(c, FENCE_EXPIRE_S);
    return clients;
  }

  async diskClients(disk: DiskVolume): Promise<string[]> {
    const { pool, image } = parseRef(disk.ref, 'disk');
    const [watchers, lockers] = await Promise.all([this.rbd.watchers(pool, image), this.rbd.lockers(pool, image)]);
    return [...new Set([...watchers, ...lockers])];
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
   * Nothing to check: an RBD disk is raw, so QEMU follows no header in it, and its
   * parent (the image's snapshot) is cluster metadata, not bytes the guest writes.
   */
  async verifyDisk(): Promise<void> {}

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

/** An image of that name without the base snapshot, that nobody has open: what a crashed import left. */
class LeftoverImage extends Error {}

/** A failed import's error, with Ceph's unavailability told apart from everything else. */
function importError(err: unknown): unknown {
  if (err instanceof LeftoverImage) return err;
  const e = err instanceof UcloudError ? err : new UcloudError('STORAGE_FAILED', String(err), { cause: err });
  if (e.code !== 'STORAGE_FAILED') return e;
  const said = `${String(e.details?.stderr ?? '')} ${String(e.details?.desc ?? '')}`;
  if (e.details?.stalled || e.details?.timedOut || /error connecting|connect.*cluster|timed out/i.test(said)) {
    return new UcloudError('CEPH_UNAVAILABLE', `${e.message} while writing to Ceph`, { details: e.details, cause: e });
  }
  return e;
}

/** The base64 key of `entity` in a keyring file; undefined when the file is missing or does not hold it. */
async function readKey(keyring: string, entity: string): Promise<string | undefined> {
  const text = await readFile(keyring, 'utf8').catch(() => '');
  let inSection = false;
  for (const line of text.split('\n')) {
    const section = /^\s*\[(.+)\]\s*$/.exec(line);
    if (section) inSection = section[1] === entity;
    else if (inSection) {
      const key = /^\s*key\s*=\s*(\S+)\s*$/.exec(line);
      if (key) return key[1];
    }
  }
  return undefined;
}

/** The pools named by `profile rbd pool=<pool>` grants in a client's osd caps. */
export function grantedPools(osdCaps: string): string[] {
  return [...osdCaps.matchAll(/profile rbd pool=([^\s,]+)/g)].map((m) => m[1]!);
}

/** A keyring file only root reads: written aside, made 600, then renamed over the old one. */
async function writeKeyring(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, text, { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, path);
}

export const cephDriver: StorageDriverFactory = (settings) => new CephDriver(settings);
