import { CircuitState, isBrokenCircuitError } from 'cockatiel';
import { GRPCDeadlineExceededError, GRPCResourceExhastedError, GRPCUnavailableError } from 'etcd3';
import { describe, expect, it } from 'vitest';
import { EndpointBreaker, SilentMembers } from '../../src/store/endpoint-breaker.js';

// A call's own deadline of 1 s: one that failed on a deadline after 500 ms or more waited it out.
const opts = { callDeadlineMs: 1000, probeKey: '/t/ping' };
// Nothing listens there: a probe never answers, so a silent endpoint stays silent.
const endpoints = ['http://127.0.0.1:1', 'http://127.0.0.1:2', 'http://127.0.0.1:3'];

const failAfter = (ms: number, err: Error) => () => new Promise<never>((_, reject) => setTimeout(() => reject(err), ms));

function breakers(): EndpointBreaker[] {
  const silent = new SilentMembers(endpoints.length);
  return endpoints.map((e) => new EndpointBreaker(e, silent, opts));
}

describe('EndpointBreaker', () => {
  it('a call that waited out its own deadline leaves the endpoint out; a caller\'s shorter deadline, an oversized answer and one unreachable answer do not', async () => {
    const [a, b] = breakers();
    await expect(a!.execute(failAfter(10, new GRPCDeadlineExceededError('deadline')))).rejects.toThrow(GRPCDeadlineExceededError);
    await expect(a!.execute(failAfter(0, new GRPCResourceExhastedError('too large')))).rejects.toThrow(GRPCResourceExhastedError);
    await expect(a!.execute(failAfter(0, new GRPCUnavailableError('unreachable')))).rejects.toThrow(GRPCUnavailableError);
    expect(a!.state).toBe(CircuitState.Closed);
    expect(await a!.execute(() => 'answered')).toBe('answered');

    await expect(b!.execute(failAfter(600, new GRPCDeadlineExceededError('deadline')))).rejects.toThrow(GRPCDeadlineExceededError);
    expect(b!.state).toBe(CircuitState.Open);
    // Refused at once, without calling: the client tries the next endpoint.
    let called = false;
    const refused = await b!.execute(() => (called = true)).catch((e: unknown) => e);
    expect(isBrokenCircuitError(refused)).toBe(true);
    expect(called).toBe(false);
    expect(a!.state).toBe(CircuitState.Closed);
  });

  it('when every endpoint waited out a deadline, none is left out; an answer from one clears it', async () => {
    const all = breakers();
    for (const [n, br] of all.entries()) {
      await expect(br.execute(failAfter(600, new GRPCDeadlineExceededError('deadline')))).rejects.toThrow();
      expect(all.map((x) => x.state)).toEqual(all.map((_, k) => (k <= n && n < all.length - 1 ? CircuitState.Open : CircuitState.Closed)));
    }
    expect(await all[0]!.execute(() => 'answered')).toBe('answered');
    await expect(all[1]!.execute(failAfter(0, new GRPCUnavailableError('unreachable')))).rejects.toThrow();
    // Two silent of three again: both left out, the one that answered not.
    expect(all.map((x) => x.state)).toEqual([CircuitState.Closed, CircuitState.Open, CircuitState.Open]);
  });
});
