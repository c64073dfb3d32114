import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensurePasswordFile, type EtcdCredentials } from '../../src/store/etcd-auth.js';
import { startLocalEtcd, type LocalEtcd } from '../../src/store/local-etcd.js';
import type { StoreOptions } from '../../src/store/store.js';
import { freePort } from './ports.js';

export interface TestEtcd extends LocalEtcd {
  /** Its own scratch directory: data, sockets and the password file. */
  dir: string;
  dataDir: string;
  credentials: EtcdCredentials;
  passwordFile: string;
  /** What a Store (or a daemon's environment) needs to reach it. */
  storeOptions(prefix: string): StoreOptions;
  env(): NodeJS.ProcessEnv;
}

/**
 * A real, throw-away etcd for one test file, with credentials like the one
 * `ucloud up` runs: a client without the password in `passwordFile` is refused.
 * `host` (default 127.0.0.1) lets test hosts in other network namespaces reach it, e.g. an underlay address.
 */
export async function startTestEtcd(host = '127.0.0.1'): Promise<TestEtcd> {
  const dir = mkdtempSync(join(tmpdir(), 'ucloud-etcd-'));
  const dataDir = join(dir, 'data');
  const passwordFile = join(dir, 'etcd-password');
  const credentials = { username: 'root', password: await ensurePasswordFile(passwordFile) };
  const port = await freePort(host);
  const etcd = await startLocalEtcd({ dataDir, url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`, credentials });
  return {
    ...etcd,
    dir,
    dataDir,
    credentials,
    passwordFile,
    storeOptions: (prefix) => ({ endpoints: [etcd.url], prefix, auth: credentials }),
    env: () => ({ UCLOUD_ETCD_ENDPOINTS: etcd.url, UCLOUD_ETCD_USERNAME: credentials.username, UCLOUD_ETCD_PASSWORD_FILE: passwordFile }),
    stop: async () => {
      await etcd.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
