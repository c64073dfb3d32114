// The contract between the managers (which own image and VM records in etcd) and
// the storage drivers (which touch files, qemu-img and rbd). Drivers never read or
// write etcd and never learn about users; everything they need arrives as arguments.

export type DiskFormat = 'raw' | 'qcow2';

export interface StorageCapabilities {
  /** Every host sees the same volumes (needed for live migration and re-placement). */
  shared: boolean;
  /** A VM disk made from an image costs the same whatever the image size. */
  cowClones: boolean;
  /** Images can be imported by streaming, without a temporary full copy. */
  streamingImport: boolean;
}

/** An image as a driver stores it; `ref` is opaque outside the driver. */
export interface ImageVolume {
  ref: string;
  format: DiskFormat;
  virtualSize: number;
}

/** A VM disk as a driver stores it; `ref` is opaque outside the driver. */
export interface DiskVolume {
  ref: string;
  format: DiskFormat;
}

/**
 * A user's file to import, already opened and inspected by the imagescanner
 * (src/scanners/image-source.ts). Drivers hand it to qemuImg.convert, the one
 * sandboxed conversion, and never open the file by name: whatever its header
 * says, nothing but its bytes is read.
 */
export interface ImportSource {
  /** Open, read-only descriptor of the file; the caller closes it. */
  fd: number;
  /** The format inspection found; the conversion is forced to it. */
  format: DiskFormat;
  virtualSize: number;
}

export type ProgressFn = (done: number, total: number) => void;

/** What QEMU needs to open a disk; the host's command-line builder turns it into -blockdev/-drive. */
export interface QemuDrive {
  /** A value for `-drive file=…` (a path, or `rbd:pool/image:conf=…`). */
  file: string;
  format: DiskFormat;
  /** Extra `-drive` options, e.g. share-rw for disks another process also opens. */
  options?: Record<string, string>;
}

export interface StorageDriver {
  readonly driver: string;
  readonly capabilities: StorageCapabilities;
  /** Fails with a UcloudError (and a fix in its hint) when the store cannot be used. */
  check(): Promise<void>;
  importImage(name: string, source: ImportSource, onProgress?: ProgressFn): Promise<ImageVolume>;
  deleteImage(image: ImageVolume): Promise<void>;
  /** A VM disk: a copy-on-write clone of `image` grown to `sizeBytes`, or an empty disk when no image. */
  createDisk(diskId: string, sizeBytes: number, image?: ImageVolume): Promise<DiskVolume>;
  /** Grow only; a smaller size fails with DISK_SHRINK_REFUSED. */
  resizeDisk(disk: DiskVolume, sizeBytes: number): Promise<void>;
  /** Idempotent: deleting a disk that is gone succeeds. */
  deleteDisk(disk: DiskVolume): Promise<void>;
  diskSize(disk: DiskVolume): Promise<number>;
  qemuDrive(disk: DiskVolume): QemuDrive;
}

export type StorageDriverFactory = (settings: Record<string, unknown>) => StorageDriver;
