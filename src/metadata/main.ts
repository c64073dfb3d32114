import { runDaemon, type DaemonFlags } from '../common/daemon.js';
import { KeyManager } from '../managers/keys.js';
import { VmManager } from '../managers/vms.js';
import { Keys, Kinds, lastSegment } from '../store/keys.js';
import type { Store } from '../store/store.js';
import { buildMetadataServer, type MetadataLookup } from './server.js';

/** MAC → the VM holding it (through its MAC allocation) → the owner's keys. */
export function metadataLookup(store: Store): MetadataLookup {
  const vms = new VmManager(store);
  const keys = new KeyManager(store);
  return async (mac) => {
    const alloc = await store.get(Kinds.alloc, Keys.allocMac(mac));
    const id = alloc?.value.holder.startsWith(Keys.vms()) ? lastSegment(alloc.value.holder) : undefined;
    const vm = id && (await vms.get(id));
    if (!vm || vm.desired === 'deleted' || !(vm.nics ?? []).some((n) => n.mac === mac)) return undefined;
    const owned = await keys.list(vm.owner);
    return { instanceId: vm.id, hostname: vm.name, owner: vm.owner, publicKeys: owned.map((k) => ({ name: k.name, key: k.publicKey })) };
  };
}

export function runMetadata(flags: DaemonFlags): Promise<void> {
  return runDaemon('metadata', flags, [], async ({ config, log, store }) => {
    const server = buildMetadataServer({ lookup: metadataLookup(store), log });
    await server.listen({ host: config.metadataListen.host, port: config.metadataListen.port, ipv6Only: false });
    log.info({ listen: `[${config.metadataListen.host}]:${config.metadataListen.port}` }, 'metadata ready');
    return () => server.close();
  });
}
