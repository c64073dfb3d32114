// A small wrapper of the `rbd` and `ceph` command-line tools: one method per thing the
// Ceph storage driver needs, structured results instead of text, and Ceph's failures
// turned into UcloudErrors. Every call is bounded in time (the tools hang forever when
// the monitors are down): the library gives up connecting after `connectTimeoutS` and
// the process is killed after `timeoutMs` whatever happens.
//
// `rbd` exits with the errno of what failed (2 ENOENT, 16 EBUSY, 17 EEXIST, 22 EINVAL,
// 39 ENOTEMPTY, 110 ETIMEDOUT); methods match on those codes, never on messages. The one
// exception is "couldn't connect to the cluster", which shares ENOENT/ETIMEDOUT with
// other failures and is recognised from stderr.

import type { Readable } from 'node:stream';
import { UcloudError } from '../common/errors.js';
import { run, type RunResult } from '../common/exec.js';

export const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  EACCES: 13,
  EBUSY: 16,
  EEXIST: 17,
  EINVAL: 22,
  ENOTEMPTY: 39,
  ETIMEDOUT: 110,
} as const;

export interface RbdClientOptions {
  /** ceph.conf path; default: librados' own search (CEPH_CONF, /etc/ceph/ceph.conf). */
  conf?: string;
  /** Ceph client id (without "client."); default "admin". */
  user?: string;
  /** Keyring file of that client; default: librados' search through the conf. */
  keyring?: string;
  /** Kill a command after this long (default 60 s). */
  timeoutMs?: number;
  /** Give up connecting to the monitors after this long (default 10 s). */
  connectTimeoutS?: number;
}

export interface RbdParent {
  pool: string;
  image: string;
  snapshot: string;
}

export interface RbdImageInfo {
  name: string;
  id: string;
  size: number;
  features: string[];
  snapshotCount: number;
  parent?: RbdParent;
}

export interface RbdSnapshot {
  id: number;
  name: string;
  size: number;
  protected: boolean;
}

export interface RbdChild {
  pool: string;
  image: string;
}

interface RbdCall {
  /** Exit codes (errnos) the caller handles itself; others throw. */
  expect?: number[];
  timeoutMs?: number;
  input?: string | Buffer | Readable;
}

const NOT_CONNECTED = [
  "couldn't connect to the cluster",
  'error connecting to the cluster',
  'unable to open config file',
  'authenticate timed out',
  'monclient(hunting)',
];

/** `pool/image` for the command line. */
export function spec(pool: string, image: string, snap?: string): string {
  return `${pool}/${image}${snap === undefined ? '' : `@${snap}`}`;
}

/** A Ceph client's capabilities, by service (`mon`, `osd`, …). */
export type CephCaps = Record<string, string>;

export class RbdClient {
  readonly conf: string | undefined;
  readonly user: string;
  readonly keyring: string | undefined;
  private readonly timeoutMs: number;
  private readonly connectTimeoutS: number;

  constructor(opts: RbdClientOptions = {}) {
    this.conf = opts.conf;
    this.user = opts.user ?? 'admin';
    this.keyring = opts.keyring;
    this.timeoutMs = opts.timeoutMs ?? 60_000;
    this.connectTimeoutS = opts.connectTimeoutS ?? 10;
  }

  /** Arguments every `rbd`/`ceph` call starts with: conf, id, bounded waits. */
  private common(tool: 'rbd' | 'ceph'): string[] {
    const args = this.conf ? ['--conf', this.conf] : [];
    args.push('--id', this.user);
    if (this.keyring) args.push('--keyring', this.keyring);
    if (tool === 'rbd') {
      args.push('--client-mount-timeout', String(this.connectTimeoutS), '--rados-osd-op-timeout', String(Math.ceil(this.timeoutMs / 1000)));
    } else {
      args.push('--connect-timeout', String(this.connectTimeoutS));
    }
    return args;
  }

  private async exec(tool: 'rbd' | 'ceph', args: string[], call: RbdCall = {}): Promise<RunResult> {
    const full = [...this.common(tool), ...args];
    const timeoutMs = call.timeoutMs ?? this.timeoutMs;
    let res: RunResult;
    try {
      // every exit code is "ok" for run(): the errno is interpreted here
      res = await run(tool, full, { timeoutMs, input: call.input, okCodes: ALL_CODES });
    } catch (err) {
      throw this.wrapSpawnError(tool, args, err, timeoutMs);
    }
    if (res.code === 0 || (call.expect ?? []).includes(res.code)) return res;
    throw this.failure(tool, args, res);
  }

  private wrapSpawnError(tool: string, args: string[], err: unknown, timeoutMs: number): UcloudError {
    if (err instanceof UcloudError && err.code === 'COMMAND_TIMEOUT') {
      return new UcloudError('CEPH_UNAVAILABLE', `Ceph did not answer \`${tool} ${args.join(' ')}\` within ${Math.round(timeoutMs / 1000)} s`, {
        details: { ...err.details, conf: this.conf, user: this.user },
        cause: err,
      });
    }
    if (err instanceof UcloudError && err.code === 'COMMAND_FAILED') {
      // could not even start the program
      return new UcloudError('CEPH_UNAVAILABLE', err.message, {
        hint: 'install the Ceph client tools: apt-get install ceph-common',
        details: err.details,
        cause: err,
      });
    }
    return err instanceof UcloudError ? err : new UcloudError('STORAGE_FAILED', String(err), { cause: err });
  }

  private failure(tool: string, args: string[], res: RunResult): UcloudError {
    const stderr = res.stderr.trim();
    const details = { command: `${tool} ${args.join(' ')}`, exitCode: res.code, stderr: stderr.slice(-2000), conf: this.conf, user: this.user };
    const last = lastMeaningfulLine(stderr);
    // The ceph CLI's own connect timeout (--connect-timeout) prints just "timed out", with exit 1 (= EPERM).
    const cliTimeout = tool === 'ceph' && res.code === 1 && /^timed out$/i.test(last);
    if (isConnectFailure(stderr) || res.code === ERRNO.ETIMEDOUT || cliTimeout) {
      return new UcloudError('CEPH_UNAVAILABLE', `cannot reach the Ceph cluster${this.conf ? ` of ${this.conf}` : ''} as client.${this.user}: ${last}`, { details });
    }
    if (res.code === ERRNO.EPERM || res.code === ERRNO.EACCES) {
      return new UcloudError('CEPH_UNAVAILABLE', `Ceph refused \`${tool} ${args[0] ?? ''}\` to client.${this.user}: ${last}`, {
        hint: `give client.${this.user} the caps it needs, e.g. ceph auth caps client.${this.user} mon 'profile rbd' osd 'profile rbd pool=<pool>'`,
        details,
      });
    }
    return new UcloudError('STORAGE_FAILED', `${tool} ${args[0] ?? ''} failed (exit ${res.code}): ${last}`, { details });
  }

  private rbd(args: string[], call?: RbdCall): Promise<RunResult> {
    return this.exec('rbd', args, call);
  }

  private ceph(args: string[], call?: RbdCall): Promise<RunResult> {
    return this.exec('ceph', args, call);
  }

  // ---- cluster and pools ----

  /** Cluster health as Ceph reports it (HEALTH_OK, HEALTH_WARN, HEALTH_ERR); needs mon read caps. */
  async health(): Promise<string> {
    const { stdout } = await this.ceph(['health', '--format', 'json']);
    return (JSON.parse(stdout) as { status: string }).status;
  }

  /** Image names in `pool`, or undefined when the pool does not exist. Works with `profile rbd` caps. */
  async list(pool: string): Promise<string[] | undefined> {
    const res = await this.rbd(['ls', '--format', 'json', pool], { expect: [ERRNO.ENOENT] });
    if (res.code === ERRNO.ENOENT) return undefined;
    return JSON.parse(res.stdout || '[]') as string[];
  }

  async poolExists(pool: string): Promise<boolean> {
    const { stdout } = await this.ceph(['osd', 'pool', 'ls', '--format', 'json']);
    return (JSON.parse(stdout) as string[]).includes(pool);
  }

  /** Creates `pool` for RBD when it is missing (needs admin caps). Safe to run concurrently. */
  async ensurePool(pool: string, pgNum = 8): Promise<void> {
    if (!(await this.poolExists(pool))) {
      // "already exists" is success for `ceph osd pool create`
      await this.ceph(['osd', 'pool', 'create', pool, String(pgNum), String(pgNum)]);
    }
    // idempotent: tags the pool with application "rbd" and makes its directory objects
    await this.rbd(['pool', 'init', pool]);
  }

  /** Removes a pool and everything in it (needs mon_allow_pool_delete). For tests. */
  async deletePool(pool: string): Promise<void> {
    await this.ceph(['osd', 'pool', 'rm', pool, pool, '--yes-i-really-really-mean-it']);
  }

  // ---- clients (need a client with auth caps, e.g. client.admin) ----

  /** `entity`'s secret key and caps, or undefined when no such client exists. */
  async authGet(entity: string): Promise<{ key: string; caps: CephCaps } | undefined> {
    const res = await this.ceph(['auth', 'get', entity, '--format', 'json'], { expect: [ERRNO.ENOENT] });
    if (res.code === ERRNO.ENOENT) return undefined;
    const raw = JSON.parse(res.stdout) as { key: string; caps?: CephCaps }[];
    if (!raw[0]) return undefined;
    return { key: raw[0].key, caps: raw[0].caps ?? {} };
  }

  /** Creates `entity` with `caps`, or replaces the caps of the existing one (`exists`: skip the create). */
  async setAuthCaps(entity: string, caps: CephCaps, exists = false): Promise<void> {
    const flat = Object.entries(caps).flat();
    if (exists) {
      await this.ceph(['auth', 'caps', entity, ...flat]);
      return;
    }
    const res = await this.ceph(['auth', 'get-or-create', entity, ...flat], { expect: [ERRNO.EINVAL] });
    // EINVAL: it exists with other caps
    if (res.code === ERRNO.EINVAL) await this.ceph(['auth', 'caps', entity, ...flat]);
  }

  // ---- images ----

  /** The image's info, or undefined when it (or its pool) does not exist. */
  async info(pool: string, image: string): Promise<RbdImageInfo | undefined> {
    const res = await this.rbd(['info', '--format', 'json', spec(pool, image)], { expect: [ERRNO.ENOENT] });
    if (res.code === ERRNO.ENOENT) return undefined;
    const raw = JSON.parse(res.stdout) as {
      name: string;
      id: string;
      size: number;
      features?: string[];
      snapshot_count?: number;
      parent?: { pool: string; image: string; snapshot: string };
    };
    const info: RbdImageInfo = { name: raw.name, id: raw.id, size: raw.size, features: raw.features ?? [], snapshotCount: raw.snapshot_count ?? 0 };
    if (raw.parent) info.parent = { pool: raw.parent.pool, image: raw.parent.image, snapshot: raw.parent.snapshot };
    return info;
  }

  async exists(pool: string, image: string): Promise<boolean> {
    return (await this.info(pool, image)) !== undefined;
  }

  /** Creates an empty (thin) image; false when one of that name exists already. */
  async create(pool: string, image: string, sizeBytes: number): Promise<boolean> {
    const res = await this.rbd(['create', '--size', `${sizeBytes}B`, spec(pool, image)], { expect: [ERRNO.EEXIST] });
    return res.code === 0;
  }

  /**
   * `rbd import` of a raw file (sparse: zero runs are skipped), or of a stream on stdin.
   * The image must not exist. A failed import can leave a partial image: remove it.
   */
  async import(source: string | Readable, pool: string, image: string, opts: { timeoutMs?: number } = {}): Promise<void> {
    const args = ['import', '--no-progress', typeof source === 'string' ? source : '-', spec(pool, image)];
    const timeoutMs = opts.timeoutMs ?? 3_600_000;
    await this.rbd(args, { timeoutMs, ...(typeof source === 'string' ? {} : { input: source }) });
  }

  /** Grows the image; Ceph itself refuses to shrink without --allow-shrink, which is never passed. */
  async resize(pool: string, image: string, sizeBytes: number): Promise<void> {
    await this.rbd(['resize', '--no-progress', '--size', `${sizeBytes}B`, spec(pool, image)]);
  }

  /**
   * Removes the image; false when it did not exist. Fails with STORAGE_FAILED (details.exitCode
   * 16) while a client still has it open — including, for ~30 s, a client that was killed.
   */
  async remove(pool: string, image: string): Promise<boolean> {
    const res = await this.rbd(['rm', '--no-progress', spec(pool, image)], { expect: [ERRNO.ENOENT, ERRNO.ENOTEMPTY] });
    if (res.code === ERRNO.ENOENT) return false;
    if (res.code === ERRNO.ENOTEMPTY) {
      // it has snapshots; they go first (protected ones must be unprotected by the caller)
      await this.rbd(['snap', 'purge', '--no-progress', spec(pool, image)], { expect: [ERRNO.ENOENT] });
      const again = await this.rbd(['rm', '--no-progress', spec(pool, image)], { expect: [ERRNO.ENOENT] });
      return again.code === 0;
    }
    return true;
  }

  async rename(pool: string, from: string, to: string): Promise<void> {
    await this.rbd(['rename', spec(pool, from), spec(pool, to)]);
  }

  /** Clients that have the image open (a running VM, a qemu-img, an `rbd import`). */
  async watchers(pool: string, image: string): Promise<string[]> {
    const res = await this.rbd(['status', '--format', 'json', spec(pool, image)], { expect: [ERRNO.ENOENT] });
    if (res.code === ERRNO.ENOENT) return [];
    const st = JSON.parse(res.stdout) as { watchers?: { address: string }[] };
    return (st.watchers ?? []).map((w) => w.address);
  }

  /** Clients holding the image's exclusive lock: librbd takes it on a client's first write, and it outlives a lost watch. */
  async lockers(pool: string, image: string): Promise<string[]> {
    const res = await this.rbd(['lock', 'ls', '--format', 'json', spec(pool, image)], { expect: [ERRNO.ENOENT] });
    if (res.code === ERRNO.ENOENT) return [];
    const raw = JSON.parse(res.stdout || '[]') as { address?: string }[] | Record<string, { address?: string }>;
    return (Array.isArray(raw) ? raw : Object.values(raw)).flatMap((l) => (l.address ? [l.address] : []));
  }

  /**
   * Blocklists one client instance (`ip:port/nonce`, as `rbd status` prints it) for
   * `expireS`: the OSDs refuse every request of it from then on, while new clients
   * from the same machine work. `mon 'profile rbd'` allows it (Ceph's own lock breaking
   * does the same).
   */
  async blocklist(address: string, expireS: number): Promise<void> {
    await this.ceph(['osd', 'blocklist', 'add', address, String(expireS)]);
  }

  /** Blocklisted client instances (for tests and operators). */
  async blocklisted(): Promise<string[]> {
    const { stdout } = await this.ceph(['osd', 'blocklist', 'ls', '--format', 'json']);
    // Since 16.2.8 two arrays follow each other: the instances, then the address ranges.
    const lists = JSON.parse(`[${stdout.trim().replace(/\]\s*\[/g, '],[') || '[]'}]`) as { addr?: string }[][];
    return lists.flat().flatMap((e) => (e.addr ? [e.addr] : []));
  }

  // ---- snapshots and clones ----

  async snapList(pool: string, image: string): Promise<RbdSnapshot[]> {
    const res = await this.rbd(['snap', 'ls', '--format', 'json', spec(pool, image)]);
    const raw = JSON.parse(res.stdout || '[]') as { id: number; name: string; size: number; protected: string | boolean }[];
    return raw.map((s) => ({ id: s.id, name: s.name, size: s.size, protected: s.protected === true || s.protected === 'true' }));
  }

  async snapCreate(pool: string, image: string, snap: string): Promise<void> {
    await this.rbd(['snap', 'create', '--no-progress', spec(pool, image, snap)]);
  }

  /** Protects the snapshot; already protected is fine. */
  async snapProtect(pool: string, image: string, snap: string): Promise<void> {
    const res = await this.rbd(['snap', 'protect', spec(pool, image, snap)], { expect: [ERRNO.EBUSY] });
    if (res.code === ERRNO.EBUSY && !/already protected/.test(res.stderr)) throw this.failure('rbd', ['snap', 'protect'], res);
  }

  /**
   * Unprotects the snapshot; already unprotected or missing is fine. Returns false (and changes
   * nothing) when clones still depend on it.
   */
  async snapUnprotect(pool: string, image: string, snap: string): Promise<boolean> {
    const res = await this.rbd(['snap', 'unprotect', spec(pool, image, snap)], { expect: [ERRNO.EINVAL, ERRNO.ENOENT, ERRNO.EBUSY] });
    return res.code !== ERRNO.EBUSY;
  }

  /** Removes the snapshot; missing is fine. */
  async snapRemove(pool: string, image: string, snap: string): Promise<void> {
    await this.rbd(['snap', 'rm', '--no-progress', spec(pool, image, snap)], { expect: [ERRNO.ENOENT] });
  }

  /** Copy-on-write clone of a (protected) snapshot; false when the destination exists already. */
  async clone(src: { pool: string; image: string; snap: string }, dst: { pool: string; image: string }): Promise<boolean> {
    const res = await this.rbd(['clone', spec(src.pool, src.image, src.snap), spec(dst.pool, dst.image)], { expect: [ERRNO.EEXIST] });
    return res.code === 0;
  }

  /** Clones made from the snapshot (in any pool), including ones in the trash. */
  async children(pool: string, image: string, snap: string): Promise<RbdChild[]> {
    const res = await this.rbd(['children', '--all', '--format', 'json', spec(pool, image, snap)], { expect: [ERRNO.ENOENT] });
    if (res.code === ERRNO.ENOENT) return [];
    const raw = JSON.parse(res.stdout || '[]') as { pool: string; image: string }[];
    return raw.map((c) => ({ pool: c.pool, image: c.image }));
  }
}

const ALL_CODES = Array.from({ length: 256 }, (_, i) => i);

function isConnectFailure(stderr: string): boolean {
  const s = stderr.toLowerCase();
  return NOT_CONNECTED.some((m) => s.includes(m));
}

/** The last stderr line that is not a librados log line (those start with a timestamp). */
function lastMeaningfulLine(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^\d{4}-\d\d-\d\dT/.test(l));
  return lines.pop() ?? stderr.split('\n').pop() ?? '';
}
