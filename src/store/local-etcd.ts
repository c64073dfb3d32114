import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, openSync, closeSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { get } from 'node:http';
import { join, resolve } from 'node:path';
import { Etcd3 } from 'etcd3';
import { UcloudError } from '../common/errors.js';
import { terminate } from '../common/proc.js';
import type { EtcdCredentials } from './etcd-auth.js';

export interface LocalEtcd {
  url: string;
  process: ChildProcess;
  /** The root-only directory holding the peer socket (and, while auth is set up, the client socket). */
  socketDir: string;
  stop(): Promise<void>;
}

// etcd names a unix socket after the URL's host:port, relative to its working directory.
const PEER_SOCKET = 'peer:0';
const SETUP_SOCKET = 'setup:0';
// Outside ucloud's key prefix: the random mark of the etcd process last started on this data dir.
const INSTANCE_KEY = 'ucloud-local-etcd-instance';

interface Spawned {
  process: ChildProcess;
  stop(): Promise<void>;
}

/** One member of a multi-member cluster: its peers are on TCP, since a unix socket reaches no other member. */
export interface EtcdMember {
  name: string;
  /** This member's peer URL, e.g. http://127.0.0.1:2380. */
  peerUrl: string;
  /** Every member as name=peerUrl, comma-separated (etcd's --initial-cluster). */
  initialCluster: string;
  /** Unique per cluster, so members of two clusters never join each other. */
  clusterToken: string;
}

interface Opts {
  dataDir: string;
  url: string;
  credentials: EtcdCredentials;
  logFile?: string;
  timeoutMs?: number;
  /** Unset: a single member. Members of a new cluster must be started together, since none is healthy before a quorum is up. */
  member?: EtcdMember;
}

/**
 * Starts a single-member etcd for `ucloud up` (persistent data dir) and for tests
 * (a temporary one) that serves nobody without credentials:
 *
 * - the only TCP port is the client URL, and etcd auth is on (user `root`,
 *   password from the caller), so a request without the password is refused;
 * - the peer listener, which in etcd 3.4 also serves the whole client API,
 *   is a unix socket in `<dataDir>-sockets`, a directory only root may enter;
 * - every start begins with a run whose client listener is a unix socket in
 *   that directory too: there auth is checked and, for a new data dir or one
 *   made before auth existed, switched on; only then is etcd restarted on the
 *   TCP client URL, so no other process can reach it while auth is off.
 *
 * Resolves once etcd answers with these credentials.
 *
 * A cluster member (`member`, for tests) has its peer listener on TCP instead,
 * so on a new cluster's first start that port serves the client API without
 * auth until the first member has turned it on (the client URL opens only after).
 */
export async function startLocalEtcd(opts: Opts): Promise<LocalEtcd> {
  if (opts.credentials.username !== 'root') {
    throw new UcloudError('INVALID_CONFIG', `the local etcd's user is root, not "${opts.credentials.username}"`, { hint: 'leave etcd_username unset (root) when ucloud up runs the etcd' });
  }
  const dataDir = resolve(opts.dataDir);
  const socketDir = `${dataDir}-sockets`;
  for (const dir of [dataDir, socketDir]) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700); // also when it existed with a wider mode
  }
  const logFile = opts.logFile ?? join(dataDir, 'etcd.log');
  const timeoutMs = opts.timeoutMs ?? 15_000;

  // Whether auth is on can only be asked of a running etcd, and one without auth
  // serves anybody: so every start asks first on the root-only unix socket, and
  // the TCP port opens only once auth is known to be on.
  const instance = randomBytes(16).toString('hex');
  const run: Run = { dataDir, socketDir, logFile, timeoutMs, member: opts.member };
  // Members share their keys: each marks its own start under its own name.
  const instanceKey = opts.member ? `${INSTANCE_KEY}/${opts.member.name}` : INSTANCE_KEY;
  await ensureAuth(run, opts.credentials, instance, instanceKey);
  const etcd = await spawnEtcd(run, opts.url);
  // Another process on our port (an etcd left by a killed `ucloud up`, anyone's)
  // answers /health as well as ours would, while ours died on "address in use":
  // only the mark written through our own unix socket tells them apart (and
  // reading it proves the credentials, checked there, work here too).
  const found = await readInstanceMark(opts.url, opts.credentials, instanceKey);
  if (found instanceof Error) {
    await etcd.stop();
    throw new UcloudError('ETCD_UNAVAILABLE', `the local etcd (data in ${dataDir}) is up but does not answer on ${opts.url}: ${found.message}`, { cause: found });
  }
  if (found !== instance || etcd.process.exitCode !== null) {
    await etcd.stop();
    throw new UcloudError('ETCD_UNAVAILABLE', `another etcd answers on ${opts.url}, not the one just started on ${dataDir}`, {
      hint: `stop whatever listens on ${opts.url} (\`ss -ltnp\`), or set local_etcd_url to a free port`,
    });
  }
  const stop = async () => {
    await etcd.stop();
    rmSync(socketDir, { recursive: true, force: true });
  };
  return { url: opts.url, process: etcd.process, socketDir, stop };
}

/** undefined when the credentials work; 'auth-off' when etcd has no auth yet; else why they were refused. */
async function tryCredentials(url: string, credentials: EtcdCredentials): Promise<string | undefined> {
  const client = new Etcd3({ hosts: url, auth: credentials, dialTimeout: 3000 });
  try {
    await client.get('ucloud-auth-check').string();
    return undefined;
  } catch (err) {
    const msg = (err as Error).message;
    return /authentication is not enabled/.test(msg) ? 'auth-off' : msg;
  } finally {
    client.close();
  }
}

function authFailed(dataDir: string, refusal: string): UcloudError {
  return new UcloudError('ETCD_AUTH_FAILED', `the local etcd (data in ${dataDir}) refused its root password: ${refusal}`, {
    hint: 'the data dir was secured with another password than the one in etcd_password_file; put that one back',
  });
}

/**
 * Runs etcd with its client listener on a unix socket in the root-only socketDir
 * only, and there checks the credentials; when auth is off (a new data dir, or
 * one from before auth) creates the root user with `credentials` and turns it on.
 */
async function ensureAuth(run: Run, credentials: EtcdCredentials, instance: string, instanceKey: string): Promise<void> {
  const { dataDir, socketDir, member } = run;
  const etcd = await spawnEtcd(run, `unix://${SETUP_SOCKET}`);
  const setupUrl = `unix://${join(socketDir, SETUP_SOCKET)}`;
  const client = new Etcd3({ hosts: setupUrl, dialTimeout: 3000 });
  // Auth is cluster-wide: in a new cluster the first member listed turns it on, the others wait to see it on.
  const enables = !member || member.initialCluster.split('=')[0] === member.name;
  try {
    let refusal = await tryCredentials(setupUrl, credentials);
    for (const deadline = Date.now() + run.timeoutMs; refusal === 'auth-off' && !enables && Date.now() < deadline; ) {
      await new Promise((r) => setTimeout(r, 100));
      refusal = await tryCredentials(setupUrl, credentials);
    }
    if (refusal && refusal !== 'auth-off') throw authFailed(dataDir, refusal);
    if (refusal) await enableAuth(client, credentials);
    await markInstance(setupUrl, credentials, instance, instanceKey);
  } catch (err) {
    if (err instanceof UcloudError) throw err;
    throw new UcloudError('ETCD_UNAVAILABLE', `cannot set up the local etcd (data in ${dataDir}): ${(err as Error).message}`, { cause: err });
  } finally {
    client.close();
    await etcd.stop();
  }
}

async function enableAuth(client: Etcd3, credentials: EtcdCredentials): Promise<void> {
  try {
    await client.auth.userAdd({ name: credentials.username, password: credentials.password });
  } catch (err) {
    if (!/user name already exists/.test((err as Error).message)) throw err;
    await client.auth.userChangePassword({ name: credentials.username, password: credentials.password });
  }
  await client.auth.userGrantRole({ user: credentials.username, role: 'root' });
  await client.auth.authEnable();
}

async function markInstance(url: string, credentials: EtcdCredentials, instance: string, instanceKey: string): Promise<void> {
  const client = new Etcd3({ hosts: url, auth: credentials, dialTimeout: 3000 });
  try {
    await client.put(instanceKey).value(instance);
  } finally {
    client.close();
  }
}

/** The mark, null when absent; an error when the answer says "not this etcd" no more than a timeout would. */
async function readInstanceMark(url: string, credentials: EtcdCredentials, instanceKey: string): Promise<string | null | Error> {
  const client = new Etcd3({ hosts: url, auth: credentials, dialTimeout: 3000 });
  try {
    return await client.get(instanceKey).string();
  } catch (err) {
    // Refused credentials, or no auth at all: not the etcd whose credentials were just checked on our own socket.
    return /authentication failed|authentication is not enabled|invalid auth|user name|password/i.test((err as Error).message) ? null : (err as Error);
  } finally {
    client.close();
  }
}

interface Run {
  dataDir: string;
  socketDir: string;
  logFile: string;
  timeoutMs: number;
  member: EtcdMember | undefined;
}

/**
 * Runs etcd with its client listener at `clientUrl` (TCP, or a unix socket in
 * socketDir) and its peer on a unix socket (a member: on its peer URL); resolves once healthy.
 */
async function spawnEtcd(run: Run, clientUrl: string): Promise<Spawned> {
  const { dataDir, socketDir, logFile, timeoutMs, member } = run;
  const peer = member?.peerUrl ?? `unix://${PEER_SOCKET}`;
  // etcd refuses to start on a socket file left by a killed etcd.
  for (const s of [PEER_SOCKET, SETUP_SOCKET]) rmSync(join(socketDir, s), { force: true });
  const logFd = openSync(logFile, 'a');
  // A parent-death signal: etcd, which cannot watch a pipe, stops with whoever started it, even one killed by SIGKILL.
  const child = spawn(
    'setpriv',
    [
      '--pdeathsig', 'TERM', '--', 'etcd',
      '--name', member?.name ?? 'ucloud',
      '--data-dir', dataDir,
      '--listen-client-urls', clientUrl,
      '--advertise-client-urls', clientUrl,
      '--listen-peer-urls', peer,
      '--initial-advertise-peer-urls', peer,
      '--initial-cluster', member?.initialCluster ?? `ucloud=${peer}`,
      ...(member ? ['--initial-cluster-token', member.clusterToken] : []),
      // One member: no follower can miss a heartbeat, so a short election makes starts ~0.4 s faster.
      // Members keep etcd's defaults: on a busy machine a short timeout would elect a new leader over a late heartbeat.
      '--heartbeat-interval', member ? '100' : '25',
      '--election-timeout', member ? '1000' : '250',
      // Only gRPC: nothing uses the JSON gateway, so it is not served.
      '--enable-grpc-gateway=false',
      // Simple tokens expire after this much idleness; a watch-only daemon must not lose its token overnight.
      '--auth-token-ttl', '86400',
      // Revisions older than an hour are compacted away; watchers re-list when that bites.
      '--auto-compaction-retention', '1',
    ],
    { cwd: socketDir, stdio: ['ignore', logFd, logFd] },
  );
  closeSync(logFd);
  let spawnError: Error | undefined;
  child.once('error', (e) => (spawnError = e));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) await terminate(child.pid, 5000);
    for (const s of [PEER_SOCKET, SETUP_SOCKET]) rmSync(join(socketDir, s), { force: true });
  };
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (spawnError) throw new UcloudError('PREFLIGHT_FAILED', `cannot start etcd: ${spawnError.message}`, { hint: 'apt-get install etcd-server util-linux (etcd runs under setpriv)' });
    if (child.exitCode !== null) {
      throw new UcloudError('ETCD_UNAVAILABLE', `local etcd exited with code ${child.exitCode}; see ${logFile}`, { hint: `is another etcd already using ${clientUrl}?` });
    }
    if (await healthy(clientUrl, socketDir)) return { process: child, stop };
    await new Promise((r) => setTimeout(r, 50));
  }
  await stop();
  throw new UcloudError('ETCD_UNAVAILABLE', `local etcd did not become healthy at ${clientUrl}`);
}

/** etcd's /health (which needs no credentials), over TCP or the unix socket. */
function healthy(clientUrl: string, socketDir: string): Promise<boolean> {
  const u = new URL(clientUrl);
  const target = u.protocol === 'unix:' ? { socketPath: join(socketDir, u.host) } : { host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port) };
  return new Promise((resolveHealth) => {
    const req = get({ ...target, path: '/health', timeout: 500 }, (res) => {
      res.resume();
      resolveHealth(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolveHealth(false));
  });
}
