import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Client } from '../../src/client/client.js';
import { followEvents } from '../../src/cli/event-stream.js';
import type { Event } from '../../src/model/index.js';

// The CLI's --wait commands follow the event stream until their work is done,
// then abort it; nothing of it may keep the process alive afterwards (a 1 s
// reconnect timer did: `vm migrate --wait` exited a second after printing).

type Stream = (q: { since?: string }, signal?: AbortSignal, onOpen?: (from?: string) => void) => AsyncGenerator<{ event: Event; revision: string }>;

/** A client whose event stream is `stream`. */
const clientWith = (stream: Stream) => ({ events: { stream } }) as unknown as Client;

const aborted = (signal?: AbortSignal) => new Promise<void>((r) => signal?.addEventListener('abort', () => r(), { once: true }));

/** A stream like the client's: one event, then quiet until aborted, then it ends without throwing. */
function fakeClient(opened: { n: number }): Client {
  return clientWith(async function* (_q, signal, onOpen) {
    opened.n++;
    onOpen?.();
    yield { event: { action: 'vm.migrated' } as Event, revision: '7' };
    await aborted(signal);
  });
}

const settle = async () => {
  for (let i = 0; i < 20; i++) await Promise.resolve();
};

describe('followEvents', () => {
  afterEach(() => vi.useRealTimers());

  it('ends at once when aborted, with no timer left behind and no break reported', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
    const opened = { n: 0 };
    const seen: string[] = [];
    const breaks: unknown[] = [];
    const stop = new AbortController();
    let ended = false;
    const done = followEvents(fakeClient(opened), {}, { onEvent: (e) => seen.push(e.action), onBreak: (err) => breaks.push(err) }, stop.signal).then(() => (ended = true));
    await settle();
    expect(seen).toEqual(['vm.migrated']);
    stop.abort();
    await settle();
    expect(ended).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
    expect(breaks).toEqual([]);
    expect(opened.n).toBe(1);
    await done;
  });

  it('opens the stream again after a break, from the revision after the last event', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const sinces: (string | undefined)[] = [];
    let calls = 0;
    const client = clientWith(async function* (q, signal) {
      sinces.push(q.since);
      if (++calls === 1) {
        yield { event: { action: 'vm.start' } as Event, revision: '41' };
        return; // the server ended the stream
      }
      await aborted(signal);
    });
    const stop = new AbortController();
    const breaks: unknown[] = [];
    const done = followEvents(client, {}, { onEvent: () => undefined, onBreak: (err) => breaks.push(err) }, stop.signal);
    await settle();
    expect(breaks).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1000);
    expect(sinces).toEqual([undefined, '42']);
    stop.abort();
    await settle();
    expect(vi.getTimerCount()).toBe(0);
    await done;
  });

  it('a stream that breaks before its first event opens again from where the server started watching, not from "now"', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const sinces: (string | undefined)[] = [];
    let calls = 0;
    const client = clientWith(async function* (q, signal, onOpen) {
      sinces.push(q.since);
      onOpen?.(q.since ?? '500');
      if (++calls === 1) return; // the server ended the stream (its watch broke) before any event
      if (calls === 2) {
        yield { event: { action: 'vm.start' } as Event, revision: '503' };
        return;
      }
      await aborted(signal);
    });
    const stop = new AbortController();
    const done = followEvents(client, {}, { onEvent: () => undefined }, stop.signal);
    await settle();
    await vi.advanceTimersByTimeAsync(1000);
    await vi.advanceTimersByTimeAsync(1000);
    expect(sinces).toEqual([undefined, '500', '504']);
    stop.abort();
    await done;
  });
});

