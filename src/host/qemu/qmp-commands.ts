// Typed wrappers for the QMP commands ucloud uses. Result types keep QEMU's
// own field names (kebab-case included) so they can be checked against the QMP
// reference; only the fields we read are typed.

import { UcloudError } from '../../common/errors.js';
import type { QmpExecuteOptions, QmpExecutor } from './qmp-monitor.js';

/** QEMU 7.2's RunState; open-ended so a newer QEMU's states still type-check. */
export type QemuRunState =
  | 'debug'
  | 'finish-migrate'
  | 'guest-panicked'
  | 'inmigrate'
  | 'internal-error'
  | 'io-error'
  | 'paused'
  | 'postmigrate'
  | 'prelaunch'
  | 'restore-vm'
  | 'running'
  | 'save-vm'
  | 'shutdown'
  | 'suspended'
  | 'watchdog'
  | 'colo'
  | (string & {});

export interface StatusInfo {
  status: QemuRunState;
  running: boolean;
}

export type MigrationStatus =
  | 'none'
  | 'setup'
  | 'cancelling'
  | 'cancelled'
  | 'active'
  | 'postcopy-active'
  | 'postcopy-paused'
  | 'postcopy-recover'
  | 'completed'
  | 'failed'
  | 'colo'
  | 'pre-switchover'
  | 'device'
  | 'wait-unplug'
  | (string & {});

export interface MigrationRamStats {
  transferred: number;
  remaining: number;
  total: number;
  duplicate: number;
  normal: number;
  'normal-bytes': number;
  'dirty-sync-count': number;
  'dirty-pages-rate'?: number;
  'page-size': number;
  mbps: number;
  'pages-per-second'?: number;
  /** Sent while the guest was paused for the switch-over (QEMU ≥ 7.0). */
  'downtime-bytes'?: number;
  'precopy-bytes'?: number;
}

/**
 * Note (measured): query-migrate can say `completed` with zero times before
 * the source reaches the `postmigrate` run state; wait for that state before
 * reading the figures.
 */
export interface MigrationInfo {
  /** Absent before any migration was started. */
  status?: MigrationStatus;
  'total-time'?: number;
  'expected-downtime'?: number;
  downtime?: number;
  'setup-time'?: number;
  ram?: MigrationRamStats;
  'error-desc'?: string;
  /** On the destination after migrate-incoming: the address(es) QEMU listens on (port 0 resolved). */
  'socket-address'?: { type: string; host?: string; port?: string }[];
}

/** The subset of migrate-set-parameters ucloud sets. */
export interface MigrationParameters {
  /** Milliseconds the guest may be paused for the switch-over. */
  'downtime-limit'?: number;
  /** Bytes a second. */
  'max-bandwidth'?: number;
  /** Id of a tls-creds-x509 object: the stream runs over TLS with it; '' turns TLS off (src/host/migration/tls.ts). */
  'tls-creds'?: string;
  /** On the source: the name the destination's certificate must carry (default: the URI's host). */
  'tls-hostname'?: string;
}

export type MigrationCapability =
  | 'xbzrle'
  | 'rdma-pin-all'
  | 'auto-converge'
  | 'zero-blocks'
  | 'compress'
  | 'events'
  | 'postcopy-ram'
  | 'x-colo'
  | 'release-ram'
  | 'block'
  | 'return-path'
  | 'pause-before-switchover'
  | 'multifd'
  | 'dirty-bitmaps'
  | 'postcopy-blocktime'
  | 'late-block-activate'
  | 'x-ignore-shared'
  | 'validate-uuid'
  | 'background-snapshot'
  | 'zero-copy-send'
  | 'postcopy-preempt';

export interface BlockImageInfo {
  filename: string;
  format: string;
  'virtual-size': number;
  'actual-size'?: number;
}

export interface BlockDeviceInfo {
  file: string;
  'node-name': string;
  ro: boolean;
  drv: string;
  image: BlockImageInfo;
}

export interface BlockInfo {
  /** The drive's id (`id=` of -drive); the command-line builder names them disk0, disk1, … */
  device: string;
  qdev?: string;
  locked: boolean;
  removable: boolean;
  /** Absent for an empty removable drive. */
  inserted?: BlockDeviceInfo;
  'io-status'?: 'ok' | 'failed' | 'nospace';
}

// Free functions over an executor rather than methods on the monitor: callers
// import only what they use, and tests can pass a fake executor.

export function queryStatus(qmp: QmpExecutor, opts?: QmpExecuteOptions): Promise<StatusInfo> {
  return qmp.execute<StatusInfo>('query-status', undefined, opts);
}

/** Presses the ACPI power button; the guest decides whether and when to stop. */
export async function systemPowerdown(qmp: QmpExecutor): Promise<void> {
  await qmp.execute('system_powerdown');
}

/** Resets the machine at once, as the reset button would (QEMU sends RESET). */
export async function systemReset(qmp: QmpExecutor): Promise<void> {
  await qmp.execute('system_reset');
}

/**
 * What QEMU does when the guest powers off: `poweroff` exits (how ucloud runs
 * every QEMU), `pause` keeps the process, stopped in state `shutdown` until a
 * reset (a reboot's ACPI step). QEMU 6.0 and later.
 */
export async function setShutdownAction(qmp: QmpExecutor, action: 'poweroff' | 'pause'): Promise<void> {
  await qmp.execute('set-action', { shutdown: action });
}

/**
 * Ends QEMU at once (no guest shutdown). QEMU may close the socket before
 * its reply arrives; since exiting is what was asked, that counts as done.
 */
export async function quit(qmp: QmpExecutor): Promise<void> {
  try {
    await qmp.execute('quit');
  } catch (err) {
    if (!(err instanceof UcloudError && err.code === 'QMP_DISCONNECTED')) throw err;
  }
}

export async function stop(qmp: QmpExecutor): Promise<void> {
  await qmp.execute('stop');
}

export async function cont(qmp: QmpExecutor): Promise<void> {
  await qmp.execute('cont');
}

export function queryMigrate(qmp: QmpExecutor): Promise<MigrationInfo> {
  return qmp.execute<MigrationInfo>('query-migrate');
}

/** Starts an outgoing migration and returns at once; follow it with queryMigrate() or MIGRATION events. */
export async function migrate(qmp: QmpExecutor, uri: string): Promise<void> {
  await qmp.execute('migrate', { uri });
}

/** Capabilities must be set on both ends before the migration starts. */
export async function migrateSetCapabilities(qmp: QmpExecutor, caps: Partial<Record<MigrationCapability, boolean>>): Promise<void> {
  const capabilities = Object.entries(caps).map(([capability, state]) => ({ capability, state }));
  await qmp.execute('migrate-set-capabilities', { capabilities });
}

export async function migrateSetParameters(qmp: QmpExecutor, params: MigrationParameters): Promise<void> {
  await qmp.execute('migrate-set-parameters', { ...params });
}

/** Asks an outgoing migration to stop; the MIGRATION event then says `cancelled`. */
export async function migrateCancel(qmp: QmpExecutor): Promise<void> {
  await qmp.execute('migrate_cancel');
}

/** Only for a QEMU started with `-incoming defer`. */
export async function migrateIncoming(qmp: QmpExecutor, uri: string): Promise<void> {
  await qmp.execute('migrate-incoming', { uri });
}

export function queryBlock(qmp: QmpExecutor): Promise<BlockInfo[]> {
  return qmp.execute<BlockInfo[]>('query-block');
}

/**
 * Grows a disk under a running guest. QEMU looks the name up as a drive id
 * first and as a node name second, so either works.
 */
export async function blockResize(qmp: QmpExecutor, nodeOrDevice: string, bytes: number): Promise<void> {
  if (!Number.isSafeInteger(bytes) || bytes <= 0) {
    throw new UcloudError('VALIDATION_FAILED', `disk size must be a positive whole number of bytes, got ${bytes}`, {
      details: { device: nodeOrDevice, bytes },
    });
  }
  await qmp.execute('block_resize', { device: nodeOrDevice, 'node-name': nodeOrDevice, size: bytes });
}

// Block-device copy for migrating local disks (NBD export on the destination,
// blockdev-mirror into it on the source), kept generic: node names and
// addresses are the caller's.

/** Starts QEMU's NBD server on a TCP address (host without brackets; port as a string, "0" for any); `tlsCreds`: a server tls-creds object's id, TLS required of every client. */
export async function nbdServerStart(qmp: QmpExecutor, host: string, port: string, tlsCreds?: string): Promise<void> {
  await qmp.execute('nbd-server-start', { addr: { type: 'inet', data: { host, port } }, ...(tlsCreds ? { 'tls-creds': tlsCreds } : {}) });
}

export async function nbdServerStop(qmp: QmpExecutor): Promise<void> {
  await qmp.execute('nbd-server-stop');
}

/** Exports block node `nodeName` over the running NBD server as `name`. */
export async function blockExportAdd(qmp: QmpExecutor, id: string, nodeName: string, name: string, writable = true): Promise<void> {
  await qmp.execute('block-export-add', { type: 'nbd', id, 'node-name': nodeName, name, writable });
}

/** Adds a block node; `options` is QEMU's BlockdevOptions as given (driver, node-name, …). */
export async function blockdevAdd(qmp: QmpExecutor, options: Record<string, unknown>): Promise<void> {
  await qmp.execute('blockdev-add', options);
}

/** Starts a mirror job from `device` to `target` (both node names); BLOCK_JOB_READY says when it is in step. */
export async function blockdevMirror(qmp: QmpExecutor, jobId: string, device: string, target: string, sync: 'full' | 'top' | 'none' = 'full', speed?: number): Promise<void> {
  await qmp.execute('blockdev-mirror', { 'job-id': jobId, device, target, sync, ...(speed ? { speed } : {}) });
}

/** Removes a block node added with blockdev-add (an NBD client node: its connection closes). */
export async function blockdevDel(qmp: QmpExecutor, nodeName: string): Promise<void> {
  await qmp.execute('blockdev-del', { 'node-name': nodeName });
}

/** A block job as query-block-jobs reports it (bytes in `offset` of `len`). */
export interface BlockJobInfo {
  type: string;
  device: string;
  len: number;
  offset: number;
  ready: boolean;
  status: string;
  error?: string;
}

export function queryBlockJobs(qmp: QmpExecutor): Promise<BlockJobInfo[]> {
  return qmp.execute<BlockJobInfo[]>('query-block-jobs');
}

/** Resumes an outgoing migration paused at `pre-switchover` (capability pause-before-switchover). */
export async function migrateContinue(qmp: QmpExecutor): Promise<void> {
  await qmp.execute('migrate-continue', { state: 'pre-switchover' });
}

/** On a ready mirror: stops it leaving the target a consistent copy (libvirt's way after migrating RAM). */
export async function blockJobCancel(qmp: QmpExecutor, jobId: string, force = false): Promise<void> {
  await qmp.execute('block-job-cancel', { device: jobId, force });
}

/** On a ready mirror: switches the guest over to the target. */
export async function blockJobComplete(qmp: QmpExecutor, jobId: string): Promise<void> {
  await qmp.execute('block-job-complete', { device: jobId });
}

/** Creates a QOM object (e.g. tls-creds-x509); `props` as QEMU names them. */
export async function objectAdd(qmp: QmpExecutor, qomType: string, id: string, props: Record<string, unknown>): Promise<void> {
  await qmp.execute('object-add', { 'qom-type': qomType, id, ...props });
}

export async function objectDel(qmp: QmpExecutor, id: string): Promise<void> {
  await qmp.execute('object-del', { id });
}
