import { Keys, type Kinds } from '../store/keys.js';
import type { EventLog } from '../store/event-log.js';
import type { Informer } from '../store/informer.js';

/**
 * Host presence in the audit log: `host.alive` when a host's presence appears
 * or comes back as another incarnation, `host.dead` when it ends (the agent's
 * lease ran out or it stopped). Presence is a lease, not a write anyone makes,
 * so without these an operator's `ucloud events` and the dashboard (which
 * reloads on events) never learn that a host went or came back. Recorded by
 * the leading scheduler only, from its presence cache: the state it starts
 * with is known, not news; a change while no scheduler led is recorded as the
 * difference the next leader finds, if any.
 */
export function recordPresence(alive: Informer<(typeof Kinds)['hostAlive']['schema']>, events: EventLog): () => void {
  const known = new Map<string, { name: string; epoch: string | undefined }>();
  for (const v of alive.values()) known.set(Keys.hostAlive(v.name), { name: v.name, epoch: v.epoch });
  const onChange = (key: string) => {
    const now = alive.get(key)?.value;
    const was = known.get(key);
    if (now && (!was || was.epoch !== now.epoch)) {
      known.set(key, { name: now.name, epoch: now.epoch });
      record(events, now.name, 'host.alive', 'ok', was ? `came back as another incarnation (${now.accel})` : `present (${now.accel})`);
    } else if (!now && was) {
      known.delete(key);
      record(events, was.name, 'host.dead', 'error', 'its presence lease ended: the agent stopped or cannot reach etcd', 'HOST_DEAD');
    }
  };
  alive.on('change', onChange);
  return () => alive.off('change', onChange);
}

function record(events: EventLog, host: string, action: string, result: 'ok' | 'error', message: string, code?: string): void {
  void events.record({ actor: { kind: 'scheduler', name: 'scheduler' }, action, object: { kind: 'host', name: host, owner: '' }, result, ...(code ? { code } : {}), message });
}
