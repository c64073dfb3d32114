import { describe, expect, it } from 'vitest';
import { FailureLimiter } from '../../src/common/failure-limiter.js';

describe('FailureLimiter', () => {
  it('turns a source away after max refused attempts until its window ends, warning once; other sources go on', () => {
    let t = 1_000;
    const l = new FailureLimiter({ max: 3, windowMs: 60_000, now: () => t });
    for (let i = 0; i < 3; i++) expect(l.attempt('a')).toHaveProperty('window');
    expect(l.attempt('a')).toEqual({ retryAfterMs: 60_000, first: true });
    expect(l.attempt('a')).toEqual({ retryAfterMs: 60_000, first: false });
    expect(l.attempt('b')).toHaveProperty('window');
    t += 59_999;
    expect(l.attempt('a')).toEqual({ retryAfterMs: 1, first: false });
    t += 1;
    // A new window counts from zero.
    expect(l.attempt('a')).toHaveProperty('window');
  });

  it('counts attempts in flight: many at once cannot all slip past; one that succeeds stops counting', () => {
    const l = new FailureLimiter({ max: 2, windowMs: 1000, now: () => 0 });
    const a1 = l.attempt('a');
    const a2 = l.attempt('a');
    // Both still in flight: a third is turned away before anything is looked up.
    expect(l.attempt('a')).toMatchObject({ first: true });
    if (!('window' in a1) || !('window' in a2)) throw new Error('the first two should have gone on');
    l.succeeded(a1);
    l.succeeded(a2);
    // Their successes freed the count (the turn-away above was the one warning).
    expect(l.attempt('a')).toHaveProperty('window');
  });

  it('keeps at most maxKeys sources, forgetting ended windows first, then the oldest', () => {
    let t = 0;
    const l = new FailureLimiter({ max: 1, windowMs: 100, maxKeys: 3, now: () => t });
    l.attempt('old');
    t = 50;
    l.attempt('x');
    l.attempt('y');
    t = 120;
    // 'old' has ended: it goes, the others stay.
    l.attempt('z');
    expect(l.size).toBe(3);
    expect(l.attempt('x')).toEqual({ retryAfterMs: 30, first: true });
    // Full of live windows: the oldest ('x') is forgotten for the new one.
    l.attempt('w');
    expect(l.size).toBe(3);
    expect(l.attempt('x')).toHaveProperty('window');
  });
});
