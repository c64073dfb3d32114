import { join } from 'node:path';
import { resolveAccel } from '../common/accel.js';
import { runDaemon, type DaemonFlags } from '../common/daemon.js';
import { HostManager } from '../managers/hosts.js';
import { ImageManager } from '../managers/images.js';
import { VmManager } from '../managers/vms.js';
import { hostActor } from '../model/vm-lifecycle.js';
import { HostAgent } from './agent.js';
import { HostNetwork } from './network/index.js';
import { VmRuntime } from './vm-runtime.js';

export function runHostAgent(flags: DaemonFlags): Promise<void> {
  return runDaemon('host', flags, ['qemu', 'qemuImg', 'accel', 'runDir', 'qemuUids', 'mkfsVfat', 'mcopy'], async ({ config, log, store }) => {
    const accel = await resolveAccel(config.accel);
    const runtime = new VmRuntime(
      { runDir: config.runDir, qemuBinary: config.qemuBinary, machine: config.qemuMachine, accel, stopTimeoutMs: config.stopTimeoutMs, consoleLogBytes: config.consoleLogBytes, ...(config.qemuUidRange ? { uidRange: config.qemuUidRange } : {}), metadataPort: config.metadataPort },
      new ImageManager(store),
      new HostNetwork({ runDir: join(config.runDir, 'net'), underlay: config.vxlanUnderlay, metadataPort: config.metadataPort, migrationPorts: config.migrationPorts, log }),
      log,
    );
    const agent = new HostAgent(store, new VmManager(store, { actor: hostActor(config.hostName) }), new HostManager(store), runtime, { name: config.hostName, accel, leaseTtlMs: config.hostLeaseTtlMs, consoleListen: config.consoleListen, dnsResolvers: config.dnsResolvers, migration: { address: config.hostAddress, ports: config.migrationPorts, maxDowntimeMs: config.migrationMaxDowntimeMs, maxBandwidth: config.migrationMaxBandwidth, prepareTimeoutMs: config.migrationPrepareTimeoutMs } }, log);
    await agent.start();
    return () => agent.stop();
  });
}
