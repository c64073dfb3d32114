export {
  buildQemuArgs,
  escapeOptValue,
  parseQemuOpts,
  vmMarker,
  argvHasVmMarker,
  type QemuAccel,
  type QemuNic,
  type QemuPaths,
  type QemuVmSpec,
} from './cmdline.js';
export {
  QmpProtocol,
  type QmpErrorBody,
  type QmpEvent,
  type QmpGreeting,
  type QmpProtocolEvents,
  type QmpRequestOptions,
  type QmpVersion,
} from '../../common/qmp-protocol.js';
export {
  QmpMonitor,
  type QmpConnectOptions,
  type QmpExecuteOptions,
  type QmpExecutor,
  type QmpMonitorEvents,
} from './qmp-monitor.js';
export {
  blockResize,
  cont,
  migrate,
  migrateCancel,
  migrateIncoming,
  migrateSetCapabilities,
  migrateSetParameters,
  queryBlock,
  queryMigrate,
  queryStatus,
  quit,
  stop,
  systemPowerdown,
  type BlockDeviceInfo,
  type BlockImageInfo,
  type BlockInfo,
  type MigrationCapability,
  type MigrationInfo,
  type MigrationParameters,
  type MigrationRamStats,
  type MigrationStatus,
  type QemuRunState,
  type StatusInfo,
} from './qmp-commands.js';
export { DEFAULT_QEMU_BINARY, isOurQemu, killQemu, launchQemu, readPidFile, type LaunchResult } from './process.js';
export { waitForExit } from '../../common/proc.js';
