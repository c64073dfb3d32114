import type { Watcher } from 'etcd3';
import { monoMs } from '../common/clock.js';

/** A gap shorter than this before a progress notification measures a reader that was busy, not etcd's interval. */
const PROGRESS_MIN_MS = 1000;

/** The least silence that makes a watch suspect, whatever the progress interval (a busy event loop delays what it hears). */
const SILENCE_MIN_MS = 6000;

/**
 * What the watches on one etcd have learned of its progress interval: the
 * shortest time from one answer of a watch to a progress notification after
 * it (ms); Infinity until one has seen one.
 */
export class WatchProgress {
  ms = Infinity;
}

/** A watch on a connection of its own (Store.watch). */
export interface WatchSession {
  watcher: Watcher;
  /** The endpoint its stream is on, when known. */
  endpoint(): string | undefined;
  /** Cancels the watch and closes its connection. */
  close(): void;
}

export interface WatchSessionOptions {
  /**
   * Called once if the watch goes silent past what etcd's progress interval
   * allows (its member froze): the caller closes it and watches again,
   * avoiding that endpoint.
   */
  onSilent?(endpoint: string | undefined, silentMs: number): void;
}

/**
 * Wraps a new watch. A watch on a member that froze (SIGSTOP, a stalled disk)
 * neither ends nor errs: it goes silent. etcd sends a watch a progress
 * notification at a tick of its --experimental-watch-progress-notify-interval
 * (ucloud's own etcd: 2 s) when nothing was sent to it since the tick before
 * (a notification counts, so a quiet watch hears one every two intervals), and
 * never sooner than one interval after its previous answer: the shortest such
 * gap seen by any watch of the same etcd (a quiet one measures it for a busy
 * one) bounds how long a live watch stays silent. Silent twice that long (at
 * least 6 s): `onSilent`. Before one is measured (etcd's default interval is
 * 10 minutes), nothing is assumed.
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
  const endpoint = () => endpointOf(watcher, endpoints);
  const onSilent = opts.onSilent;
  const check = onSilent
    ? setInterval(() => {
        const silent = monoMs() - heard.at;
        if (silent <= Math.max(SILENCE_MIN_MS, 2 * progress.ms)) return;
        clearInterval(check);
        onSilent(endpoint(), silent);
      }, 1000)
    : undefined;
  check?.unref();
  let closed = false;
  return {
    watcher,
    endpoint,
    close: () => {
      if (closed) return;
      closed = true;
      clearInterval(check);
      // Canceled first: closing the client alone leaves a stream on a member that answers nothing open,
      // delivering old events when the member wakes, and its manager reconnecting for ever once it ends.
      try {
        watcher.cancel().catch(() => undefined);
      } catch {
        // Its manager in a state that cannot cancel: closing the client ends it.
      }
      client.close();
    },
  };
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
