import { BrokenCircuitError, CircuitState, type IDefaultPolicyContext } from 'cockatiel';
import { GRPCDeadlineExceededError, GRPCUnavailableError } from 'etcd3';

/** The pause between two probes of one silent member. */
const PROBE_EVERY_MS = 500;
/** How long a breaker refuses calls after three unreachable answers in a row. */
const REFUSE_MS = 2000;

/**
 * The member could not be reached: gRPC's own UNAVAILABLE (no connection, one
 * dropped). Not etcd's answers with that code ("etcdserver: leader changed",
 * "no leader"): those come from a live member during an election, which ends
 * for all members at once; counted, they opened every breaker together right
 * after a member's restart, and a call made then failed in 0.2 s although
 * two members were up.
 */
const unreachable = (err: unknown): boolean => err instanceof GRPCUnavailableError && !/etcdserver: /.test(err.message);

/** What a probe found: the member answered, or the client was closed (no more probes). */
export type ProbeResult = 'answered' | 'closed';

/**
 * One client's endpoints, as its breakers see them: which waited out a call's
 * whole deadline lately (silent: a member that froze, SIGSTOP or a stalled
 * disk, keeps its connections and answers nothing). A silent member is left
 * out only while another endpoint is neither silent nor refusing: with none
 * such, calls wait as they would without breakers.
 */
export class ClientEndpoints {
  private readonly breakers: EndpointBreaker[] = [];
  private readonly silent = new Set<string>();

  add(b: EndpointBreaker): void {
    this.breakers.push(b);
  }

  mark(endpoint: string): void {
    if (this.silent.has(endpoint)) return;
    this.silent.add(endpoint);
    for (const b of this.breakers) if (b.endpoint === endpoint) b.probeUntilAnswered();
  }

  /** The endpoints silent now. */
  silentNow(): string[] {
    return [...this.silent];
  }

  clear(endpoint: string): void {
    this.silent.delete(endpoint);
  }

  /** Some endpoint takes calls now. */
  anyCallable(): boolean {
    return this.breakers.some((b) => !b.refusing() && !this.avoids(b.endpoint));
  }

  /** How long until some endpoint takes calls: 0 when one does now, else when the first open breaker lets calls through again. */
  callableInMs(): number {
    return this.anyCallable() ? 0 : Math.min(...this.breakers.map((b) => b.refusingForMs()));
  }

  isSilent(endpoint: string): boolean {
    return this.silent.has(endpoint);
  }

  avoids(endpoint: string): boolean {
    return this.silent.has(endpoint) && this.breakers.some((b) => b.endpoint !== endpoint && !this.silent.has(b.endpoint) && !b.refusing());
  }
}

/**
 * One endpoint's circuit breaker, two ways open:
 * - after 3 unreachable answers in a row (not a live member's "leader
 *   changed") its calls fail at once (the client tries the next endpoint) for
 *   2 s; after that calls go through again, and the first unreachable one
 *   opens it anew;
 * - after a unary call waited out its whole deadline there (before, every call
 *   sent to a frozen member, one in three, waited its deadline for as long as
 *   it stayed frozen), calls are left to the others (ClientEndpoints.avoids)
 *   until a probe finds it answering: the read every call begins with, over
 *   the client's own connection to it with the token it holds (`probeWith`),
 *   one at a time, half a second after the last one failed, until it answers
 *   or the client is closed. So a member only slow for a moment (a follower
 *   waiting out an election) is back within a second.
 * A caller's own shorter deadline, other errors (an oversized answer) and a
 * refusal of our credentials open neither: one bad request must not take an
 * endpoint away from the rest. Not cockatiel's breaker: once half-open, that
 * one holds every call until its single trial call ends, and etcd3 makes a
 * trial that meets "invalid auth token" (a restarted member forgot the token)
 * call again from inside itself, onto any endpoint, this one included: the
 * trial then waits on itself, and every later call to that member with it,
 * forever.
 */
export class EndpointBreaker {
  private failures = 0;
  private openedAt = 0;
  private probing = false;
  private probe: ((deadlineMs: number) => Promise<ProbeResult>) | undefined;

  constructor(
    readonly endpoint: string,
    private readonly endpoints: ClientEndpoints,
    /** A unary call's own deadline (ms): one that failed on a deadline after nearly this long met a silent member. */
    private readonly callDeadlineMs: number,
  ) {
    endpoints.add(this);
  }

  /** How to ask this member whether it answers within a deadline (rejects while it does not). */
  probeWith(probe: (deadlineMs: number) => Promise<ProbeResult>): void {
    this.probe = probe;
  }

  /** Open after unreachable answers. */
  refusing(): boolean {
    return this.refusingForMs() > 0;
  }

  /** How much longer it stays open after unreachable answers (0: not open). */
  refusingForMs(): number {
    return this.failures >= 3 ? Math.max(0, this.openedAt + REFUSE_MS - Date.now()) : 0;
  }

  /** Read by tests, as cockatiel's breaker's. */
  get state(): CircuitState {
    return this.refusing() || this.endpoints.avoids(this.endpoint) ? CircuitState.Open : CircuitState.Closed;
  }

  async execute<T>(fn: (context: IDefaultPolicyContext) => PromiseLike<T> | T): Promise<T> {
    if (this.refusing() || this.endpoints.avoids(this.endpoint)) throw new BrokenCircuitError();
    const started = Date.now();
    try {
      const result = await fn({ signal: new AbortController().signal });
      this.failures = 0;
      // A stream (a watch, a keepalive) is returned before the member says anything: no answer.
      if (typeof (result as { on?: unknown } | undefined)?.on !== 'function') this.endpoints.clear(this.endpoint);
      return result;
    } catch (err) {
      if (unreachable(err) && ++this.failures >= 3) this.openedAt = Date.now();
      if (err instanceof GRPCDeadlineExceededError && Date.now() - started >= this.callDeadlineMs - 500) this.endpoints.mark(this.endpoint);
      throw err;
    }
  }

  /** Whether the member answers one probe within `deadlineMs` (false without a probe, or when the client is closed). */
  async answers(deadlineMs: number): Promise<boolean> {
    if (!this.probe) return false;
    return this.probe(deadlineMs).then(
      (found) => found === 'answered',
      () => false,
    );
  }

  /** Probes until the member answers (then it is no longer silent), it answers a call, or the client is closed. */
  probeUntilAnswered(): void {
    const probe = this.probe;
    if (!probe || this.probing) return;
    this.probing = true;
    const next = (): void => {
      if (!this.endpoints.isSilent(this.endpoint)) return void (this.probing = false);
      probe(this.callDeadlineMs).then(
        (found) => {
          this.probing = false;
          if (found === 'answered') this.endpoints.clear(this.endpoint);
        },
        () => void setTimeout(next, PROBE_EVERY_MS).unref(),
      );
    };
    next();
  }
}
