import type { Client, EventQuery } from '../client/client.js';
import type { Event } from '../model/index.js';

/** How long a broken stream waits before it is opened again (from the last revision seen). */
const RECONNECT_MS = 1000;

export interface StreamHandlers {
  onEvent: (e: Event) => void;
  /** The server is watching (again): anything before this was not streamed. */
  onOpen?: () => void;
  /** The stream broke or could not open; it is opened again shortly. */
  onBreak?: (err: unknown) => void;
}

// An abort that came first ends it at once: its 'abort' event has fired already,
// and a timer left behind keeps the CLI's process alive that long after its work.
const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((r) => {
    if (signal.aborted) return r();
    const t = setTimeout(r, ms);
    signal.addEventListener('abort', () => (clearTimeout(t), r()), { once: true });
  });

/**
 * Follows the event stream until `signal` aborts, opening it again from the
 * last revision seen whenever it breaks, so no event is lost or repeated.
 */
export async function followEvents(client: Client, q: EventQuery, h: StreamHandlers, signal: AbortSignal): Promise<void> {
  let since: string | undefined;
  while (!signal.aborted) {
    try {
      // Before the first event, the server says where it watches from: a break then resumes there, not from "now".
      const opened = (from?: string) => {
        if (since === undefined && from && /^[0-9]+$/.test(from)) since = from;
        h.onOpen?.();
      };
      for await (const { event, revision } of client.events.stream({ ...q, ...(since ? { since } : {}) }, signal, opened)) {
        since = String(BigInt(revision) + 1n);
        h.onEvent(event);
      }
      // The client's stream ends quietly when aborted: that is the caller's end, not a break.
      if (signal.aborted) return;
      h.onBreak?.(new Error('the server ended the stream'));
    } catch (err) {
      if (signal.aborted) return;
      h.onBreak?.(err);
    }
    await sleep(RECONNECT_MS, signal);
  }
}
