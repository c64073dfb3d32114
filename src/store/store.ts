import { once } from 'node:events';
import { isBrokenCircuitError, type IDefaultPolicyContext, type IPolicy } from 'cockatiel';
import { castGrpcError, Etcd3, GRPCDeadlineExceededError, GRPCResourceExhastedError, GRPCUnavailableError, isRecoverableError, Range, type IKeyValue, type Lease, type Namespace } from 'etcd3';
import type { Static, TSchema } from 'typebox';
import { Compile, type Validator } from 'typebox/compile';
import { UcloudError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { Histogram, LATENCY_BUCKETS, type Registry } from '../common/metrics.js';
import type { RecordKind } from './keys.js';
import { withTimeout } from '../common/timeout.js';
import { writeJournal } from './write-log.js';
import { ClientEndpoints, EndpointBreaker } from './endpoint-breaker.js';
import { poolOf } from './etcd3-pool.js';
import { closeWatch, watchSession, type WatchSession, type WatchSessionOptions } from './watch-session.js';

export interface Versioned<T> {
  key: string;
  value: T;
  /** etcd's mod revision: the compare-and-swap token for this record. */
  modRevision: string;
}

export const DELETE = Symbol('delete');

const validators = new WeakMap<TSchema, Validator>();
function validatorOf(schema: TSchema): Validator {
  let v = validators.get(schema);
  if (!v) {
    v = Compile(schema) as unknown as Validator;
    validators.set(schema, v);
  }
  return v;
}

/** Every record is checked against its schema on the way in and on the way out. */
export function checkRecord<S extends TSchema>(kind: RecordKind<S>, key: string, value: unknown, direction: 'read' | 'write'): Static<S> {
  const v = validatorOf(kind.schema);
  if (!v.Check(value)) {
    const first = [...v.Errors(value)][0] as { instancePath?: string; message?: string } | undefined;
    throw new UcloudError('INTERNAL', `${direction === 'read' ? 'corrupt' : 'invalid'} ${kind.kind} record at ${key}`, {
      details: { key, problem: `${first?.instancePath ?? ''} ${first?.message ?? ''}`.trim() },
    });
  }
  return value as Static<S>;
}

function isEtcdDown(err: unknown): boolean {
  const name = (err as Error | undefined)?.name ?? '';
  const msg = (err as Error | undefined)?.message ?? '';
  if (isBrokenCircuitError(err)) return true; // every endpoint's breaker is open: all were unreachable just now
  // etcd3's error classes do not set their names.
  if (err instanceof GRPCUnavailableError || err instanceof GRPCDeadlineExceededError) return true;
  return (
    /GRPC(ConnectFailed|Unavailable|DeadlineExceeded)|ClientRuntime|EtcdLeaseInvalid/.test(name) ||
    // A member without a quorum: its server-side timeouts, as etcd words them.
    /ECONNREFUSED|No connection established|failed to connect|deadline exceeded|etcdserver: (request timed out|leader changed|no leader)/i.test(msg)
  );
}

/** etcd refusing who we are (no credentials, wrong ones, or a user without access) as a catalogue error. */
function authError(err: unknown): UcloudError | undefined {
  const msg = (err as Error | undefined)?.message ?? '';
  if (/user name is empty/.test(msg)) return new UcloudError('ETCD_AUTH_REQUIRED', 'etcd requires credentials and none were sent', { cause: err });
  if (/authentication failed|invalid user ID or password|user name not found/.test(msg)) return new UcloudError('ETCD_AUTH_FAILED', 'etcd refused the user and password', { cause: err });
  if (/permission denied/.test(msg)) return new UcloudError('ETCD_AUTH_FAILED', "etcd's user may not access ucloud's keys", { cause: err });
  return undefined;
}

/** What an etcd call did, for its latency's `op` label: a few fixed names, never a key. */
export type EtcdOp = 'get' | 'range' | 'put' | 'delete' | 'txn' | 'watch' | 'lease' | 'other';

let etcdLatency: Histogram<'op' | 'outcome'> | undefined;

/**
 * Times every etcd call of this process from now on, in `registry` (one per
 * daemon process: src/store/daemon.ts). Retries and failover to another
 * endpoint are inside one call: the figure is what the caller waited.
 */
export function measureEtcd(registry: Registry): void {
  etcdLatency = new Histogram({
    name: 'ucloud_etcd_request_duration_seconds',
    help: 'Round trip of one etcd call as its caller waited for it (retries included), by operation and outcome (ok, error).',
    labelNames: ['op', 'outcome'],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
}

/** Runs an etcd call, turning "etcd is not there" into ETCD_UNAVAILABLE and a refusal into ETCD_AUTH_*. */
export async function call<T>(fn: () => Promise<T>, op: EtcdOp = 'other'): Promise<T> {
  const end = etcdLatency?.startTimer({ op });
  try {
    const res = await fn();
    end?.({ outcome: 'ok' });
    return res;
  } catch (err) {
    end?.({ outcome: 'error' });
    if (err instanceof UcloudError) throw err;
    const refused = authError(err);
    if (refused) throw refused;
    if (isEtcdDown(err)) throw new UcloudError('ETCD_UNAVAILABLE', 'etcd is unreachable', { cause: err });
    throw err;
  }
}

/** One compare-and-swap transaction: all compares hold and every op applies, or nothing does. */
export class Txn {
  private compares: { key: string; target: 'Mod' | 'Create'; value: string | number; cmp: '==' | '>' }[] = [];
  private ops: ((ns: Namespace) => ReturnType<Namespace['put']> | ReturnType<ReturnType<Namespace['delete']>['key']>)[] = [];
  private readonly written: string[] = [];
  /** What each put writes, as stored: how a commit tells its own earlier attempt (`witness`). */
  private readonly texts = new Map<string, string>();
  /** The store revision the last commit answered at: the new revision when it succeeded, the current one when not. */
  revision: string | undefined;

  constructor(private readonly ns: Namespace) {}

  private bytes = 0;

  /**
   * How many compares and ops it holds, and the bytes of its keys and values:
   * etcd refuses a transaction with more than --max-txn-ops (128) of either, or
   * larger than --max-request-bytes (1.5 MiB).
   */
  size(): { compares: number; ops: number; bytes: number } {
    return { compares: this.compares.length, ops: this.ops.length, bytes: this.bytes };
  }

  /** The record is unchanged since it was read at `modRevision`. */
  unchanged(v: Versioned<unknown>): this {
    this.compares.push({ key: v.key, target: 'Mod', value: v.modRevision, cmp: '==' });
    return this;
  }

  /** The key holds nothing (it was never created, or it was deleted). */
  absent(key: string): this {
    this.compares.push({ key, target: 'Create', value: 0, cmp: '==' });
    return this;
  }

  /** The key exists, whatever its value. */
  present(key: string): this {
    this.compares.push({ key, target: 'Create', value: 0, cmp: '>' });
    return this;
  }

  /** `lease`: the key vanishes with it (a Lease, or a granted lease's id). */
  put<S extends TSchema>(kind: RecordKind<S>, key: string, value: Static<S>, lease?: Lease | string): this {
    const text = JSON.stringify(checkRecord(kind, key, value, 'write'));
    this.ops.push((ns) => (typeof lease === 'string' ? ns.put(key).value(text).lease(lease) : lease ? lease.put(key).value(text) : ns.put(key).value(text)) as ReturnType<Namespace['put']>);
    this.written.push(key);
    this.texts.set(key, text);
    this.bytes += key.length + text.length;
    return this;
  }

  delete(key: string): this {
    this.ops.push((ns) => ns.delete().key(key));
    this.written.push(key);
    return this;
  }

  /**
   * Applies the transaction; false when a compare failed. `witness`: a key
   * this transaction puts a record no other writer makes byte for byte (a fresh
   * time, a random id or hash). The etcd client sends an attempt again when its
   * answer was lost (RetryWithin), and that repeat's compares fail on the first
   * attempt's own writes: a failed commit whose witness holds what this put
   * there is the first attempt's success, and answers true.
   */
  async commit(opts: { witness?: string } = {}): Promise<boolean> {
    const [first, ...rest] = this.compares;
    if (!first) throw new UcloudError('INTERNAL', 'a transaction needs at least one compare');
    let b = this.ns.if(first.key, first.target, first.cmp, first.value);
    for (const c of rest) b = b.and(c.key, c.target, c.cmp, c.value);
    const ops = this.ops.map((op) => op(this.ns));
    const res = await call(() => b.then(...(ops as never[])).commit(), 'txn');
    this.revision = res.header.revision;
    // A delete of a key already gone changes nothing and makes no event: a cache would wait for it in vain.
    if (!res.succeeded) return opts.witness !== undefined && (await this.landed(opts.witness));
    writeJournal.record(res.header.revision, this.written.filter((_, i) => res.responses[i]?.response_delete_range?.deleted !== '0'));
    return true;
  }

  /** Whether `witness` holds what this transaction put there; then its writes go to the journal as a commit's do (a request's caches wait for them). */
  private async landed(witness: string): Promise<boolean> {
    const text = this.texts.get(witness);
    if (text === undefined) throw new UcloudError('INTERNAL', `the witness ${witness} is not a key the transaction puts`);
    const kv = (await call(() => this.ns.get(witness).exec(), 'get')).kvs[0];
    if (kv?.value.toString() !== text) return false;
    writeJournal.record(kv.mod_revision, this.written);
    this.revision = kv.mod_revision;
    return true;
  }
}

export interface StoreOptions {
  endpoints: string[];
  prefix: string;
  /** Where records skipped for failing their schema are reported (default: nowhere). */
  log?: Pick<Logger, 'error'>;
  /** etcd user and password (see src/store/etcd-auth.ts); without them no credentials are sent. */
  auth?: { username: string; password: string };
}

/** Records in `list`'s first range read: well below the client's 4 MiB answer limit for records of a few KiB. */
const LIST_PAGE = 256;
/**
 * What `list` aims each later page at: as many records as fit this many bytes
 * at the last page's average record (at most LIST_PAGE_MAX, and at most a
 * ceiling that a page past the client's answer limit quarters, and that each
 * page read doubles back). etcd 3.4 walks its index over the whole rest of a
 * range for every page, whatever its limit (3.5 stops at the limit), so
 * listing 100,000 VMs in pages of 256 made it visit 20 million keys: the
 * scheduler's start took 22 s and a backfill beside placement took half of
 * etcd's CPU.
 */
const LIST_PAGE_BYTES = 1 << 20;
const LIST_PAGE_MAX = 8192;
/** Single gets `getEach` has in flight at once. */
const GETS_AT_ONCE = 64;

/**
 * How long one attempt of a unary call may take. Without it a call to a member
 * that lost its leader waits etcd's own request timeout (7 s with the default
 * election timeout) and, with no quorum anywhere, a client could wait forever
 * (an auth token request did). Streams (watches, lease keep-alives) have none.
 */
const ETCD_CALL_DEADLINE_MS = 3000;
/** How long a new watch may take to start before its client is closed and the caller told ETCD_UNAVAILABLE. */
const WATCH_START_MS = 3 * ETCD_CALL_DEADLINE_MS;
/**
 * How long after a call's first attempt a failed one is still sent again. A
 * budget of time, not of attempts: attempts on a dead member, or on one whose
 * breaker is open, fail at once, and the three a call had could all be spent
 * before a killed leader's successor was elected (1-2 s). With no quorum the
 * last attempt starts before 5 s and waits at most one deadline (and one auth
 * token request): ETCD_UNAVAILABLE within ~10 s.
 */
const ETCD_RETRY_WITHIN_MS = 5000;
/**
 * gRPC's wait before it connects again to an endpoint that refused it, at most
 * (its default grows ×1.6 up to 2 min): a member back from a restart is reached
 * within ~1 s. Until then every call to it failed at once ("No connection
 * established. Last error: null", its breaker opening too): a cluster whose
 * quorum had come back seemed unreachable once any other member was lost, the
 * leader say.
 */
const ETCD_RECONNECT_MAX_MS = 1000;
const GRPC_OPTIONS = { 'grpc.max_reconnect_backoff_ms': ETCD_RECONNECT_MAX_MS };

/**
 * The client's retries: a failed attempt that may pass (not an answer too large
 * or a caller's own deadline, which would only repeat) is sent again, on the
 * next endpoint, after 200 ms, 400 ms, 800 ms, then every second (200 ms
 * again after an attempt that waited a second or more); one refused by every
 * endpoint's breaker (an attempt tries as many endpoints as there are, in a
 * shuffled order that may repeat one) likewise, but not before some
 * endpoint takes calls again (a breaker opened by unreachable answers lets
 * calls through 2 s later), until
 * ETCD_RETRY_WITHIN_MS after the call's first attempt. etcd3 makes a call that
 * met "invalid auth token" (a restarted member forgot it) again from inside
 * the attempt, through this policy, with a budget of its own: that is rare
 * (once per member restart) and bounded. Not an AsyncLocalStorage
 * to share the budget: on Node 20 one turns on async hooks for every promise
 * of the process, a tenth of the API's time per cached read.
 */
const NO_ABORT = { signal: new AbortController().signal };

export class RetryWithin {
  constructor(private readonly endpoints: ClientEndpoints) {}

  async execute<T>(fn: (context: IDefaultPolicyContext) => PromiseLike<T> | T): Promise<T> {
    const until = Date.now() + ETCD_RETRY_WITHIN_MS;
    for (let delay = 200; ; delay = Math.min(2 * delay, 1000)) {
      const started = Date.now();
      try {
        return await fn(NO_ABORT);
      } catch (err) {
        const waited = Date.now() - started;
        // A deadline met sooner than an attempt's own is one the caller set (options({ deadline })): every repeat would meet it.
        const callersDeadline = err instanceof GRPCDeadlineExceededError && waited < ETCD_CALL_DEADLINE_MS - 500;
        // Only quick failures back off: after one that waited (for a leader, say) the next endpoint is tried soon.
        if (waited >= 1000) delay = 200;
        // Refused by every endpoint it tried (as many tries as endpoints, in a shuffled order that may repeat one):
        // again after the same pause, and not before some endpoint takes calls.
        const refused = isBrokenCircuitError(err);
        const again = refused || (isRecoverableError(err as Error) && !(err instanceof GRPCResourceExhastedError) && !callersDeadline);
        const wait = Math.max(delay, refused ? this.endpoints.callableInMs() : 0);
        if (!again || Date.now() + wait >= until) throw err;
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }
}

type AuthService = { authenticate(req: { name: string; password: string }, options: object, done: (err: Error | null, res?: { token: string }) => void): void };
type KVService = { range(req: { key: Buffer }, metadata: unknown, options: object, done: (err: Error | null) => void): void };
const isSilence = (err: Error) => err instanceof GRPCDeadlineExceededError || err instanceof GRPCUnavailableError;

/** How long a member whose watch went silent has to answer a read before the watch is given up. */
const WATCH_CONFIRM_MS = 1500;

/** Whether `endpoint`'s member answers a read over `client`'s own connection to it within WATCH_CONFIRM_MS. */
async function askOverPool(client: Etcd3, endpoint: string): Promise<boolean> {
  const host = poolOf(client, 'askOverPool').hosts.find((h) => h.faultHandling instanceof EndpointBreaker && h.faultHandling.endpoint === endpoint);
  return host ? (host.faultHandling as EndpointBreaker).answers(WATCH_CONFIRM_MS) : false;
}

/**
 * Each endpoint's breaker probes a silent member with the read every call
 * begins with, over the pool's own connection to it and with the token the
 * client holds: no connection or token request of its own to leak when the
 * member stays frozen. Any answer but a deadline or "unavailable" is one.
 */
function probeOverPool(client: Etcd3, key: string): void {
  const pool = poolOf(client, 'probeOverPool');
  for (const host of pool.hosts) {
    if (!(host.faultHandling instanceof EndpointBreaker)) throw new Error('etcd3 internals changed: probeOverPool (src/store/store.ts) needs review');
    host.faultHandling.probeWith(async (deadlineMs) => {
      if (host.closed) return 'closed';
      const metadata = await withTimeout(pool.authenticator.getMetadata(), deadlineMs, () => new Error('no token'));
      if (host.closed) return 'closed';
      return new Promise<'answered'>((resolve, reject) =>
        (host.getServiceClient('KV') as KVService).range({ key: Buffer.from(key) }, metadata, { deadline: Date.now() + deadlineMs }, (err) =>
          err && isSilence(castGrpcError(err)) ? reject(err) : resolve('answered'),
        ),
      );
    });
  }
}

/**
 * etcd3 asks for an auth token on a gRPC client of its own, one per request,
 * made without the client's grpcOptions: gRPC's default reconnect backoff kept
 * a member back from a restart unreachable there for seconds, and every token
 * request failed at once. The request goes over the endpoint's own connection.
 */
function authenticateOverPool(client: Etcd3): void {
  const pool = poolOf(client, 'authenticateOverPool');
  pool.authenticator.getCredentialsFromHost = (address, name, password, options) =>
    new Promise((resolve, reject) => {
      const host = pool.hosts.find((h) => h.host === address);
      if (!host) return reject(new Error(`no etcd endpoint ${address}`));
      (host.getServiceClient('Auth') as AuthService).authenticate({ name, password }, options ?? {}, (err, res) => (err ? reject(castGrpcError(err)) : resolve(res!.token)));
    });
}

/**
 * A client whose breakers leave out only an endpoint that cannot be reached
 * or that answers nothing (src/store/endpoint-breaker.ts). By default etcd3
 * counts every "recoverable" failure, an oversized answer (RESOURCE_EXHAUSTED)
 * and a timed-out call included, and after three of them fails every call for
 * 5 s: one bad request took the whole API down with it. With several
 * endpoints a dead or frozen member's calls fail over to the next one; with
 * no quorum a call fails as ETCD_UNAVAILABLE within ~10 s (ETCD_RETRY_WITHIN_MS);
 * a leader's election is waited out.
 */
function newClient(opts: StoreOptions, endpoints = new ClientEndpoints()): Etcd3 {
  const client = new Etcd3({
    hosts: opts.endpoints,
    dialTimeout: 3000,
    grpcOptions: GRPC_OPTIONS,
    ...(opts.auth ? { auth: opts.auth } : {}),
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + ETCD_CALL_DEADLINE_MS }),
    faultHandling: {
      // A member that comes back is tried again within 2 s: a call that finds every breaker open waits for the first to close, within its budget.
      host: (endpoint) => new EndpointBreaker(endpoint, endpoints, ETCD_CALL_DEADLINE_MS) as unknown as IPolicy<IDefaultPolicyContext>,
      global: new RetryWithin(endpoints) as unknown as IPolicy<IDefaultPolicyContext>,
    },
  });
  authenticateOverPool(client);
  probeOverPool(client, `${opts.prefix}ping`);
  return client;
}

/** How many skipped (key, revision) pairs are remembered, so a bad record is logged once, not on every list. */
const REPORTED_MAX = 10_000;

/** Typed, validated access to ucloud's records under one etcd prefix. */
export class Store {
  readonly client: Etcd3;
  readonly ns: Namespace;
  /** What the client's breakers know of each member: a frozen one found by a call or by a watch. */
  private readonly endpoints = new ClientEndpoints();

  constructor(readonly opts: StoreOptions) {
    this.client = newClient(opts, this.endpoints);
    this.ns = this.client.namespace(opts.prefix);
  }

  /** The members a call or a watch found answering nothing, until a probe finds them answering (src/store/endpoint-breaker.ts). */
  silentMembers(): string[] {
    return this.endpoints.silentNow();
  }


  close(): void {
    this.client.close();
  }

  /**
   * A watch on `prefix` from `startRevision`, on a connection of its own that
   * `close` ends. etcd3 opens a watch stream with the auth token it holds at
   * that moment and never renews it: once etcd restarts (a single member's
   * tokens die with it) or the token expires, every watch created on that
   * stream is canceled with "invalid auth token", and the first such cancel
   * stalls its queue so later watches on it never start at all. A fresh
   * client per watch authenticates anew and carries one watch, so a broken
   * watch is replaced by closing its client and opening another.
   */
  async watch(prefix: string, startRevision: string, opts: WatchSessionOptions = {}): Promise<WatchSession> {
    // Not on a member found frozen, by a watch or a call, until it answers again: etcd3 would pick it one time in three.
    const client = newClient({ ...this.opts, endpoints: this.opts.endpoints.filter((e) => !this.endpoints.avoids(e)) });
    const watcher = client.namespace(this.opts.prefix).watch().prefix(prefix).startRevision(startRevision).watcher();
    let timer: NodeJS.Timeout | undefined;
    try {
      // etcd3 keeps reconnecting a watch stream that cannot start (no quorum, a member still restarting or
      // frozen) and waits through all of it: bounded here, so the caller retries on a fresh client.
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new UcloudError('ETCD_UNAVAILABLE', `a watch on ${prefix} did not start within ${WATCH_START_MS} ms`)), WATCH_START_MS);
      });
      await call(() => Promise.race([once(watcher, 'connected'), late]), 'watch');
      // Silence confirmed over the watch's own connection: a member that answers a read there is alive and so is the connection.
      const answers = (endpoint: string) => askOverPool(client, endpoint);
      const callers = opts.onSilent;
      // The member is then left out of the store's calls and new watches until a probe finds it answering.
      const onSilent = (endpoint: string | undefined, silentMs: number) => {
        if (endpoint) this.endpoints.mark(endpoint);
        callers?.(endpoint, silentMs);
      };
      return watchSession(watcher, client, this.opts.endpoints, { answers, ...(callers ? { onSilent } : {}) });
    } catch (err) {
      // Canceled too: a watcher left attached would have its closed client's manager retry it for ever.
      closeWatch(watcher, client);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  /** The store's revision now: a watch from the one after it sees every later change. */
  async revision(): Promise<string> {
    const res = await call(() => this.ns.get('ping').exec(), 'get');
    return res.header.revision;
  }

  /**
   * At most `limit` records under `prefix` whose keys sort after `after` (a key
   * relative to the prefix), in key order; `more`: some follow the last one.
   * Records that fail their schema are skipped as in `list`.
   */
  async range<S extends TSchema>(kind: RecordKind<S>, prefix: string, after: string | undefined, limit: number): Promise<{ items: Versioned<Static<S>>[]; more: boolean; lastKey: string | undefined }> {
    // A cursor is the client's to send back: one that points outside the prefix would read other keys.
    if (after !== undefined && !after.startsWith(prefix)) throw new UcloudError('INVALID_CURSOR', 'the cursor does not belong to this list');
    const start = after === undefined ? Buffer.from(prefix) : Buffer.concat([Buffer.from(after), Buffer.from([0])]);
    const res = await call(() => this.ns.getAll().inRange(new Range(start, Range.prefix(prefix).end)).limit(limit).exec(), 'range');
    const items: Versioned<Static<S>>[] = [];
    for (const kv of res.kvs) {
      try {
        items.push(this.parse(kind, kv));
      } catch (err) {
        this.reportSkipped(kv, err);
      }
    }
    const last = res.kvs[res.kvs.length - 1];
    return { items, more: res.more, lastKey: last ? this.relativeKey(last.key) : undefined };
  }

  /** One read, so a daemon fails at start (unreachable, no or wrong credentials) rather than at its first real call. */
  async ping(): Promise<void> {
    await call(() => this.ns.get('ping').exec(), 'get');
  }

  /**
   * Keys relative to the prefix. etcd3's namespace strips the prefix from range
   * answers but not from single gets or watch events, so every key passes here.
   */
  relativeKey(raw: Buffer): string {
    const key = raw.toString();
    return key.startsWith(this.opts.prefix) ? key.slice(this.opts.prefix.length) : key;
  }

  parse<S extends TSchema>(kind: RecordKind<S>, kv: IKeyValue): Versioned<Static<S>> {
    const key = this.relativeKey(kv.key);
    let value: unknown;
    try {
      value = JSON.parse(kv.value.toString());
    } catch {
      throw new UcloudError('INTERNAL', `corrupt ${kind.kind} record at ${key}: not JSON`);
    }
    return { key, value: checkRecord(kind, key, value, 'read'), modRevision: kv.mod_revision };
  }

  async get<S extends TSchema>(kind: RecordKind<S>, key: string): Promise<Versioned<Static<S>> | undefined> {
    const res = await call(() => this.ns.get(key).exec(), 'get');
    const kv = res.kvs[0];
    return kv ? this.parse(kind, kv) : undefined;
  }

  /**
   * The records at `keys` (those present), read `GETS_AT_ONCE` at a time; as in
   * `list`, one that fails its schema is left out and reported, never fatal.
   */
  async getEach<S extends TSchema>(kind: RecordKind<S>, keys: readonly string[]): Promise<Versioned<Static<S>>[]> {
    const out: Versioned<Static<S>>[] = [];
    for (let i = 0; i < keys.length; i += GETS_AT_ONCE) {
      const answers = await Promise.all(keys.slice(i, i + GETS_AT_ONCE).map((k) => call(() => this.ns.get(k).exec(), 'get')));
      for (const kv of answers.map((a) => a.kvs[0])) {
        if (!kv) continue;
        try {
          out.push(this.parse(kind, kv));
        } catch (err) {
          this.reportSkipped(kv, err);
        }
      }
    }
    return out;
  }

  /**
   * All records under a key prefix, and the store revision they were read at (to
   * watch from). A record that fails its schema is left out (and named in
   * `skipped`), never fatal: one bad record must not stall every list, the
   * scheduler or an agent. It is logged once per key and revision.
   */
  async list<S extends TSchema>(kind: RecordKind<S>, prefix: string): Promise<{ items: Versioned<Static<S>>[]; revision: string; skipped: string[] }> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.listPaged(kind, prefix);
      } catch (err) {
        // A compaction between two pages: read the whole prefix again at a newer revision.
        if (attempt >= 3 || !/required revision has been compacted/.test((err as Error).message)) throw err;
      }
    }
  }

  /**
   * A prefix in pages (of LIST_PAGE records, then sized by LIST_PAGE_BYTES), every page read at the first one's
   * revision, so the whole is one consistent snapshot however large the prefix
   * grows: one range over all of it would outgrow the client's 4 MiB answer
   * limit at a few thousand VMs.
   */
  private async listPaged<S extends TSchema>(kind: RecordKind<S>, prefix: string): Promise<{ items: Versioned<Static<S>>[]; revision: string; skipped: string[] }> {
    const items: Versioned<Static<S>>[] = [];
    const skipped: string[] = [];
    const end = Range.prefix(prefix).end;
    let start = Buffer.from(prefix);
    let revision: string | undefined;
    let limit = LIST_PAGE;
    let ceiling = LIST_PAGE_MAX;
    for (;;) {
      const range = this.ns.getAll().inRange(new Range(start, end)).limit(limit);
      if (revision !== undefined) range.revision(revision);
      let res: Awaited<ReturnType<typeof range.exec>>;
      try {
        res = await call(() => range.exec(), 'range');
      } catch (err) {
        // Records larger than the last page's made this one outgrow the client's answer limit: the same page, smaller.
        if (!(err instanceof GRPCResourceExhastedError) || limit === 1) throw err;
        limit = ceiling = Math.max(1, limit >> 2);
        continue;
      }
      revision ??= res.header.revision;
      let bytes = 0;
      for (const kv of res.kvs) bytes += kv.key.length + kv.value.length;
      ceiling = Math.min(LIST_PAGE_MAX, ceiling * 2);
      limit = Math.min(ceiling, Math.max(1, Math.floor((LIST_PAGE_BYTES * res.kvs.length) / Math.max(1, bytes))));
      for (const kv of res.kvs) {
        try {
          items.push(this.parse(kind, kv));
        } catch (err) {
          skipped.push(this.relativeKey(kv.key));
          this.reportSkipped(kv, err);
        }
      }
      const last = res.kvs[res.kvs.length - 1];
      if (!res.more || !last) return { items, revision, skipped };
      start = Buffer.concat([last.key, Buffer.from([0])]);
    }
  }

  private readonly reported = new Set<string>();

  /** Logs a record that fails its schema, once per key and mod revision. */
  reportSkipped(kv: IKeyValue, err: unknown): void {
    const id = `${this.relativeKey(kv.key)}@${kv.mod_revision}`;
    if (this.reported.has(id)) return;
    if (this.reported.size >= REPORTED_MAX) this.reported.clear();
    this.reported.add(id);
    this.opts.log?.error({ err, key: this.relativeKey(kv.key), modRevision: kv.mod_revision }, 'skipping a record that fails its schema');
  }

  /** Creates the record only if the key is absent; false when it already exists. */
  async create<S extends TSchema>(kind: RecordKind<S>, key: string, value: Static<S>): Promise<boolean> {
    return this.txn().absent(key).put(kind, key, value).commit();
  }

  /** `lease`: the key vanishes with it (a Lease, or a lease id such as a PresenceLease's). */
  async put<S extends TSchema>(kind: RecordKind<S>, key: string, value: Static<S>, lease?: Lease | string): Promise<void> {
    const text = JSON.stringify(checkRecord(kind, key, value, 'write'));
    const res = await call(() => (typeof lease === 'string' ? this.ns.put(key).value(text).lease(lease).exec() : lease ? lease.put(key).value(text).exec() : this.ns.put(key).value(text).exec()), 'put');
    writeJournal.record(res.header.revision, [key]);
  }

  /** Deletes every key under `prefix` (one request; for records nothing compares against, e.g. a gone user's events). */
  async deletePrefix(prefix: string): Promise<void> {
    if (!prefix.endsWith('/')) throw new Error(`deletePrefix wants a prefix ending in "/", not ${JSON.stringify(prefix)}`);
    await call(() => this.ns.delete().prefix(prefix).exec(), 'delete');
  }

  async delete(key: string): Promise<void> {
    const res = await call(() => this.ns.delete().key(key).exec(), 'delete');
    if (res.deleted !== '0') writeJournal.record(res.header.revision, [key]);
  }

  txn(): Txn {
    return new Txn(this.ns);
  }

  /**
   * Read-modify-write with compare-and-swap, retried when someone else wrote in
   * between. `fn` returns the new value, `undefined` to leave the record as it is,
   * or DELETE. Returns the record as finally stored (undefined if absent/deleted).
   */
  async update<S extends TSchema>(
    kind: RecordKind<S>,
    key: string,
    fn: (current: Static<S> | undefined) => Static<S> | undefined | typeof DELETE,
    opts: { attempts?: number } = {},
  ): Promise<Static<S> | undefined> {
    const attempts = opts.attempts ?? 20;
    for (let i = 0; i < attempts; i++) {
      const cur = await this.get(kind, key);
      const next = fn(cur ? structuredClone(cur.value) : undefined);
      if (next === undefined) return cur?.value;
      const t = this.txn();
      if (cur) t.unchanged(cur);
      else t.absent(key);
      if (next === DELETE) t.delete(key);
      else t.put(kind, key, next);
      if (await t.commit()) return next === DELETE ? undefined : next;
    }
    throw new UcloudError('CONFLICT', `${kind.kind} ${key} kept changing; gave up after ${attempts} attempts`);
  }

  /**
   * A connection of its own under the prefix, for long-lived work that holds
   * watches (an election's candidate): a broken auth token there, see `watch`,
   * is mended by closing it and opening another. `close` ends it.
   */
  connection(): { ns: Namespace; close(): void } {
    const client = newClient(this.opts);
    return { ns: client.namespace(this.opts.prefix), close: () => client.close() };
  }

  /**
   * A lease; its keys vanish when it ends. Kept alive by the client (until this
   * process dies) unless `keepAlive` is false: then it ends after `ttlMs`.
   */
  lease(ttlMs: number, opts: { keepAlive?: boolean } = {}): Lease {
    return this.ns.lease(Math.max(1, Math.round(ttlMs / 1000)), { autoKeepAlive: opts.keepAlive ?? true });
  }

  /** Deletes a record and returns what it held, atomically: a single-use token can be used once. */
  async take<S extends TSchema>(kind: RecordKind<S>, key: string): Promise<Static<S> | undefined> {
    const prev = await call(() => this.ns.delete().key(key).getPrevious(), 'delete');
    return prev[0] ? this.parse(kind, prev[0]).value : undefined;
  }
}
