import { join } from 'node:path';
import { resolveAccel } from '../common/accel.js';
import { runDaemon, type DaemonFlags } from '../store/daemon.js';
import { HostManager } from '../managers/hosts.js';
import { ImageManager } from '../managers/images.js';
import { VmManager } from '../managers/vms.js';
import { EventLog } from '../store/event-log.js';
import { hostActor } from '../model/vm-lifecycle.js';
import { HostAgent } from './agent.js';
import { checkTlsDir, sweepStagedTls } from './migration/tls.js';
import { isRoutedVni } from '../managers/networks.js';
import { routerIdFor } from './network/bird.js';
import { controlPlanePrefixes } from './network/hostfw.js';
import { HostNetwork } from './network/index.js';
import { RouteAnnouncer } from './routes.js';
import { openableStores } from './stores.js';
import { VmRuntime } from './vm-runtime.js';

export function runHostAgent(flags: DaemonFlags): Promise<void> {
  return runDaemon('host', flags, ['qemu', 'qemuImg', 'accel', 'runDir', 'qemuUids', 'mkfsVfat', 'mcopy'], async ({ config, log, store, metrics }) => {
    // migration_tls on without its certificates: refused at start, not at the first migration (migration/tls.ts).
    if (config.migrationTlsDir) await checkTlsDir(config.migrationTlsDir);
    await sweepStagedTls(join(config.runDir, 'migration-tls'));
    const accel = await resolveAccel(config.accel);
    // route_mode (issue 12): which networks are routed, and with bgp what this host's BIRD announces.
    const routing = config.routeMode === 'off' ? undefined : {
      routed: (vni: number) => isRoutedVni(store, vni),
      protectedPrefixes: [...config.routedProtectedPrefixes, ...controlPlanePrefixes(config.etcdEndpoints, [config.apiListen.host])],
      ...(config.routeMode === 'bgp' ? { bgp: { routerId: routerIdFor(config.hostName), localAs: config.bgpLocalAs, peers: config.bgpPeers } } : {}),
    };
    const network = new HostNetwork({ runDir: join(config.runDir, 'net'), underlay: config.vxlanUnderlay, metadataPort: config.metadataPort, migrationPorts: config.migrationPorts, ...(routing ? { routing } : {}), log });
    const routes = routing?.bgp ? new RouteAnnouncer({ host: config.hostName, routedVni: routing.routed, announce: (a) => network.announce(a), log }) : undefined;
    const runtime = new VmRuntime(
      { runDir: config.runDir, qemuBinary: config.qemuBinary, machine: config.qemuMachine, cpuModel: config.cpuModel, accel, stopTimeoutMs: config.stopTimeoutMs, consoleLogBytes: config.consoleLogBytes, ...(config.qemuUidRange ? { uidRange: config.qemuUidRange } : {}), metadataPort: config.metadataPort },
      new ImageManager(store),
      network,
      log,
    );
    // Every write of a VM compares this incarnation's fencing epoch (vm-lifecycle.ts): read from the agent as it is now.
    let epoch: () => string | undefined = () => undefined;
    const events = new EventLog(store, { retentionMs: config.eventRetentionMs, bucketMax: config.eventBucketMax, log });
    const agent = new HostAgent(store, new VmManager(store, { actor: hostActor(config.hostName, () => epoch()), events }), new HostManager(store), runtime, { name: config.hostName, accel, leaseTtlMs: config.hostLeaseTtlMs, runDir: config.runDir, fenceTimeoutMs: config.fenceTimeoutMs, consoleListen: config.consoleListen, dnsResolvers: config.dnsResolvers, migration: { address: config.hostAddress, ports: config.migrationPorts, maxDowntimeMs: config.migrationMaxDowntimeMs, maxBandwidth: config.migrationMaxBandwidth, prepareTimeoutMs: config.migrationPrepareTimeoutMs, timeoutMs: config.migrationTimeoutMs, ...(config.migrationTlsDir ? { tls: { dir: config.migrationTlsDir, stageDir: join(config.runDir, 'migration-tls') } } : {}) }, ...(routes ? { routes } : {}), metrics, stores: () => openableStores(new ImageManager(store), log) }, log);
    epoch = () => agent.epoch;
    await agent.start();
    return async () => {
      await agent.stop();
      // The VMs' last status moves are written before the agent goes.
      await events.close();
    };
  });
}
