import type { Client } from '../client/client.js';
import { UcloudError } from '../common/errors.js';
import type { Event } from '../model/index.js';

/**
 * Follows the event stream (`GET /v1/events/stream`, server-sent events read
 * with fetch, since EventSource cannot send the Authorization header), and
 * follows it again after a break, 1 s later and then up to 15 s.
 * `onChange` runs once the stream is open (to catch up on what happened while
 * it was not) and for each event; `onAuth` when the token no longer works.
 */
export function follow(client: Client, opts: { all: boolean; onChange: (e?: Event) => void; onState: (live: boolean) => void; onAuth: (err: UcloudError) => void }): () => void {
  const ctl = new AbortController();
  void (async () => {
    let wait = 1000;
    while (!ctl.signal.aborted) {
      try {
        for await (const { event } of client.events.stream(opts.all ? { all: true } : {}, ctl.signal, () => {
          wait = 1000;
          opts.onState(true);
          opts.onChange();
        })) opts.onChange(event);
      } catch (err) {
        if (err instanceof UcloudError && (err.code === 'UNAUTHENTICATED' || err.code === 'TOKEN_EXPIRED' || err.code === 'USER_DISABLED')) return opts.onAuth(err);
      }
      if (ctl.signal.aborted) return;
      opts.onState(false);
      await new Promise((r) => setTimeout(r, wait));
      wait = Math.min(wait * 2, 15_000);
    }
  })();
  return () => ctl.abort();
}
