import type { Watcher } from 'etcd3';
import { monoMs } from '../common/clock.js';

/** A gap shorter than this before a progress notification measures a reader that was busy, not etcd's interval. */
const PROGRESS_MIN_MS = 1000;

/** The least silence that makes a watch suspect, whatever the progress interval (a busy event loop delays what it hears). */
const SILENCE_MIN_MS = 6000;

/** How often a watch's silence is looked at. */
const SILENCE_CHECK_MS = 1000;

/** How long a member whose watch went silent is left out of new watches (if others remain). */
const SILENT_AVOID_MS = 30_000;

/**
 * What the watches on one etcd have learned: its progress interval, the
 * shortest time from one answer of a watch to a progress notification after
 * it (ms; Infinity until one has seen one), and which members' watches went
 * silent lately.
 */
export class WatchProgress {
  ms = Infinity;
  private readonly silentAt = new Map<string, number>();

  silent(endpoint: string): void {
    this.silentAt.set(endpoint, monoMs());
  }

  /** `endpoints` without those whose watch went silent lately; all of them if that leaves none. */
  usable(endpoints: readonly string[]): readonly string[] {
    const now = monoMs();
    const ok = endpoints.filter((e) => !(now - (this.silentAt.get(e) ?? -Infinity) < SILENT_AVOID_MS));
    return ok.length ? ok : endpoints;
  }
}

/** A watch on a connection of its own (Store.watch). */
export interface WatchSession {
  watcher: Watcher;
  /** Cancels the watch and closes its connection. */
  close(): void;
}

export interface WatchSessionOptions {
  /**
   * Called once if the watch goes silent past what etcd's progress interval
   * allows (its member froze): the caller closes it and watches again (new
   * watches leave that member out for a while).
   */
  onSilent?(endpoint: string | undefined, silentMs: number): void;
}

/**
 * Wraps a new watch. A watch on a member that froze (SIGSTOP, a stalled disk)
 * neither ends nor errs: it goes silent. etcd sends a watch a progress
 * notification at a tick of its --experimental-watch-progress-notify-interval
 * (ucloud's own etcd: 2 s, each stream's a tenth longer at most) if no event
 * was sent to it since the tick before: a quiet watch hears one every
 * interval, one with an event just after a tick waits up to two, and none
 * sooner than one interval after its previous answer. The shortest such gap
 * seen by any watch of the same etcd (a quiet one measures it for a busy one)
 * is the interval; silent three times that long (at least 6 s): the member is
 * left out of new watches for a while, and `onSilent`. Before one is measured
 * (etcd's default interval is 10 minutes), nothing is assumed.
 */
export function watchSession(watcher: Watcher, client: { close(): void }, endpoints: readonly string[], progress: WatchProgress, opts: WatchSessionOptions = {}): WatchSession {
  const heard = { at: monoMs(), first: true };
  watcher.on('data', (res) => {
    const now = monoMs();
    // Not a new watch's first answer: its first notification comes at etcd's next tick, however soon.
    if (res.events.length === 0 && !heard.first && now - heard.at >= PROGRESS_MIN_MS) progress.ms = Math.min(progress.ms, now - heard.at);
    heard.first = false;
    heard.at = now;
  });
  const onSilent = opts.onSilent;
  let checkedAt = monoMs();
  const check = onSilent
    ? setInterval(() => {
        const now = monoMs();
        // Late itself (this process was busy): what etcd sent meanwhile may still be unread.
        const late = now - checkedAt > 2 * SILENCE_CHECK_MS;
        checkedAt = now;
        if (late) return void (heard.at = Math.max(heard.at, now - SILENCE_CHECK_MS));
        const silent = now - heard.at;
        if (silent <= Math.max(SILENCE_MIN_MS, 3 * progress.ms)) return;
        clearInterval(check);
        const e = endpointOf(watcher, endpoints);
        if (e) progress.silent(e);
        onSilent(e, silent);
      }, SILENCE_CHECK_MS)
    : undefined;
  check?.unref();
  let closed = false;
  return {
    watcher,
    close: () => {
      if (closed) return;
      closed = true;
      clearInterval(check);
      closeWatch(watcher, client);
    },
  };
}

/**
 * Cancels `watcher`, then closes its client. Closing the client alone leaves a stream on a member that
 * answers nothing open, delivering old events when the member wakes, and the watch's manager
 * reconnecting for ever once it ends.
 */
export function closeWatch(watcher: Watcher, client: { close(): void }): void {
  try {
    watcher.cancel().catch(() => undefined);
  } catch {
    // Its manager in a state that cannot cancel: closing the client ends it.
  }
  client.close();
}

/** The endpoint of `endpoints` a watcher's stream is connected to, from gRPC's peer address (etcd3 keeps the stream private). */
function endpointOf(watcher: Watcher, endpoints: readonly string[]): string | undefined {
  const peer = (watcher as unknown as { manager?: { stream?: { getPeer?(): string } } }).manager?.stream?.getPeer?.();
  if (!peer) return undefined;
  const address = peer.replace(/^ipv[46]:/, '');
  return endpoints.find((e) => {
    try {
      return new URL(e).host === address;
    } catch {
      return false;
    }
  });
}
