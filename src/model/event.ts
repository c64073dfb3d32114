import { Type, type Static } from 'typebox';
import { Name, Timestamp, VmRef } from './common.js';

// Audit events: one record per state change, whoever made it (the API for a
// user's request, the scheduler, a host agent, a scanner). See docs/api.md, "Events".

/** Who made a change. `name`: the user, the host, or the daemon's own name. */
export const EventActor = Type.Object(
  {
    kind: Type.Union([Type.Literal('user'), Type.Literal('scheduler'), Type.Literal('host'), Type.Literal('imagescanner'), Type.Literal('filescanner'), Type.Literal('system')]),
    name: Type.String({ maxLength: 200 }),
  },
  { additionalProperties: false },
);
export type EventActor = Static<typeof EventActor>;

/** What it was done to. `owner`: whose object it is ('' for the cluster's own: hosts, stores); who may see the event. */
export const EventObject = Type.Object(
  {
    kind: Type.String({ maxLength: 40 }),
    id: Type.Optional(Type.String({ maxLength: 200 })),
    name: Type.Optional(Type.String({ maxLength: 200 })),
    owner: Type.String({ maxLength: 63 }),
  },
  { additionalProperties: false },
);
export type EventObject = Static<typeof EventObject>;

export const Event = Type.Object(
  {
    /** Time-ordered: 13-digit ms since the epoch, '-', 8 hex digits. */
    id: Type.String({ pattern: '^[0-9]{13}-[0-9a-f]{8}$' }),
    time: Timestamp,
    actor: EventActor,
    /** `<noun>.<verb>` ('vm.create', 'vm.running', 'vm.placed', 'vm.failover', 'image.ready', …). */
    action: Type.String({ maxLength: 80 }),
    object: EventObject,
    result: Type.Union([Type.Literal('ok'), Type.Literal('error')]),
    /** On failure: the catalogue code (src/common/errors.ts). */
    code: Type.Optional(Type.String({ maxLength: 80 })),
    message: Type.Optional(Type.String({ maxLength: 1000 })),
  },
  { additionalProperties: false },
);
export type Event = Static<typeof Event>;

/** What a writer gives; the log adds id and time. */
export type EventInput = Omit<Event, 'id' | 'time'>;

/** Which events a reader asks for: a user's own; an admin anyone's (`all`) or one user's (`owner`). */
export const EventFilter = {
  vm: Type.Optional(VmRef),
  all: Type.Optional(Type.Boolean()),
  owner: Type.Optional(Name),
};
export const EventStreamQuery = Type.Object(
  { ...EventFilter, since: Type.Optional(Type.String({ pattern: '^[0-9]{1,19}$', description: 'etcd revision to start from (an event id: line of a stream)' })) },
  { additionalProperties: false },
);
