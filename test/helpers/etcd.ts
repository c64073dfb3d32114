import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { ensurePasswordFile, type EtcdCredentials } from '../../src/store/etcd-auth.js';
import { startLocalEtcd, type EtcdMember, type LocalEtcd } from '../../src/store/local-etcd.js';
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

export interface TestEtcdCluster {
  /** Its own scratch directory: every member's data, sockets, and the password file. */
  dir: string;
  credentials: EtcdCredentials;
  passwordFile: string;
  /** Every member's client URL, in member order. */
  endpoints: string[];
  /** Whether member i runs (started and neither killed nor stopped since). */
  running(i: number): boolean;
  /** Member i's process; undefined while it is down. */
  process(i: number): LocalEtcd['process'] | undefined;
  storeOptions(prefix: string): StoreOptions;
  /** A daemon's environment: UCLOUD_ETCD_ENDPOINTS lists every member. */
  env(): NodeJS.ProcessEnv;
  /** SIGKILLs member i and resolves once it has exited. */
  kill(i: number): Promise<void>;
  /** Starts member i again on its data dir (it rejoins; it needs a quorum, counting itself, to become healthy). */
  restart(i: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A real, throw-away etcd cluster of `n` members on one address (`host`, default 127.0.0.1),
 * with the credentials scheme of startTestEtcd; peers talk over TCP ports on that address.
 */
export async function startTestEtcdCluster(n = 3, host = '127.0.0.1'): Promise<TestEtcdCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'ucloud-etcd-cluster-'));
  const passwordFile = join(dir, 'etcd-password');
  const credentials = { username: 'root', password: await ensurePasswordFile(passwordFile) };
  const url = (port: number) => `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const ports = new Set<number>();
  while (ports.size < 2 * n) ports.add(await freePort(host));
  const [clientPorts, peerPorts] = [[...ports].slice(0, n), [...ports].slice(n)];
  const names = Array.from({ length: n }, (_, i) => `m${i}`);
  const initialCluster = names.map((name, i) => `${name}=${url(peerPorts[i]!)}`).join(',');
  const endpoints = clientPorts.map(url);
  const members: (LocalEtcd | undefined)[] = new Array(n).fill(undefined);
  const start = async (i: number) => {
    const member: EtcdMember = { name: names[i]!, peerUrl: url(peerPorts[i]!), initialCluster, clusterToken: basename(dir) };
    members[i] = await startLocalEtcd({ dataDir: join(dir, names[i]!), url: endpoints[i]!, credentials, member, timeoutMs: 30_000 });
  };
  const stop = async () => {
    await Promise.all(members.map((m) => m?.stop()));
    members.fill(undefined);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await Promise.all(names.map((_, i) => start(i)));
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    dir,
    credentials,
    passwordFile,
    endpoints,
    running: (i) => members[i] !== undefined,
    process: (i) => members[i]?.process,
    storeOptions: (prefix) => ({ endpoints, prefix, auth: credentials }),
    env: () => ({ UCLOUD_ETCD_ENDPOINTS: endpoints.join(','), UCLOUD_ETCD_USERNAME: credentials.username, UCLOUD_ETCD_PASSWORD_FILE: passwordFile }),
    kill: async (i) => {
      const m = members[i];
      if (!m) return;
      members[i] = undefined;
      if (m.process.exitCode === null && m.process.signalCode === null) {
        const gone = new Promise((r) => m.process.once('exit', r));
        m.process.kill('SIGKILL');
        await gone;
      }
    },
    restart: async (i) => {
      if (!members[i]) await start(i);
    },
    stop,
  };
}
