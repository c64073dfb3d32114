import { runDaemon, type DaemonFlags } from '../store/daemon.js';
import type { Logger } from '../common/logger.js';
import { resolversOf } from '../common/resolvers.js';
import { Ip } from '../host/network/ip.js';
import { renderVendorData, userDataOf } from '../managers/cloud-seed.js';
import { KeyManager } from '../managers/keys.js';
import { VmManager } from '../managers/vms.js';
import { READER_ACTOR } from '../model/vm-lifecycle.js';
import { Informer } from '../store/informer.js';
import { Keys, Kinds, lastSegment } from '../store/keys.js';
import type { Store } from '../store/store.js';
import { metadataAddresses } from './bridges.js';
import { MetadataListeners } from './listeners.js';
import { buildMetadataServer, type MetadataLookup } from './server.js';

/**
 * MAC → the VM holding it (through its MAC allocation) → its NICs and the
 * owner's keys; its user-data (its own key) and vendor-data (with the
 * resolvers of its first network, else `defaultResolvers`) only when asked for.
 */
export function metadataLookup(store: Store, defaultResolvers: readonly string[] = []): MetadataLookup {
  const vms = new VmManager(store, { actor: READER_ACTOR });
  const keys = new KeyManager(store);
  return async (mac) => {
    const alloc = await store.get(Kinds.alloc, Keys.allocMac(mac));
    const id = alloc?.value.holder.startsWith(Keys.vms()) ? lastSegment(alloc.value.holder) : undefined;
    const vm = id && (await vms.get(id));
    if (!vm || vm.desired === 'deleted' || !(vm.nics ?? []).some((n) => n.mac === mac)) return undefined;
    const owned = await keys.list(vm.owner);
    return {
      instanceId: vm.id,
      hostname: vm.name,
      owner: vm.owner,
      publicKeys: owned.map((k) => ({ name: k.name, key: k.publicKey })),
      nics: (vm.nics ?? []).map((n) => ({ mac: n.mac, vni: n.vni, prefix: n.prefix })),
      userData: () => userDataOf(store, vm.id),
      vendorData: async () => {
        const first = vm.nics?.[0];
        const network = first && (await store.get(Kinds.network, Keys.network(vm.owner, first.network)))?.value;
        return renderVendorData({ resolvers: resolversOf(network ?? {}, defaultResolvers) });
      },
    };
  };
}

/**
 * Runs `fn` now and again whenever asked while it runs (once more, not once per
 * ask), never two at a time.
 */
function coalesced(fn: () => Promise<void>, log: Logger): () => Promise<void> {
  let running: Promise<void> | undefined;
  let again = false;
  return () => {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        try {
          await fn();
        } catch (err) {
          log.warn({ err }, 'metadata: re-reading the bridges failed; trying again at the next re-check');
        }
      } while (again);
      running = undefined;
    })();
    return running;
  };
}

export function runMetadata(flags: DaemonFlags): Promise<void> {
  return runDaemon('metadata', flags, [], async ({ config, log, store }) => {
    // Each listener hands its requests to the app; the app asks the listeners where a request arrived.
    const served: MetadataListeners = new MetadataListeners((req, res) => app.routing(req, res), config.metadataPort, log);
    const app = buildMetadataServer({ lookup: metadataLookup(store, config.dnsResolvers), log, arrival: (req) => served.arrivalOf(req.socket.localAddress) });
    await app.ready();

    // Following the bridges: the agent (another process, maybe restarted) makes
    // and removes them, and their addresses must exist before a socket can bind.
    // Re-reading `ip -j addr show type bridge` every metadata_recheck, and at
    // once on any network change in etcd, is one cheap command per second that
    // cannot miss an event or die unnoticed (as a netlink monitor child could);
    // a new bridge's VM needs far longer than that to boot and ask, and
    // ucloud-init retries. The networks come from an informer (list + watch).
    const ip = new Ip();
    const networks = new Informer(store, Kinds.network, Keys.networks(), log);
    let stopping = false;
    const recheck = coalesced(async () => {
      if (!stopping) await served.reconcile(await metadataAddresses(ip, networks.values(), log));
    }, log);
    networks.on('change', () => void recheck());
    await networks.start();
    await recheck();
    const timer = setInterval(() => void recheck(), Math.max(100, config.metadataRecheckMs));
    log.info({ port: config.metadataPort, addresses: served.addresses() }, 'metadata ready');
    return async () => {
      stopping = true;
      clearInterval(timer);
      await networks.stop();
      await recheck(); // waits for a re-check under way
      await served.closeAll();
      await app.close();
    };
  });
}
