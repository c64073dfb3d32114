import type { HostAlive } from '../model/index.js';
import type { EventLog } from '../store/event-log.js';
import type { Informer } from '../store/informer.js';
import { Keys, type Kinds } from '../store/keys.js';

/** Presence changes are gathered this long and recorded together. */
const GATHER_MS = 1000;
/** More hosts than this changing the same way within one gathering (an etcd outage, a rack) make one event, not one each. */
const ONE_EACH_MAX = 10;
/** Names a summary event lists. */
const NAMED_MAX = 20;

type Presence = { name: string; epoch: string | undefined; accel: string };

/**
 * Host presence in the audit log: `host.alive` when a host's presence appears
 * or comes back as another incarnation, `host.dead` when it ends (the agent's
 * lease ran out or it stopped). Presence is a lease, not a write anyone makes,
 * so without these an operator's `ucloud events` and the dashboard (which
 * reloads on events) never learn that a host went or came back.
 *
 * Recorded by the leading scheduler from its presence cache, starting as soon
 * as that cache has listed. What it finds then is the starting point, not
 * news: a change made while no scheduler led (a leader change takes up to a
 * lease TTL) is not recorded. Changes are gathered for a second and each
 * host's net change recorded (a host gone and back as the same incarnation
 * within it: nothing); when more than ONE_EACH_MAX hosts change the same way
 * at once, one `hosts.dead` / `hosts.alive` event says how many and names the
 * first, so an outage of thousands of hosts neither spends the cluster's
 * share of the event log (EventLog's per-bucket budget) nor reloads every
 * dashboard thousands of times.
 */
export function recordPresence(alive: Informer<(typeof Kinds)['hostAlive']['schema']>, events: EventLog): () => void {
  /** The presence last recorded (or found at the start), by key. */
  const recorded = new Map<string, Presence>();
  const of = (v: HostAlive): Presence => ({ name: v.name, epoch: v.epoch, accel: v.accel });
  for (const v of alive.values()) recorded.set(Keys.hostAlive(v.name), of(v));
  const changed = new Set<string>();
  let timer: NodeJS.Timeout | undefined;

  const flush = () => {
    timer = undefined;
    const came: { p: Presence; back: boolean }[] = [];
    const went: Presence[] = [];
    for (const key of changed) {
      const now = alive.get(key)?.value;
      const was = recorded.get(key);
      if (now && (!was || was.epoch !== now.epoch)) {
        recorded.set(key, of(now));
        came.push({ p: of(now), back: was !== undefined });
      } else if (!now && was) {
        recorded.delete(key);
        went.push(was);
      }
    }
    changed.clear();
    if (went.length > ONE_EACH_MAX) record(events, 'hosts.dead', undefined, summary(went.map((p) => p.name), 'their presence leases ended'), 'HOST_DEAD');
    else for (const p of went) record(events, 'host.dead', p.name, 'its presence lease ended: the agent stopped or cannot reach etcd', 'HOST_DEAD');
    if (came.length > ONE_EACH_MAX) record(events, 'hosts.alive', undefined, summary(came.map((c) => c.p.name), 'present again or for the first time'));
    else for (const { p, back } of came) record(events, 'host.alive', p.name, back ? `came back as another incarnation (${p.accel})` : `present (${p.accel})`);
  };
  const onChange = (key: string) => {
    changed.add(key);
    timer ??= setTimeout(flush, GATHER_MS);
  };
  alive.on('change', onChange);
  return () => {
    alive.off('change', onChange);
    clearTimeout(timer);
  };
}

/** One event about a host (`host` named) or about many (a summary). */
function record(events: EventLog, action: string, host: string | undefined, message: string, code?: string): void {
  const object = { kind: 'host', ...(host !== undefined ? { name: host } : {}), owner: '' };
  void events.record({ actor: { kind: 'scheduler', name: 'scheduler' }, action, object, result: code ? 'error' : 'ok', ...(code ? { code } : {}), message: message.slice(0, 1000) });
}

/** "12 hosts, <what>: a, b, …" naming the first NAMED_MAX in order. */
function summary(names: string[], what: string): string {
  const sorted = [...names].sort();
  const more = sorted.length > NAMED_MAX ? `, … and ${sorted.length - NAMED_MAX} more` : '';
  return `${sorted.length} hosts, ${what}: ${sorted.slice(0, NAMED_MAX).join(', ')}${more}`;
}
