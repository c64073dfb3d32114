// How a VM's stock cloud-init finds its NoCloud seed (meta-data, user-data,
// vendor-data), with nothing of ours in the image:
//   - a VM with a network: the SMBIOS system serial
//     `ds=nocloud-net;s=http://[<first NIC's prefix>::1]/nocloud/`, the metadata
//     server on that network (ds-identify reads the serial from DMI; cloud-init
//     22.4 needs the `-net` form, plain `nocloud` ends in DataSourceNone);
//   - a VM without one: a small read-only vfat disk labelled CIDATA holding the
//     three files, built by the agent at each start (root 0600 in the VM's
//     root-only run directory, removed with it).
// Both are functions of the VM record and the configuration only, so the two
// ends of a migration build the same machine.

import { open, rename, rm, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../common/exec.js';
import { UcloudError } from '../common/errors.js';
import type { QemuDrive } from '../storage/driver.js';
import { addressInPrefix, parsePrefix64 } from './network/addr.js';

/** What a NoCloud seed holds (src/managers/cloud-seed.ts makes it). */
export interface NoCloudSeed {
  metaData: string;
  userData: string;
  vendorData: string;
}

/** The SMBIOS type 1 serial that points cloud-init at the metadata server of the network `prefix`. */
export function nocloudNetSerial(prefix: string, metadataPort = 80): string {
  const host = `[${addressInPrefix(parsePrefix64(prefix), 1n)}]${metadataPort === 80 ? '' : `:${metadataPort}`}`;
  return `ds=nocloud-net;s=http://${host}/nocloud/`;
}

export const CIDATA_FILE = 'cidata.img';
const KiB = 1024;

/** Room for the files and FAT's own tables; at least 1 MiB (small FAT12 volumes confuse some tools). */
function cidataBytes(contentBytes: number): number {
  const want = Math.max(1024 * KiB, 2 * contentBytes + 256 * KiB);
  return Math.ceil(want / (64 * KiB)) * 64 * KiB;
}

/**
 * Builds `<dir>/cidata.img` afresh from `seed` and returns the drive QEMU
 * attaches (raw, read-only: the guest cannot change what it boots from next
 * time, and there is no header for anyone to rewrite). `dir` is the VM's
 * root-only run directory; the file is root's, mode 600, like every disk.
 */
export async function buildCidata(dir: string, seed: NoCloudSeed): Promise<QemuDrive> {
  const path = join(dir, CIDATA_FILE);
  const tmp = `${path}.tmp`;
  const files = join(dir, 'cidata.d');
  const content = { 'meta-data': seed.metaData, 'user-data': seed.userData, 'vendor-data': seed.vendorData };
  const total = Object.values(content).reduce((n, s) => n + Buffer.byteLength(s), 0);
  await rm(tmp, { force: true });
  await rm(files, { recursive: true, force: true });
  try {
    await mkdir(files, { mode: 0o700 });
    for (const [name, text] of Object.entries(content)) await writeFile(join(files, name), text, { mode: 0o600 });
    // Made here with mode 600 before mkfs writes into it: never readable by others, not even for a moment.
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.truncate(cidataBytes(total));
    } finally {
      await fh.close();
    }
    await run('mkfs.vfat', ['-n', 'CIDATA', tmp], { timeoutMs: 30_000 });
    await run('mcopy', ['-i', tmp, ...Object.keys(content).map((n) => join(files, n)), '::/'], { timeoutMs: 30_000 });
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw new UcloudError('COMMAND_FAILED', `cannot build the cidata disk in ${dir}: ${(err as Error).message}`, {
      hint: 'the host needs dosfstools and mtools (apt-get install dosfstools mtools)',
      cause: err,
    });
  } finally {
    await rm(files, { recursive: true, force: true });
  }
  // cache=writethrough: no O_DIRECT, which tmpfs (/run) refuses.
  return { file: path, format: 'raw', options: { readonly: 'on', cache: 'writethrough' } };
}

/** Removes a VM's cidata disk (it holds user-data); missing is fine. */
export async function removeCidata(dir: string): Promise<void> {
  await rm(join(dir, CIDATA_FILE), { force: true });
}
