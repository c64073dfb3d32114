import { constants, open } from 'node:fs/promises';
import { UcloudError } from '../../common/errors.js';
import type { DiskFormat } from '../driver.js';
import { QCOW2_INCOMPAT, QCOW2_KNOWN_INCOMPAT, readQcow2Header } from '../qcow2.js';

// The fs driver's check of a VM disk before root opens it (QEMU at start, qemu-img
// resize). A running VM's QEMU holds its qcow2 open read-write, so an escaped one
// can rewrite the header: point the backing file at /dev/sda or another VM's disk,
// or add an external data file, for root to open on the next start. The disk can
// change only while its QEMU runs (it is root's, mode 600, in a root-only
// directory), and it is checked once that QEMU is gone: nothing changes it between
// this check and the next open.

/** Disks and images: root's alone. QEMU opens them as root, before it drops to the VM's uid. */
export const VOLUME_MODE = 0o600;
export const STORE_DIR_MODE = 0o700;

function tampered(path: string, why: string, details: Record<string, unknown> = {}): UcloudError {
  return new UcloudError('DISK_TAMPERED', `disk ${path} ${why}`, { details: { disk: path, ...details } });
}

/**
 * Opens the disk without following a symlink, makes it root's alone again (a
 * disk made before disks were root's was the VM uid's), and for a qcow2 reads its
 * header: it must name no external data file, no incompatible feature QEMU 7.2
 * does not know, no encryption, and as backing file either none or exactly
 * `backing` (path and format) — the image the disk was made from. Returns the
 * virtual size, read from the header (no qemu-img, which would open a data file).
 */
export async function inspectDisk(path: string, format: DiskFormat, backing?: { file: string; format: DiskFormat }): Promise<number> {
  const fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ELOOP') throw tampered(path, 'is a symbolic link');
    if (err.code === 'ENOENT') throw new UcloudError('STORAGE_FAILED', `disk ${path} does not exist`, { details: { disk: path } });
    throw err;
  });
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw tampered(path, 'is not a regular file');
    if (st.uid !== 0 || st.gid !== 0) await fh.chown(0, 0);
    if ((st.mode & 0o7777) !== VOLUME_MODE) await fh.chmod(VOLUME_MODE);
    // fs disks are qcow2; a raw one would have no header for QEMU to follow.
    if (format !== 'qcow2') return st.size;
    const h = await readQcow2Header(fh);
    if (!h) throw tampered(path, 'has no qcow2 header QEMU would accept');
    if (h.incompatible & QCOW2_INCOMPAT.dataFile) throw tampered(path, 'names an external data file');
    if (h.incompatible & ~QCOW2_KNOWN_INCOMPAT) throw tampered(path, 'declares incompatible features ucloud does not know', { incompatible: `0x${h.incompatible.toString(16)}` });
    if (h.cryptMethod !== 0) throw tampered(path, 'is encrypted');
    if (h.backingFile !== undefined && (h.backingFile !== backing?.file || h.backingFormat !== backing?.format)) {
      throw tampered(path, `names backing file ${JSON.stringify(h.backingFile)} (format ${JSON.stringify(h.backingFormat ?? 'unset')}), not the image it was made from`, {
        backingFile: h.backingFile,
        backingFormat: h.backingFormat,
        expected: backing ?? null,
      });
    }
    const size = Number(h.virtualSize);
    if (!Number.isSafeInteger(size) || size <= 0) throw tampered(path, `declares no usable size (${h.virtualSize})`);
    return size;
  } finally {
    await fh.close();
  }
}
