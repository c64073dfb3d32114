import { tuneHeapForCaches } from '../common/cache-heap.js';
import { runDaemon, type DaemonFlags } from '../store/daemon.js';
import { ConsoleManager } from '../managers/consoles.js';
import { FileManager } from '../managers/files.js';
import { HostManager } from '../managers/hosts.js';
import { ImageManager } from '../managers/images.js';
import { KeyManager } from '../managers/keys.js';
import { NetworkManager } from '../managers/networks.js';
import { QuotaManager } from '../managers/quotas.js';
import { TokenCache } from '../managers/token-cache.js';
import { FileUploads } from '../managers/uploads.js';
import { UserManager } from '../managers/users.js';
import { VmManager } from '../managers/vms.js';
import { EventLog } from '../store/event-log.js';
import { API_ACTOR } from '../model/vm-lifecycle.js';
import { buildApi } from './server.js';
import { defaultWebDir } from './web.js';

export function runApi(flags: DaemonFlags): Promise<void> {
  tuneHeapForCaches();
  return runDaemon('api', flags, [], async ({ config, log, store, metrics }) => {
    const tokens = new TokenCache(store, log);
    const api = buildApi({ store, users: new UserManager(store, tokens), vms: new VmManager(store, { actor: API_ACTOR }), hosts: new HostManager(store, { allocationRatio: config.allocationRatio }), images: new ImageManager(store, { defaultStore: config.defaultImageStore, admins: () => tokens.admins() }), files: new FileManager(store), keys: new KeyManager(store), networks: new NetworkManager(store, config), consoles: new ConsoleManager(store), eventLog: new EventLog(store, { retentionMs: config.eventRetentionMs, bucketMax: config.eventBucketMax, log }), quotas: new QuotaManager(store, { ...config.quotaDefaults, files: config.filesQuotaBytes, rate: config.rateLimitPerMinute }), uploads: new FileUploads({ filesPath: config.filesPath, maxBytes: config.uploadMaxBytes, quotaBytes: config.filesQuotaBytes, idleMs: config.uploadIdleMs, log }) }, log, { bodyTimeoutMs: config.apiBodyTimeoutMs, tokens, haDefault: config.haDefault, rateLimit: { perWindow: config.rateLimitPerMinute }, metrics, web: config.web ? defaultWebDir() : false });
    await api.listen({ host: config.apiListen.host, port: config.apiListen.port });
    log.info({ listen: `[${config.apiListen.host}]:${config.apiListen.port}` }, 'api ready');
    return () => api.close();
  });
}
