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
  /**
   * A dead host's access to a disk can be revoked before the disk is used
   * elsewhere (fenceDisk): HA failover does it first. Without it, failover
   * relies on the host's own fencing alone (docs/architecture.md, "HA and fencing").
   */
  fencing: boolean;
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
  /**
   * The image the disk was made from (a VM's OS disk), passed back on every use:
   * the driver checks the disk still refers to exactly that image (verifyDisk)
   * and tells QEMU to open that image, whatever the disk's metadata says.
   */
  base?: ImageVolume;
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
  /**
   * A qcow2's backing image, given to QEMU explicitly so that it never takes one
   * from the disk's header (which the VM's QEMU can rewrite). A host file.
   */
  backing?: { file: string; format: DiskFormat };
}

export interface StorageDriver {
  readonly driver: string;
  readonly capabilities: StorageCapabilities;
  /** Fails with a UcloudError (and a fix in its hint) when the store cannot be used. */
  check(): Promise<void>;
  importImage(name: string, source: ImportSource, onProgress?: ProgressFn): Promise<ImageVolume>;
  /**
   * Bytes the store can still take, for drivers that can tell (fs: statfs).
   * An import declaring a larger virtual size is refused before it starts, so
   * a small upload whose header claims terabytes cannot fill the store.
   */
  freeBytes?(): Promise<number>;
  deleteImage(image: ImageVolume): Promise<void>;
  /** A VM disk: a copy-on-write clone of `image` grown to `sizeBytes`, or an empty disk when no image. */
  createDisk(diskId: string, sizeBytes: number, image?: ImageVolume): Promise<DiskVolume>;
  /** Grow only; a smaller size fails with DISK_SHRINK_REFUSED. */
  resizeDisk(disk: DiskVolume, sizeBytes: number): Promise<void>;
  /** Idempotent: deleting a disk that is gone succeeds. */
  deleteDisk(disk: DiskVolume): Promise<void>;
  diskSize(disk: DiskVolume): Promise<number>;
  /**
   * Called as root before QEMU opens the disk (every start): a running VM's QEMU
   * holds its disk open read-write and, escaped, can rewrite whatever metadata
   * the disk carries, for root to follow on the next open. Fails with
   * DISK_TAMPERED when the disk no longer is what createDisk made (see each driver).
   */
  verifyDisk(disk: DiskVolume): Promise<void>;
  qemuDrive(disk: DiskVolume): QemuDrive;
  /**
   * Drivers with capabilities.fencing: revokes the access of every client that has
   * `disk` open or holds its lock, so that none can write it again, and returns
   * them. Called before the disk's VM starts on another host; nothing else may
   * have it open then.
   */
  fenceDisk?(disk: DiskVolume): Promise<string[]>;
  /** Drivers with capabilities.fencing: the clients fenceDisk would revoke now (read only). */
  diskClients?(disk: DiskVolume): Promise<string[]>;
}

export type StorageDriverFactory = (settings: Record<string, unknown>) => StorageDriver;
