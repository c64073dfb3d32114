import { readlink, realpath, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { UcloudError } from '../common/errors.js';
import { VM_LIMITS } from '../model/index.js';
import type { DiskFormat, ImageVolume, ProgressFn, StorageDriver } from '../storage/driver.js';
import { parseQcow2Fixed, QCOW2_INCOMPAT, QCOW2_MAGIC } from '../storage/qcow2.js';
import { openUserFile } from './user-file.js';

/**
 * A user's file opened for import: once, through openUserFile (no symlink, one
 * link, really inside the owner's folder). Inspection reads its header from
 * that descriptor; the conversion (qemuImg.convert, sandboxed) gets the same
 * descriptor, so nothing the user does to the path afterwards changes what is read.
 */
export class ImageSource {
  private constructor(
    private readonly fh: FileHandle,
    private readonly ino: number,
  ) {}

  /** The open descriptor the conversion reads. */
  get fd(): number {
    return this.fh.fd;
  }

  static async open(ownerDir: string, name: string): Promise<ImageSource> {
    const root = await realpath(ownerDir).catch(() => {
      throw new UcloudError('FILE_NOT_FOUND', `file ${JSON.stringify(name)} is gone (no folder ${ownerDir})`);
    });
    const { fh, stat: st } = await openUserFile(join(root, name), name);
    return new ImageSource(fh, st.ino);
  }

  /**
   * Checks it is a disk image ucloud can import; returns its format and virtual size.
   *
   * It reads the qcow2 header itself (a few fixed fields) instead of asking
   * `qemu-img info`: no process to start, and the answer cannot depend on files
   * the header names. A qcow2 naming a backing file (a path or a `json:` spec)
   * or an external data file is refused (IMAGE_HAS_BACKING_FILE); so is an
   * encrypted one. This is for the user's error message only: the conversion is
   * safe on its own, whatever the header says by then (see qemuImg.convert).
   */
  async inspect(): Promise<{ format: DiskFormat; virtualSize: number }> {
    const st = await this.fh.stat();
    const head = Buffer.alloc(1024);
    const { bytesRead } = await this.fh.read(head, 0, head.length, 0);
    if (bytesRead >= 4 && head.readUInt32BE(0) === QCOW2_MAGIC) return { format: 'qcow2', virtualSize: qcow2Size(head, bytesRead) };
    // Any bytes are "raw": demand what a bootable disk starts with.
    const mbr = head[510] === 0x55 && head[511] === 0xaa;
    const gpt = head.subarray(512, 520).toString('latin1') === 'EFI PART';
    if ((mbr || gpt) && st.size > 0 && st.size % 512 === 0) return { format: 'raw', virtualSize: st.size };
    throw new UcloudError('IMAGE_INVALID', 'the file is not a disk image (no qcow2 header, boot sector or partition table)');
  }

  /** False when the file was deleted or replaced while it was imported: the user no longer wants that image. */
  async stillThere(): Promise<boolean> {
    const path = await readlink(`/proc/self/fd/${this.fh.fd}`).catch(() => '');
    if (path.endsWith(' (deleted)')) return false;
    return stat(path).then((s) => s.ino === this.ino, () => false);
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

/** The virtual size a qcow2 header declares, or the reason it cannot be imported. */
function qcow2Size(h: Buffer, len: number): number {
  const q = parseQcow2Fixed(h.subarray(0, len));
  if (!q) throw new UcloudError('IMAGE_INVALID', `unreadable qcow2 header (version ${len >= 8 ? h.readUInt32BE(4) : 0}; versions 2 and 3 are supported)`);
  if (q.backingFileOffset !== 0) throw new UcloudError('IMAGE_HAS_BACKING_FILE', 'the image refers to another file (a backing file)');
  if ((q.incompatible & QCOW2_INCOMPAT.dataFile) !== 0n) {
    throw new UcloudError('IMAGE_HAS_BACKING_FILE', 'the image refers to another file (an external data file)');
  }
  if (q.cryptMethod !== 0) throw new UcloudError('IMAGE_INVALID', 'encrypted images are not supported');
  const size = Number(q.virtualSize);
  if (!Number.isSafeInteger(size) || size <= 0 || size % 512 !== 0) throw new UcloudError('IMAGE_INVALID', `the image declares no usable virtual size (${size})`);
  return size;
}

/**
 * A few KiB of qcow2 can declare any virtual size, and the import writes that
 * much: refuse what no VM disk could be (VM_LIMITS.maxDisk) and what the store
 * has no room for, where its driver can tell. The conversion itself is capped
 * at the inspected size (qemuImg.convert), so a header rewritten later cannot
 * write more.
 */
async function checkFits(virtualSize: number, driver: StorageDriver): Promise<void> {
  if (virtualSize > VM_LIMITS.maxDisk) {
    throw new UcloudError('IMAGE_TOO_LARGE', `the image's virtual size (${virtualSize} bytes) is larger than any VM disk may be (${VM_LIMITS.maxDisk} bytes)`);
  }
  const free = await driver.freeBytes?.();
  if (free !== undefined && virtualSize > free) {
    throw new UcloudError('IMAGE_TOO_LARGE', `the image's virtual size (${virtualSize} bytes) is more than its store has free (${free} bytes)`);
  }
}

/** TEST ONLY (never set by a daemon): runs between inspection and conversion, so a test can rewrite the file in that window. */
export interface ImportHooks {
  afterInspect?: () => Promise<void>;
}

/**
 * The one import path: open the user's file, inspect it, convert it into the
 * store through the driver (which hands the descriptor to the sandboxed
 * conversion), and drop the result if the file was deleted or replaced meanwhile.
 */
export async function importUserFile(
  file: { ownerDir: string; name: string },
  driver: StorageDriver,
  volumeName: string,
  onProgress?: ProgressFn,
  hooks: ImportHooks = {},
): Promise<ImageVolume> {
  const source = await ImageSource.open(file.ownerDir, file.name);
  try {
    const { format, virtualSize } = await source.inspect();
    await checkFits(virtualSize, driver);
    await hooks.afterInspect?.();
    const volume = await driver.importImage(volumeName, { fd: source.fd, format, virtualSize }, onProgress);
    if (!(await source.stillThere())) {
      await driver.deleteImage(volume);
      throw new UcloudError('FILE_NOT_FOUND', `the file ${JSON.stringify(file.name)} was deleted or replaced during the import`);
    }
    return volume;
  } finally {
    await source.close();
  }
}
