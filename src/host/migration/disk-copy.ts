// The live disk copy of a migration in mode `copy` (a VM with a disk on a
// store not every host sees), libvirt's order, as bench/migration.ts does it
// with plain QEMU:
//   destination: a NEW volume per disk (hosts may see one filesystem, so the
//     source's volume is never written over), its incoming QEMU opened on them,
//     an NBD server on its underlay address (a port of migration_ports, open
//     in the host firewall to the source only) exporting each disk writable;
//   source: an NBD client node per disk, `blockdev-mirror sync=full` into it
//     until every job is READY, then RAM with `pause-before-switchover`; at
//     `pre-switchover` (guest paused, nothing more written) the ready mirrors
//     are cancelled, which leaves each target a consistent copy, the NBD
//     clients are removed, and the migration continues.
// Each side's NBD set-up is one function (startNbdServer, addNbdTargets), so
// TLS creds are a one-line addition there.

import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UcloudError } from '../../common/errors.js';
import { withTimeout } from '../../common/timeout.js';
import type { Vm, VmDisk } from '../../model/index.js';
import type { StorageDriver } from '../../storage/driver.js';
import type { QmpEvent, QmpExecutor, QmpMonitor } from '../qemu/index.js';
import {
  blockdevAdd,
  blockdevDel,
  blockdevMirror,
  blockExportAdd,
  blockJobCancel,
  nbdServerStart,
  nbdServerStop,
  queryBlock,
  queryBlockJobs,
  type BlockJobInfo,
} from '../qemu/qmp-commands.js';
import { nbdClientTls } from './tls.js';

/** The export of disk i (drive id `disk<i>` on both sides). */
const exportName = (i: number) => `disk${i}`;
/** The source's NBD client node and mirror job of disk i. */
const nbdNode = (i: number) => `mig-nbd${i}`;
const mirrorJob = (i: number) => `mig-mirror${i}`;

/** Where the destination lists the volumes it made for an incoming copy (in the VM's run directory), so a restarted agent still deletes them. */
const COPIES_FILE = 'incoming-disks.json';
/** Names the migration whose incoming QEMU this host paused (mode copy) until the record places the VM here: the evidence arrived() resumes on. */
const PAUSE_FILE = 'copy-paused';

/** The top block node of each of the VM's `n` disks (drives disk0…, the command line's ids; the cidata seed comes after them). */
export async function diskNodes(qmp: QmpExecutor, n: number): Promise<string[]> {
  const blocks = await queryBlock(qmp);
  return Array.from({ length: n }, (_, i) => {
    const node = blocks.find((b) => b.device === `disk${i}`)?.inserted?.['node-name'];
    if (!node) throw new UcloudError('MIGRATION_FAILED', `QEMU has no drive disk${i} to copy`);
    return node;
  });
}

// ---- destination ----

/**
 * Makes a new, empty, standalone volume for each of the VM's disks, of the
 * same size, under a ref of its own (`<vm>-<disk>-m<migration>`), listing each
 * in the run directory as soon as it exists. An OS disk made from an image
 * becomes a full copy: `sync=full` writes the image's blocks too, and the
 * copy names no backing image (VmDisk.standalone), so it needs nothing on the
 * destination but itself.
 */
export async function makeDiskCopies(vm: Pick<Vm, 'id' | 'disks'>, migrationId: string, runDir: string, driverFor: (store: string) => Promise<StorageDriver>): Promise<VmDisk[]> {
  const tag = migrationId.replace(/-/g, '').slice(0, 8);
  await checkRoom(vm.disks, driverFor);
  const copies: VmDisk[] = [];
  for (const d of vm.disks) {
    const volume = await (await driverFor(d.store)).createDisk(`${vm.id}-${d.name}-m${tag}`, d.sizeBytes);
    copies.push({ name: d.name, store: d.store, ref: volume.ref, format: volume.format, sizeBytes: d.sizeBytes, standalone: true });
    await writeCopies(runDir, copies);
  }
  return copies;
}

/** Each store the copies go to has room for all of them at full size (sync=full may write every block): else MIGRATION_STORE_FULL, before anything is made. */
async function checkRoom(disks: readonly VmDisk[], driverFor: (store: string) => Promise<StorageDriver>): Promise<void> {
  const need = new Map<string, number>();
  for (const d of disks) need.set(d.store, (need.get(d.store) ?? 0) + d.sizeBytes);
  for (const [store, bytes] of need) {
    const free = await (await driverFor(store)).freeBytes?.();
    if (free !== undefined && free < bytes) {
      throw new UcloudError('MIGRATION_STORE_FULL', `store ${store} on the destination has ${free} bytes free, the disk copies need ${bytes}`, { details: { store, freeBytes: free, neededBytes: bytes } });
    }
  }
}

/** Mode copy: records that this host paused the incoming QEMU of migration `migrationId` (see PAUSE_FILE). */
export async function markCopyPause(runDir: string, migrationId: string): Promise<void> {
  await mkdir(runDir, { recursive: true, mode: 0o700 });
  await writeFile(join(runDir, PAUSE_FILE), migrationId);
}

/** The migration whose incoming QEMU this host paused and has not resumed yet (none: undefined). */
export async function copyPauseOf(runDir: string): Promise<string | undefined> {
  return readFile(join(runDir, PAUSE_FILE), 'utf8').then(
    (s) => s.trim() || undefined,
    () => undefined,
  );
}

export async function clearCopyPause(runDir: string): Promise<void> {
  await rm(join(runDir, PAUSE_FILE), { force: true });
}

async function writeCopies(runDir: string, copies: VmDisk[]): Promise<void> {
  await mkdir(runDir, { recursive: true, mode: 0o700 });
  await writeFile(join(runDir, COPIES_FILE), JSON.stringify(copies));
}

/** The volumes this host made for an incoming copy of the VM whose run directory is `runDir` (none: []). */
export async function readDiskCopies(runDir: string): Promise<VmDisk[]> {
  try {
    const list = JSON.parse(await readFile(join(runDir, COPIES_FILE), 'utf8')) as unknown;
    return Array.isArray(list) ? (list as VmDisk[]) : [];
  } catch {
    return [];
  }
}

/** The destination's NBD server, on `address`:`port` (the one place it starts); `tlsCreds`: migration TLS's server creds (tls.ts), TLS demanded of the source. */
export async function startNbdServer(qmp: QmpExecutor, address: string, port: number, tlsCreds?: string): Promise<void> {
  await nbdServerStart(qmp, address, String(port), tlsCreds);
}

/** Exports each of the incoming QEMU's `n` disks, writable, as disk0…; QEMU activates the (incoming, inactive) node for it. */
export async function exportDisks(qmp: QmpExecutor, n: number): Promise<void> {
  const nodes = await diskNodes(qmp, n);
  for (const [i, node] of nodes.entries()) await blockExportAdd(qmp, `mig-export${i}`, node, exportName(i), true);
}

/** Stops the NBD server (and its exports); one that is not running is not an error. */
export async function stopNbdServer(qmp: QmpExecutor): Promise<void> {
  try {
    await nbdServerStop(qmp);
  } catch (err) {
    if (!/not running/i.test(err instanceof Error ? err.message : String(err))) throw err;
  }
}

// ---- source ----

/** An NBD client node per disk on the destination's exports (the one place the source connects); `tlsCreds`: migration TLS's client creds (tls.ts). */
export async function addNbdTargets(qmp: QmpExecutor, address: string, port: number, n: number, tlsCreds?: string): Promise<void> {
  for (let i = 0; i < n; i++) {
    await blockdevAdd(qmp, { driver: 'nbd', 'node-name': nbdNode(i), server: { type: 'inet', host: address, port: String(port) }, export: exportName(i), ...nbdClientTls(tlsCreds, address) });
  }
}

/** Starts a full mirror of each disk into its NBD node; `speed` bytes a second each (0: no limit). */
export async function startMirrors(qmp: QmpExecutor, n: number, speed: number): Promise<void> {
  const nodes = await diskNodes(qmp, n);
  for (const [i, node] of nodes.entries()) await blockdevMirror(qmp, mirrorJob(i), node, nbdNode(i), 'full', speed || undefined);
}

export interface CopyProgress {
  /** Bytes of the disks mirrored so far, of `total`. */
  bytes: number;
  total: number;
  ready: boolean;
}

/** Where the mirror jobs are; a job that is gone before it was ready (its target failed) throws. */
export async function copyProgress(qmp: QmpExecutor, n: number): Promise<CopyProgress> {
  const jobs = await queryBlockJobs(qmp);
  let bytes = 0;
  let total = 0;
  let ready = true;
  for (let i = 0; i < n; i++) {
    const job = jobs.find((j) => j.device === mirrorJob(i));
    if (!job || job.status === 'concluded' || job.status === 'aborting') {
      throw new UcloudError('MIGRATION_FAILED', `the copy of disk${i} stopped before it was in step${job?.error ? `: ${job.error}` : ''}`);
    }
    bytes += job.offset;
    total += job.len;
    ready &&= job.ready;
  }
  return { bytes, total, ready };
}

/**
 * With the guest paused (pre-switchover): cancels each ready mirror, which
 * QEMU completes leaving the target a consistent copy of the source at that
 * moment, then removes the NBD clients so nothing writes the destination's
 * disks once it runs. Returns the bytes copied.
 */
export async function finishMirrors(mon: QmpMonitor, n: number): Promise<number> {
  const jobs = Array.from({ length: n }, (_, i) => mirrorJob(i));
  const left = new Set(jobs);
  const done = new Map<string, { len?: number; error?: string }>();
  const all = new Promise<void>((resolve) => {
    const on = (e: QmpEvent) => {
      const dev = String(e.data?.device);
      if (e.event !== 'BLOCK_JOB_COMPLETED' || !left.has(dev)) return;
      left.delete(dev);
      done.set(dev, { len: Number(e.data?.len), ...(e.data?.error ? { error: String(e.data.error) } : {}) });
      if (left.size === 0) {
        mon.off('event', on);
        resolve();
      }
    };
    mon.on('event', on);
  });
  for (const job of jobs) await blockJobCancel(mon, job);
  await withTimeout(all, 60_000, () => new UcloudError('MIGRATION_FAILED', 'the disk copies did not finish'));
  for (const [job, r] of done) if (r.error) throw new UcloudError('MIGRATION_FAILED', `the copy ${job} ended with an error: ${r.error}`);
  for (let i = 0; i < n; i++) await blockdevDel(mon, nbdNode(i));
  return [...done.values()].reduce((s, r) => s + (r.len ?? 0), 0);
}

/**
 * Undoes the source's side of a copy that will not switch over: force-cancels
 * the mirror jobs still there, waits for them to go, removes the NBD client
 * nodes. Best effort (each step may find nothing to undo); the guest keeps
 * running on its own disks throughout.
 */
export async function abandonCopy(qmp: QmpExecutor, n: number): Promise<void> {
  const ours = (jobs: BlockJobInfo[]) => jobs.filter((j) => j.device.startsWith('mig-mirror'));
  for (const job of ours(await queryBlockJobs(qmp).catch(() => []))) await blockJobCancel(qmp, job.device, true).catch(() => undefined);
  const deadline = Date.now() + 20_000;
  while (ours(await queryBlockJobs(qmp).catch(() => [])).some((j) => j.status !== 'concluded') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  for (let i = 0; i < n; i++) await blockdevDel(qmp, nbdNode(i)).catch(() => undefined);
}


