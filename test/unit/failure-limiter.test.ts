import { describe, expect, it } from 'vitest';
import { FailureLimiter } from '../../src/common/failure-limiter.js';

describe('FailureLimiter', () => {
  it('turns a source away after max refusals until its window ends; other sources are not affected', () => {
    let t = 1_000;
    const l = new FailureLimiter({ max: 3, windowMs: 60_000, now: () => t });
    for (let i = 0; i < 3; i++) {
      expect(l.retryAfterMs('a')).toBe(0);
      l.refused('a');
    }
    expect(l.retryAfterMs('a')).toBe(60_000);
    expect(l.retryAfterMs('b')).toBe(0);
    t += 59_999;
    expect(l.retryAfterMs('a')).toBe(1);
    t += 1;
    expect(l.retryAfterMs('a')).toBe(0);
    // A new window counts from zero.
    l.refused('a');
    expect(l.retryAfterMs('a')).toBe(0);
  });

  it('keeps at most maxKeys sources, forgetting ended windows first, then the oldest', () => {
    let t = 0;
    const l = new FailureLimiter({ max: 1, windowMs: 100, maxKeys: 3, now: () => t });
    l.refused('old');
    t = 50;
    l.refused('x');
    l.refused('y');
    t = 120;
    // 'old' has ended: it goes, the others stay.
    l.refused('z');
    expect(l.size).toBe(3);
    expect(l.retryAfterMs('x')).toBe(30);
    // Full of live windows: the oldest ('x') is forgotten for the new one.
    l.refused('w');
    expect(l.size).toBe(3);
    expect(l.retryAfterMs('x')).toBe(0);
    expect(l.retryAfterMs('w')).toBe(100);
  });
});
