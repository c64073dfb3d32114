import { EventEmitter } from 'node:events';
import { BrokenCircuitError, CircuitState, isBrokenCircuitError } from 'cockatiel';
import { GRPCDeadlineExceededError, GRPCResourceExhastedError, GRPCUnavailableError } from 'etcd3';
import { describe, expect, it } from 'vitest';
import { ClientEndpoints, EndpointBreaker } from '../../src/store/endpoint-breaker.js';
import { RetryWithin } from '../../src/store/store.js';
import { until } from '../helpers/cluster.js';

// A call's own deadline of 1 s: one that failed on a deadline after 500 ms or more waited it out.
const DEADLINE_MS = 1000;
const { Open, Closed } = CircuitState;

const failAfter = (ms: number, err: Error) => () => new Promise<never>((_, reject) => setTimeout(() => reject(err), ms));
const waitedOut = (b: EndpointBreaker) => expect(b.execute(failAfter(600, new GRPCDeadlineExceededError('deadline')))).rejects.toThrow(GRPCDeadlineExceededError);
const unreachable = async (b: EndpointBreaker) => {
  for (let i = 0; i < 3; i++) await expect(b.execute(failAfter(0, new GRPCUnavailableError('unreachable')))).rejects.toThrow(GRPCUnavailableError);
};

function breakers(endpoints = ['a', 'b', 'c'], all = new ClientEndpoints()): EndpointBreaker[] {
  return endpoints.map((e) => {
    const b = new EndpointBreaker(e, all, DEADLINE_MS);
    // As a closed client's: no probe loops left behind by these tests.
    b.probeWith(() => Promise.resolve('closed' as const));
    return b;
  });
}
const states = (bs: EndpointBreaker[]) => bs.map((b) => b.state);

describe('EndpointBreaker', () => {
  it('a call that waited out its own deadline leaves the endpoint out, refused without calling; a caller\'s shorter deadline, an oversized answer and one unreachable answer do not', async () => {
    const [a, b, c] = breakers();
    await expect(a!.execute(failAfter(10, new GRPCDeadlineExceededError('deadline')))).rejects.toThrow(GRPCDeadlineExceededError);
    await expect(a!.execute(failAfter(0, new GRPCResourceExhastedError('too large')))).rejects.toThrow(GRPCResourceExhastedError);
    await expect(a!.execute(failAfter(0, new GRPCUnavailableError('unreachable')))).rejects.toThrow(GRPCUnavailableError);
    expect(states([a!, b!, c!])).toEqual([Closed, Closed, Closed]);
    // A live member's answers during an election come with the same code: never a reason to leave it out.
    for (let i = 0; i < 3; i++) await expect(c!.execute(failAfter(0, new GRPCUnavailableError('14 UNAVAILABLE: etcdserver: leader changed')))).rejects.toThrow(GRPCUnavailableError);
    expect(states([a!, b!, c!])).toEqual([Closed, Closed, Closed]);

    await waitedOut(b!);
    expect(states([a!, b!, c!])).toEqual([Closed, Open, Closed]);
    let called = false;
    const refused = await b!.execute(() => (called = true)).catch((e: unknown) => e);
    expect(isBrokenCircuitError(refused)).toBe(true);
    expect(called).toBe(false);
  });

  it('is left out only while another endpoint is neither silent nor refusing: all silent, or the rest unreachable (a killed leader), none is left out', async () => {
    const all = breakers();
    await waitedOut(all[0]!);
    await waitedOut(all[1]!);
    expect(states(all)).toEqual([Open, Open, Closed]);
    await unreachable(all[2]!);
    // c refuses (dead), a and b are silent: calls go to a and b again rather than nowhere.
    expect(states(all)).toEqual([Closed, Closed, Open]);

    const others = breakers();
    await Promise.all(others.map(waitedOut));
    expect(states(others)).toEqual([Closed, Closed, Closed]);
    // An answer clears the one that gave it; the others are silent again beside it.
    expect(await others[0]!.execute(() => 'answered')).toBe('answered');
    expect(states(others)).toEqual([Closed, Open, Open]);
  });

  it('a stream opened is no answer; a duplicate endpoint counts once', async () => {
    const [a, b] = breakers(['a', 'b']);
    await waitedOut(a!);
    await waitedOut(b!);
    // Both silent: calls go through. A stream returned by one (a watch, a keepalive) does not clear it.
    await a!.execute(() => new EventEmitter());
    expect(states([a!, b!])).toEqual([Closed, Closed]);
    expect(await a!.execute(() => ({ kvs: [] }))).toEqual({ kvs: [] });
    expect(states([a!, b!])).toEqual([Closed, Open]);

    const dup = breakers(['a', 'a', 'b']);
    await waitedOut(dup[0]!);
    await waitedOut(dup[2]!);
    expect(states(dup)).toEqual([Closed, Closed, Closed]);
  });

  it('a silent member is probed every half second until it answers; a closed client stops the probes', async () => {
    const [a, b] = breakers(['a', 'b']);
    let answers = false;
    let probes = 0;
    a!.probeWith(async () => {
      probes++;
      if (!answers) throw new Error('still frozen');
      return 'answered';
    });
    await waitedOut(a!);
    expect(states([a!, b!])).toEqual([Open, Closed]);
    await until('three probes', () => probes >= 3, 5_000, 10);
    expect(states([a!, b!])).toEqual([Open, Closed]);
    answers = true;
    await until('a probe answered', () => a!.state === Closed, 5_000, 10);
    const answeredAfter = probes;
    expect(await a!.execute(() => 'x')).toBe('x');

    let closed = false;
    let calls = 0;
    b!.probeWith(async () => {
      calls++;
      if (closed) return 'closed';
      throw new Error('still frozen');
    });
    await waitedOut(b!);
    await until('b probed', () => calls >= 1, 5_000, 10);
    closed = true;
    const before = calls;
    await until('the probe that finds the client closed', () => calls > before, 5_000, 10);
    // Two more intervals: a probe loop still running would have called again.
    await new Promise((r) => setTimeout(r, 1_200));
    expect(calls).toBe(before + 1);
    expect(probes).toBe(answeredAfter);
  });

  it('the client\'s retries send a call refused by every endpoint it tried again while some endpoint takes calls, and when none does, once the first breaker lets calls through', async () => {
    const all = new ClientEndpoints();
    const [a, b] = breakers(['a', 'b'], all);
    const retry = new RetryWithin(all);
    await waitedOut(a!);
    // The shuffled endpoints a call tries may repeat the one left out: refused, though b takes calls.
    let attempts = 0;
    const refusedOnce = () => (attempts++ === 0 ? Promise.reject(new BrokenCircuitError()) : Promise.resolve('answered'));
    expect(await retry.execute(refusedOnce)).toBe('answered');
    expect(attempts).toBe(2);

    await unreachable(b!);
    expect(states([a!, b!])).toEqual([Closed, Open]);
    // a is silent but no longer left out (b refuses): still callable.
    expect(all.anyCallable()).toBe(true);
    await unreachable(a!);
    expect(all.anyCallable()).toBe(false);
    const reopens = all.callableInMs();
    expect(reopens).toBeGreaterThan(1500);
    // As members back from a restart whose breakers are still open when the last is killed: the call waits
    // for one to let calls through (it failed in 0.2 s before, a quorum up), and it is not sent sooner.
    attempts = 0;
    let sentAgainAt = 0;
    const t0 = Date.now();
    const refusedThenAnswered = () => {
      if (attempts++ === 0) return Promise.reject(new BrokenCircuitError());
      sentAgainAt = Date.now();
      return Promise.resolve('answered');
    };
    expect(await retry.execute(refusedThenAnswered)).toBe('answered');
    expect(attempts).toBe(2);
    expect(sentAgainAt - t0).toBeGreaterThanOrEqual(reopens - 50);
    expect(all.anyCallable()).toBe(true);
  });
});
