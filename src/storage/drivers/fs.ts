import { access, constants, mkdir, open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { UcloudError } from '../../common/errors.js';
import type { DiskVolume, ImageVolume, ImportSource, ProgressFn, QemuDrive, StorageDriver, StorageDriverFactory } from '../driver.js';
import { checkStorePath, checkStorePathTarget, volumePath } from '../paths.js';
import * as qemuImg from '../qemu-img.js';

/**
 * Images as raw files under <path>/images, VM disks as qcow2 overlays under
 * <path>/disks backed by the image file, so a disk costs the same to make for a
 * 100 MiB or a 100 GiB image. `shared: true` declares that <path> is the same
 * mount on every host (NFS, CephFS), which makes VMs on it migratable.
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

  const driver: StorageDriver = {
    driver: 'fs',
    capabilities: { shared, cowClones: true, streamingImport: false },

    async check() {
      await checkRoot();
      try {
        await mkdir(imagesDir, { recursive: true });
        await mkdir(disksDir, { recursive: true });
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
      // 0644 as qemu-img made it before: VMs' QEMUs read the image under their overlays.
      const out = await open(tmp, constants.O_RDWR | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, 0o644);
      try {
        await out.truncate(source.virtualSize);
        await qemuImg.convert(source, { fd: out.fd }, { onProgress: onProgress && ((f) => onProgress(f * source.virtualSize, source.virtualSize)) });
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

    async createDisk(diskId: string, sizeBytes: number, image?: ImageVolume): Promise<DiskVolume> {
      const ref = `${diskId}.qcow2`;
      const path = diskPath(ref);
      const base = image && imagePath(image.ref);
      await checkRoot();
      await mkdir(disksDir, { recursive: true });
      if (image && base) {
        if (sizeBytes < image.virtualSize) {
          throw new UcloudError('DISK_SMALLER_THAN_IMAGE', `a disk of ${sizeBytes} bytes cannot hold an image of ${image.virtualSize} bytes`);
        }
        await qemuImg.createOverlay(path, { path: base, format: image.format }, sizeBytes);
      } else {
        await qemuImg.createEmpty(path, sizeBytes);
      }
      return { ref, format: 'qcow2' };
    },

    async resizeDisk(disk: DiskVolume, sizeBytes: number) {
      const current = await driver.diskSize(disk);
      if (sizeBytes < current) throw new UcloudError('DISK_SHRINK_REFUSED', `disk is ${current} bytes; it cannot shrink to ${sizeBytes}`);
      if (sizeBytes > current) await qemuImg.resize(diskPath(disk.ref), disk.format, sizeBytes);
    },

    async deleteDisk(disk: DiskVolume) {
      await rm(diskPath(disk.ref), { force: true });
    },

    async diskSize(disk: DiskVolume) {
      return (await qemuImg.info(diskPath(disk.ref))).virtualSize;
    },

    qemuDrive(disk: DiskVolume): QemuDrive {
      return { file: diskPath(disk.ref), format: disk.format };
    },
  };
  return driver;
};
