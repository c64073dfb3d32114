import type { Watcher } from 'etcd3';
import { monoMs } from '../common/clock.js';

/** How often a watch with silence detection asks its member for its progress. */
const ASK_EVERY_MS = 1000;

/**
 * Heard nothing this long though asked every ASK_EVERY_MS: its member froze. A
 * live member answers a progress request within milliseconds; the margin is
 * for a busy machine.
 */
const SILENT_MS = 5000;

/**
 * Silent this long, a watch is given up even though its member answers reads:
 * stuck on the server (an etcd that holds progress answers for a watch that
 * never catches up), it would otherwise never be replaced.
 */
const SILENT_MAX_MS = 60_000;

/** A watch on a connection of its own (Store.watch). */
export interface WatchSession {
  watcher: Watcher;
  /** Cancels the watch and closes its connection. */
  close(): void;
}

export interface WatchSessionOptions {
  /**
   * Called once if the watch's member stops answering (it froze), with that
   * member when it is known: the caller closes it and watches again.
   */
  onSilent?(endpoint: string | undefined, silentMs: number): void;
  /**
   * Whether the member answers a read over the watch's own connection. A watch
   * that hears nothing is given up only if its member does not answer that
   * either: etcd 3.4.24+ and 3.5.8+ hold a progress answer until a watch has
   * caught up (and some of those versions lose it, etcd #17507), so silence
   * alone is no proof of a frozen member there.
   */
  answers?(endpoint: string): Promise<boolean>;
}

/** What etcd3's watch manager keeps private and a session needs (checked, so an etcd3 upgrade that moves it fails loudly). */
interface ManagerInternals {
  stream?: { write(req: object): unknown; getPeer?(): string } | null;
  handleResponse(res: { watch_id: string }): void;
}

function managerOf(watcher: Watcher): ManagerInternals {
  const m = (watcher as unknown as { manager?: ManagerInternals }).manager;
  if (typeof m?.handleResponse !== 'function' || !('stream' in m)) throw new Error('etcd3 internals changed: watchSession (src/store/watch-session.ts) needs review');
  return m;
}

/**
 * Wraps a new watch. A watch on a member that froze (SIGSTOP, a stalled disk)
 * neither ends nor errs: it goes silent. So, as Kubernetes' watch cache does,
 * the session asks the member for its progress every second (etcd's
 * WatchProgressRequest, v3.4+), which a live member answers at once whatever
 * its --experimental-watch-progress-notify-interval; silent SILENT_MS, and
 * the member not answering a read over the same connection either (`answers`),
 * `onSilent` is called.
 * etcd answers a progress request with watch id -1, which etcd3 (1.1.2) does
 * not know and would throw on: the session takes those answers first.
 */
export function watchSession(watcher: Watcher, client: { close(): void }, endpoints: readonly string[], opts: WatchSessionOptions = {}): WatchSession {
  const manager = managerOf(watcher);
  let heardAt = monoMs();
  const handle = manager.handleResponse.bind(manager);
  manager.handleResponse = (res) => {
    heardAt = monoMs();
    if (String(res.watch_id) !== '-1') handle(res);
  };
  const { onSilent, answers } = opts;
  let checkedAt = monoMs();
  let asking = false;
  /** Its member answered a read though the watch was silent: not asked again before then. */
  let askAgainAt = -Infinity;
  let closed = false;
  const check = onSilent
    ? setInterval(() => {
        if (asking) return;
        const now = monoMs();
        // Late itself (this process was busy): what etcd sent meanwhile may still be unread.
        const late = now - checkedAt > 2 * ASK_EVERY_MS;
        checkedAt = now;
        if (late) heardAt = Math.max(heardAt, now - ASK_EVERY_MS);
        try {
          // Between streams (etcd3 reconnecting after an error) there is nothing to ask.
          manager.stream?.write({ progress_request: {} });
        } catch {
          // A stream ending under it: etcd3 replaces it, or the session is closed.
        }
        const silent = now - heardAt;
        if (silent <= SILENT_MS || now < askAgainAt) return;
        const e = endpointOf(manager, endpoints);
        const giveUp = () => {
          if (closed) return;
          clearInterval(check);
          onSilent(e, monoMs() - heardAt);
        };
        if (!e || !answers || silent > SILENT_MAX_MS) return giveUp();
        asking = true;
        void answers(e)
          .catch(() => false)
          .then((alive) => {
            asking = false;
            // Heard meanwhile (an answer slow in an election, say): not silent after all.
            if (monoMs() - heardAt <= SILENT_MS) return;
            // Alive, connection and all: the watch is catching up, or its etcd holds progress answers until it has.
            if (alive) askAgainAt = monoMs() + SILENT_MS;
            else giveUp();
          });
      }, ASK_EVERY_MS)
    : undefined;
  check?.unref();
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

/** The endpoint of `endpoints` a watch's stream is connected to, from gRPC's peer address (etcd3 keeps the stream private). */
function endpointOf(manager: ManagerInternals, endpoints: readonly string[]): string | undefined {
  const peer = manager.stream?.getPeer?.();
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
