import { BrokenCircuitError, CircuitState, noop, type IDefaultPolicyContext } from 'cockatiel';
import { Etcd3, GRPCDeadlineExceededError, GRPCUnavailableError } from 'etcd3';
import { withTimeout } from '../common/timeout.js';

/** How long a probe of a silent member may take to answer. */
const PROBE_MS = 1000;
/** The least time between two probes of one silent member. */
const PROBE_EVERY_MS = 500;

/**
 * The endpoints of one client whose last call waited out its whole deadline
 * (a member that froze: SIGSTOP, a stalled disk; it keeps its connections and
 * answers nothing). Shared by the client's breakers so that when every member
 * is silent none is left out: calls then wait as they would without breakers.
 */
export class SilentMembers {
  private readonly silent = new Set<string>();

  constructor(private readonly count: number) {}

  mark(endpoint: string): void {
    this.silent.add(endpoint);
  }

  clear(endpoint: string): void {
    this.silent.delete(endpoint);
  }

  /** Calls to `endpoint` are left to the others: it is silent and some other is not. */
  avoids(endpoint: string): boolean {
    return this.silent.has(endpoint) && this.silent.size < this.count;
  }
}

export interface EndpointBreakerOptions {
  /** A unary call's own deadline (ms): a call that failed on it after nearly this long met a silent member. */
  callDeadlineMs: number;
  /** The key a probe reads (within what the client's etcd user may read). */
  probeKey: string;
  auth?: { username: string; password: string };
}

/**
 * One endpoint's circuit breaker, two ways open:
 * - after 3 unreachable answers in a row its calls fail at once (the client
 *   tries the next endpoint) for 2 s; after that calls go through again, and
 *   the first unreachable one opens it anew;
 * - after a call that waited out its whole deadline there (a member that froze
 *   does not refuse; without this, every third call waited a deadline for as
 *   long as it stayed frozen), calls are left to the other members until a
 *   probe of this one, the read every call begins with (a linearizable get, on
 *   a client of its own), answers within a second. A probe is sent when a call
 *   would have gone there, one at a time, at most every half second, so a quiet
 *   client sends none; a slow call to a healthy member costs a probe's round
 *   trip. Deadlines a caller set itself, other errors (an oversized answer) and
 *   a refusal of our credentials open neither: one bad request must not take
 *   an endpoint away from the rest.
 * Not cockatiel's breaker: once half-open, that one holds every call until its
 * single trial call ends, and etcd3 makes a trial that meets "invalid auth
 * token" (a restarted member forgot the token) call again from inside itself,
 * onto any endpoint, this one included: the trial then waits on itself, and
 * every later call to that member with it, forever.
 */
export class EndpointBreaker {
  private failures = 0;
  private openedAt = 0;
  private probing = false;
  private probedAt = -Infinity;

  constructor(
    private readonly endpoint: string,
    private readonly silent: SilentMembers,
    private readonly opts: EndpointBreakerOptions,
  ) {}

  /** Read by tests, as cockatiel's breaker's. */
  get state(): CircuitState {
    if (this.silent.avoids(this.endpoint)) return CircuitState.Open;
    return this.failures >= 3 && Date.now() - this.openedAt < 2000 ? CircuitState.Open : CircuitState.Closed;
  }

  async execute<T>(fn: (context: IDefaultPolicyContext) => PromiseLike<T> | T): Promise<T> {
    if (this.state === CircuitState.Open) {
      if (this.silent.avoids(this.endpoint)) this.probe();
      throw new BrokenCircuitError();
    }
    const started = Date.now();
    try {
      const result = await fn({ signal: new AbortController().signal });
      this.failures = 0;
      this.silent.clear(this.endpoint);
      return result;
    } catch (err) {
      if (err instanceof GRPCUnavailableError && ++this.failures >= 3) this.openedAt = Date.now();
      if (err instanceof GRPCDeadlineExceededError && Date.now() - started >= this.opts.callDeadlineMs - 500) this.silent.mark(this.endpoint);
      throw err;
    }
  }

  private probe(): void {
    if (this.probing || Date.now() - this.probedAt < PROBE_EVERY_MS) return;
    this.probing = true;
    this.probedAt = Date.now();
    // A client per probe, closed after it: nothing is left open for a member that stays frozen.
    const client = new Etcd3({ hosts: [this.endpoint], dialTimeout: PROBE_MS, ...(this.opts.auth ? { auth: this.opts.auth } : {}), faultHandling: { host: () => noop, global: noop } });
    withTimeout(client.get(this.opts.probeKey).exec(), PROBE_MS, () => new Error('no answer'))
      .then(
        () => this.silent.clear(this.endpoint),
        () => undefined,
      )
      .finally(() => {
        this.probing = false;
        client.close();
      });
  }
}
