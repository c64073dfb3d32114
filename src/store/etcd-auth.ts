import type { Config } from '../common/config.js';
import { ensureSecretFile, readSecretFile } from '../common/secret-file.js';
import type { StoreOptions } from './store.js';

// etcd credentials: a user and a password kept in a root-only file. `ucloud up`
// generates the local etcd's password once; every daemon (and test) reads the
// file named by etcd_password_file.

export interface EtcdCredentials {
  username: string;
  password: string;
}

const KEY = 'etcd_password_file';

export const readPasswordFile = (file: string): Promise<string> => readSecretFile(file, KEY);

/** The local etcd's password: read from `file`, or generated into it once. */
export const ensurePasswordFile = (file: string): Promise<string> => ensureSecretFile(file, KEY);

/** The credentials the configuration names, or undefined when it names none. */
export async function etcdCredentials(config: Pick<Config, 'etcdUsername' | 'etcdPasswordFile'>): Promise<EtcdCredentials | undefined> {
  if (!config.etcdPasswordFile) return undefined;
  return { username: config.etcdUsername, password: await readPasswordFile(config.etcdPasswordFile) };
}

/** How a daemon reaches etcd: endpoints, prefix and credentials from its configuration. */
export async function storeOptions(config: Config): Promise<StoreOptions> {
  const auth = await etcdCredentials(config);
  return { endpoints: config.etcdEndpoints, prefix: config.etcdPrefix, ...(auth ? { auth } : {}) };
}
