import { access, constants, mkdir, rename, rm } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { UcloudError } from '../../common/errors.js';
import type { DiskVolume, ImageVolume, ImportSource, ProgressFn, QemuDrive, StorageDriver, StorageDriverFactory } from '../driver.js';
import * as qemuImg from '../qemu-img.js';

/**
 * Images as raw files under <path>/images, VM disks as qcow2 overlays under
 * <path>/disks backed by the image file, so a disk costs the same to make for a
 * 100 MiB or a 100 GiB image. `shared: true` declares that <path> is the same
 * mount on every host (NFS, CephFS), which makes VMs on it migratable.
 */
export const fsDriver: StorageDriverFactory = (settings) => {
  const root = settings.path;
  if (typeof root !== 'string' || !isAbsolute(root)) {
    throw new UcloudError('INVALID_CONFIG', 'the fs image store needs an absolute "path"');
  }
  const shared = settings.shared === true;
  const imagesDir = join(root, 'images');
  const disksDir = join(root, 'disks');
  const imagePath = (ref: string) => join(imagesDir, ref);
  const diskPath = (ref: string) => join(disksDir, ref);

  const driver: StorageDriver = {
    driver: 'fs',
    capabilities: { shared, cowClones: true, streamingImport: false },

    async check() {
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
      try {
        await qemuImg.convert({ path: source.path, format: source.format }, { path: tmp, format: 'raw' }, onProgress && ((f) => onProgress(f * source.virtualSize, source.virtualSize)));
        // Readers only ever see a complete image: the rename is atomic.
        await rename(tmp, imagePath(ref));
      } catch (err) {
        await rm(tmp, { force: true });
        throw err;
      }
      return { ref, format: 'raw', virtualSize: source.virtualSize };
    },

    async deleteImage(image: ImageVolume) {
      await rm(imagePath(image.ref), { force: true });
    },

    async createDisk(diskId: string, sizeBytes: number, image?: ImageVolume): Promise<DiskVolume> {
      await mkdir(disksDir, { recursive: true });
      const ref = `${diskId}.qcow2`;
      if (image) {
        if (sizeBytes < image.virtualSize) {
          throw new UcloudError('DISK_SMALLER_THAN_IMAGE', `a disk of ${sizeBytes} bytes cannot hold an image of ${image.virtualSize} bytes`);
        }
        await qemuImg.createOverlay(diskPath(ref), { path: imagePath(image.ref), format: image.format }, sizeBytes);
      } else {
        await qemuImg.createEmpty(diskPath(ref), sizeBytes);
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
