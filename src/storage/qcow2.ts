import type { FileHandle } from 'node:fs/promises';

// A reader of the few qcow2 header fields ucloud decides on, in Node: the answer
// comes from the bytes alone, never from files the header names (qemu-img info
// would open a data file, and probe a backing file's format). Used for a user's
// upload (src/scanners/image-source.ts) and for a VM's disk before root opens it
// (drivers/fs.ts). Layout: docs/interop/qcow2.txt in QEMU's sources.

export const QCOW2_MAGIC = 0x514649fb; // "QFI\xfb"

/** Incompatible-feature bits (header offset 72, version 3). */
export const QCOW2_INCOMPAT = {
  dirty: 1n << 0n,
  corrupt: 1n << 1n,
  dataFile: 1n << 2n,
  compression: 1n << 3n,
  extendedL2: 1n << 4n,
} as const;
/** Every bit QEMU 7.2 knows; any other one means a format ucloud has not checked. */
export const QCOW2_KNOWN_INCOMPAT = Object.values(QCOW2_INCOMPAT).reduce((a, b) => a | b, 0n);

const EXT_END = 0;
const EXT_BACKING_FORMAT = 0xe2792aca;
/** QEMU refuses longer backing file names. */
const BACKING_NAME_MAX = 1023;
/** Header, extensions and the backing file name all lie in the first cluster; clusters are at most 2 MiB. */
const MAX_CLUSTER_BITS = 21;

/** The fixed header fields (the first 72 bytes of v2, 104 of v3). */
export interface Qcow2Fixed {
  version: 2 | 3;
  clusterBits: number;
  /** 0: no backing file. */
  backingFileOffset: number;
  backingFileSize: number;
  /** Bytes; a bigint as stored, which may exceed Number's safe range. */
  virtualSize: bigint;
  cryptMethod: number;
  /** Incompatible features (0 for v2). */
  incompatible: bigint;
  /** Where the header extensions start. */
  headerLength: number;
}

export interface Qcow2Header extends Qcow2Fixed {
  /** The backing file name as stored (a path or a `json:` spec), if any. */
  backingFile?: string;
  /** The backing format extension, if any. */
  backingFormat?: string;
}

/**
 * The fixed fields, or undefined when `head` is no qcow2 of version 2 or 3 (or
 * too short to hold its header).
 */
export function parseQcow2Fixed(head: Buffer): Qcow2Fixed | undefined {
  if (head.length < 72 || head.readUInt32BE(0) !== QCOW2_MAGIC) return undefined;
  const version = head.readUInt32BE(4);
  if (version !== 2 && version !== 3) return undefined;
  if (version === 3 && (head.length < 104 || head.readUInt32BE(100) < 104)) return undefined;
  return {
    version,
    backingFileOffset: Number(head.readBigUInt64BE(8)),
    backingFileSize: head.readUInt32BE(16),
    clusterBits: head.readUInt32BE(20),
    virtualSize: head.readBigUInt64BE(24),
    cryptMethod: head.readUInt32BE(32),
    incompatible: version === 3 ? head.readBigUInt64BE(72) : 0n,
    headerLength: version === 3 ? head.readUInt32BE(100) : 72,
  };
}

/**
 * The whole header of an open file: fixed fields, backing file name and backing
 * format, read from the first cluster as QEMU reads them. Undefined when the file
 * is no qcow2 (v2/v3), or names a backing file or extensions QEMU itself would
 * refuse to open (the caller treats that as "not what was made").
 */
export async function readQcow2Header(fh: FileHandle): Promise<Qcow2Header | undefined> {
  const first = Buffer.alloc(104);
  const { bytesRead } = await fh.read(first, 0, first.length, 0);
  const fixed = parseQcow2Fixed(first.subarray(0, bytesRead));
  if (!fixed || fixed.clusterBits < 9 || fixed.clusterBits > MAX_CLUSTER_BITS) return undefined;
  const cluster = Buffer.alloc(2 ** fixed.clusterBits);
  const len = (await fh.read(cluster, 0, cluster.length, 0)).bytesRead;
  const head = cluster.subarray(0, len);
  const out: Qcow2Header = { ...fixed };

  if (fixed.backingFileOffset !== 0) {
    const end = fixed.backingFileOffset + fixed.backingFileSize;
    if (fixed.backingFileSize > BACKING_NAME_MAX || end > head.length) return undefined;
    out.backingFile = head.subarray(fixed.backingFileOffset, end).toString('utf8');
  }
  // Extensions: (type u32, length u32, data padded to 8 bytes) from the end of
  // the fixed header until type 0 or, as QEMU stops, the backing file name.
  const end = fixed.backingFileOffset || head.length;
  for (let at = fixed.headerLength; at < end; ) {
    if (at + 8 > head.length) return undefined;
    const type = head.readUInt32BE(at);
    const size = head.readUInt32BE(at + 4);
    at += 8;
    if (type === EXT_END) break;
    if (size > end - at) return undefined;
    if (type === EXT_BACKING_FORMAT) out.backingFormat = head.subarray(at, at + size).toString('utf8');
    at += Math.ceil(size / 8) * 8;
  }
  return out;
}
