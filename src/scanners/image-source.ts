import { constants } from 'node:fs';
import { open, readlink, realpath, stat, type FileHandle } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { run } from '../common/exec.js';
import { UcloudError } from '../common/errors.js';
import type { DiskFormat } from '../storage/driver.js';

/**
 * A user's file opened for import. It is opened once, without following a
 * symlink, checked to lie inside the owner's folder, and read by qemu-img only
 * through /proc/<pid>/fd/<n>: swapping the path for a symlink afterwards cannot
 * make the system read anything else.
 */
export class ImageSource {
  private constructor(
    private readonly fh: FileHandle,
    readonly path: string,
    private readonly ino: number,
  ) {}

  static async open(ownerDir: string, name: string): Promise<ImageSource> {
    const path = join(ownerDir, name);
    let fh: FileHandle;
    try {
      fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new UcloudError('FILE_NOT_FOUND', `file "${name}" is gone`);
      throw new UcloudError('IMAGE_INVALID', `file "${name}" cannot be read as an image (${code === 'ELOOP' ? 'it is a symlink' : code})`);
    }
    try {
      const real = await readlink(`/proc/self/fd/${fh.fd}`);
      const root = await realpath(ownerDir);
      const st = await fh.stat();
      if (!real.startsWith(root + sep) || !st.isFile()) throw new UcloudError('IMAGE_INVALID', `file "${name}" is not a regular file in your folder`);
      return new ImageSource(fh, `/proc/${process.pid}/fd/${fh.fd}`, st.ino);
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  /** Checks it is a disk image ucloud can import safely; returns its format and virtual size. */
  async inspect(): Promise<{ format: DiskFormat; virtualSize: number }> {
    const { stdout } = await run('qemu-img', ['info', '--output=json', this.path], { timeoutMs: 30_000 }).catch((err: unknown) => {
      throw new UcloudError('IMAGE_INVALID', 'qemu-img cannot read the file as a disk image', { cause: err });
    });
    const info = JSON.parse(stdout) as Record<string, unknown>;
    const specific = (info['format-specific'] as { data?: Record<string, unknown> } | undefined)?.data ?? {};
    if (info['backing-filename'] || info['full-backing-filename'] || specific['data-file']) {
      throw new UcloudError('IMAGE_HAS_BACKING_FILE', 'the image refers to another file (backing file or external data file)');
    }
    if (info.encrypted) throw new UcloudError('IMAGE_INVALID', 'encrypted images are not supported');
    const format = info.format;
    const virtualSize = Number(info['virtual-size']);
    if (format === 'qcow2') return { format, virtualSize };
    if (format === 'raw') {
      // Any bytes are "raw" to qemu-img: demand what a bootable disk starts with.
      const head = Buffer.alloc(1024);
      await this.fh.read(head, 0, 1024, 0);
      const mbr = head[510] === 0x55 && head[511] === 0xaa;
      const gpt = head.subarray(512, 520).toString('latin1') === 'EFI PART';
      if ((mbr || gpt) && virtualSize % 512 === 0) return { format, virtualSize };
      throw new UcloudError('IMAGE_INVALID', 'the file is not a disk image (no qcow2 header, boot sector or partition table)');
    }
    throw new UcloudError('IMAGE_INVALID', `format "${String(format)}" is not supported (qcow2 or raw)`);
  }

  /** False when the file was deleted or replaced while it was imported: the user no longer wants that image. */
  async stillThere(): Promise<boolean> {
    const path = await readlink(this.path).catch(() => '');
    if (path.endsWith(' (deleted)')) return false;
    return stat(path).then((s) => s.ino === this.ino, () => false);
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}
