import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { AnswerBuffers } from '../../src/api/answer-buffers.js';

const response = () => new EventEmitter() as unknown as ServerResponse;
const parts = (text: string) => text.split('').map((c) => Buffer.from(c));

describe('AnswerBuffers: one buffer per answer in flight, reused only once sent', () => {
  it('joins the parts; a buffer goes back to the pool only at its response\'s finish', () => {
    const pool = new AnswerBuffers();
    const r1 = response();
    const a = pool.join(parts('{"items":[1,2]}'), r1);
    expect(a.toString()).toBe('{"items":[1,2]}');
    expect(pool.held).toBe(0);
    // Still being sent: a second answer gets a buffer of its own and cannot overwrite the first.
    const r2 = response();
    const b = pool.join(parts('{"items":[3,4]}'), r2);
    expect(a.toString()).toBe('{"items":[1,2]}');
    expect(b.buffer).not.toBe(a.buffer);
    r1.emit('finish');
    expect(pool.held).toBe(1);
    // The finished one's memory is reused for the next answer.
    const c = pool.join(parts('xyz'), response());
    expect(c.buffer).toBe(a.buffer);
    expect(c.toString()).toBe('xyz');
    expect(b.toString()).toBe('{"items":[3,4]}');
  });

  it('a response that closes without finishing keeps its buffer out of the pool; answers past the largest get their own', () => {
    const pool = new AnswerBuffers(2, 16);
    const r = response();
    pool.join(parts('abc'), r);
    r.emit('close');
    expect(pool.held).toBe(0);
    const big = pool.join([Buffer.alloc(20, 1)], response());
    expect(big.length).toBe(20);
    // Five in flight at once, then all sent: the pool keeps two of their buffers.
    const inFlight = Array.from({ length: 5 }, () => response());
    const sent = inFlight.map((res) => pool.join(parts('ab'), res));
    expect(new Set(sent.map((b) => b.buffer)).size).toBe(5);
    for (const res of inFlight) res.emit('finish');
    expect(pool.held).toBe(2);
  });
});
