import { access, chmod, constants, mkdir, open, rename, rm, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { UcloudError } from '../../common/errors.js';
import type { DiskVolume, ImageVolume, ImportSource, ProgressFn, QemuDrive, StorageDriver, StorageDriverFactory } from '../driver.js';
import { checkStorePath, checkStorePathTarget, volumePath } from '../paths.js';
import * as qemuImg from '../qemu-img.js';
import { inspectDisk, STORE_DIR_MODE, VOLUME_MODE } from './fs-disk.js';

/**
 * Images as raw files under <path>/images, VM disks as qcow2 overlays under
 * <path>/disks backed by the image file, so a disk costs the same to make for a
 * 100 MiB or a 100 GiB image. `shared: true` declares that <path> is the same
 * mount on every host (NFS, CephFS), which makes VMs on it migratable.
 *
 * Both directories are root's (700) and every file in them too (600): images
 * are other tenants' private data and VMs' QEMUs open disks and images as root
 * before dropping to their uids, so no VM uid (on any host of a shared store,
 * where uids repeat) and no local user can open any of them.
 */
export const fsDriver: StorageDriverFactory = (settings) => {
  // Settings are checked before anything touches the filesystem (see ../paths.ts).
  const unknown = Object.keys(settings).filter((k) => k !== 'path' && k !== 'shared');
  if (unknown.length) throw new UcloudError('INVALID_STORE_SETTINGS', `fs storage: unknown setting(s) ${unknown.join(', ')}`, { hint: 'fs settings are { path: "/absolute/dir", shared?: true|false }' });
  if (settings.shared !== undefined && typeof settings.shared !== 'boolean') throw new UcloudError('INVALID_STORE_SETTINGS', 'fs storage: shared must be true or false');
  const root = checkStorePath('path', settings.path);
  const shared = settings.shared === true;
  const imagesDir = join(root, 'images');
  const disksDir = join(root, 'disks');
  // Refs come from records: each must name one file directly in its directory.
  const imagePath = (ref: string) => volumePath(imagesDir, ref);
  const diskPath = (ref: string) => volumePath(disksDir, ref);
  // Symlinks of the path's existing parents are resolved once, before the first mkdir.
  let rootChecked: Promise<void> | undefined;
  const checkRoot = () => (rootChecked ??= checkStorePathTarget('path', root).catch((err: unknown) => {
    rootChecked = undefined;
    throw err;
  }));
  // chmod too: a store made before its directories were root-only keeps its old modes through mkdir.
  const makeDirs = async () => {
    for (const dir of [imagesDir, disksDir]) {
      await mkdir(dir, { recursive: true, mode: STORE_DIR_MODE });
      await chmod(dir, STORE_DIR_MODE);
    }
  };
  /** The image an OS disk was made from, as its header must name it and QEMU opens it. */
  const backingOf = (disk: DiskVolume) => disk.base && { file: imagePath(disk.base.ref), format: disk.base.format };

  const driver: StorageDriver = {
    driver: 'fs',
    capabilities: { shared, cowClones: true, streamingImport: false, fencing: false },

    async check() {
      await checkRoot();
      try {
        await makeDirs();
        await access(root, constants.W_OK);
      } catch (err) {
        throw new UcloudError('STORAGE_FAILED', `image store path ${root} is not writable: ${(err as Error).message}`, {
          hint: `create it and make it writable by ucloud: mkdir -p ${root}`,
        });
      }
    },

    async importImage(name: string, source: ImportSource, onProgress?: ProgressFn): Promise<ImageVolume> {
      await driver.check();
      const ref = `${name}.raw`;
      const tmp = imagePath(`.${ref}.importing`);
      // The driver makes the output (sparse, sized) and hands the sandboxed
      // conversion its descriptor: qemu-img never opens a path in the store.
      const out = await open(tmp, constants.O_RDWR | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, VOLUME_MODE);
      try {
        await out.chmod(VOLUME_MODE); // a leftover of a crashed import keeps its mode through O_CREAT
        await out.truncate(source.virtualSize);
        await qemuImg.convert(source, { fd: out.fd, size: source.virtualSize }, { onProgress: onProgress && ((f) => onProgress(f * source.virtualSize, source.virtualSize)) });
        // Readers only ever see a complete image: the rename is atomic.
        await rename(tmp, imagePath(ref));
      } catch (err) {
        await rm(tmp, { force: true });
        throw err;
      } finally {
        await out.close();
      }
      return { ref, format: 'raw', virtualSize: source.virtualSize };
    },

    async deleteImage(image: ImageVolume) {
      await rm(imagePath(image.ref), { force: true });
    },

    async freeBytes() {
      await driver.check();
      // What an unprivileged writer may still use (bavail): root's reserve is kept for the host.
      const s = await statfs(imagesDir);
      return s.bavail * s.bsize;
    },

    async createDisk(diskId: string, sizeBytes: number, image?: ImageVolume): Promise<DiskVolume> {
      const ref = `${diskId}.qcow2`;
      const path = diskPath(ref);
      const base = image && imagePath(image.ref);
      await checkRoot();
      await makeDirs();
      if (image && base) {
        if (sizeBytes < image.virtualSize) {
          throw new UcloudError('DISK_SMALLER_THAN_IMAGE', `a disk of ${sizeBytes} bytes cannot hold an image of ${image.virtualSize} bytes`);
        }
        await qemuImg.createOverlay(path, { path: base, format: image.format }, sizeBytes);
      } else {
        await qemuImg.createEmpty(path, sizeBytes);
      }
      // qemu-img creates it under the umask (644); the root-only directory hides it meanwhile.
      await chmod(path, VOLUME_MODE);
      return { ref, format: 'qcow2', ...(image ? { base: image } : {}) };
    },

    async resizeDisk(disk: DiskVolume, sizeBytes: number) {
      // Checked first: qemu-img (as root) would open a data file the header names.
      const current = await inspectDisk(diskPath(disk.ref), disk.format, backingOf(disk));
      if (sizeBytes < current) throw new UcloudError('DISK_SHRINK_REFUSED', `disk is ${current} bytes; it cannot shrink to ${sizeBytes}`);
      if (sizeBytes > current) await qemuImg.resize(diskPath(disk.ref), disk.format, sizeBytes);
    },

    async deleteDisk(disk: DiskVolume) {
      await rm(diskPath(disk.ref), { force: true });
    },

    async diskSize(disk: DiskVolume) {
      return inspectDisk(diskPath(disk.ref), disk.format, backingOf(disk));
    },

    async verifyDisk(disk: DiskVolume) {
      await inspectDisk(diskPath(disk.ref), disk.format, backingOf(disk));
    },

    qemuDrive(disk: DiskVolume): QemuDrive {
      const backing = backingOf(disk);
      return { file: diskPath(disk.ref), format: disk.format, ...(backing ? { backing } : {}) };
    },
  };
  return driver;
};
