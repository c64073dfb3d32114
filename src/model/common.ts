import { Type, type Static, type TSchema } from 'typebox';
import { CATALOGUE, type ErrorCode } from '../common/errors.js';

// Resource names: DNS-label-like, so they can become hostnames and device names.
export const NAME_PATTERN = '^[a-z][a-z0-9-]{0,62}$';
export const NAME_MAX = 63;
export const Name = Type.String({ pattern: NAME_PATTERN, maxLength: NAME_MAX, description: '1-63 of a-z, 0-9 and "-", starting with a letter' });
const UUID_PATTERN = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
export const Uuid = Type.String({ pattern: `^${UUID_PATTERN}$` });

// References in URLs. Checked by schema before anything reads etcd, so a
// parameter like "a/b", "..", a NUL or 10 kB of text is a 400 with a code.
/** A VM in a URL: its name or its id. */
export const VmRef = Type.String({ pattern: `^(?:[a-z][a-z0-9-]{0,62}|${UUID_PATTERN})$`, maxLength: 64, description: 'VM name or id' });
/** An image in a URL or request: "name" (yours, else an admin's public one) or "owner/name". */
export const IMAGE_REF_PATTERN = '^(?:[a-z][a-z0-9-]{0,62}/)?[a-z][a-z0-9-]{0,62}$';
export const ImageRef = Type.String({ pattern: IMAGE_REF_PATTERN, maxLength: 2 * NAME_MAX + 1, description: 'image name, or owner/name' });
/**
 * Free text a user gives that other people may print (file names, addresses):
 * no C0 or C1 control character and no DEL, so nothing stored can drive a terminal.
 */
export const NO_CONTROL_PATTERN = '^[^\\u0000-\\u001f\\u007f-\\u009f]*$';
export const Text = (opts: { minLength?: number; maxLength: number; description?: string }) => Type.String({ ...opts, pattern: NO_CONTROL_PATTERN });
export const Timestamp = Type.String({ description: 'ISO 8601 time' });
/** A size in the API: a string with a unit ("256MiB") or a whole number of bytes. */
export const SizeInput = Type.Union([Type.String({ maxLength: 40 }), Type.Integer({ minimum: 0 })]);
export const Bytes = Type.Integer({ minimum: 0 });

export const ErrorInfo = Type.Object(
  { code: Type.String(), message: Type.String(), at: Timestamp },
  { additionalProperties: false },
);
export type ErrorInfo = Static<typeof ErrorInfo>;

/** Every code of the error catalogue: a client can switch on it. */
export const ErrorCodeSchema = Type.Unsafe<ErrorCode>({ type: 'string', enum: Object.keys(CATALOGUE), description: 'a stable code of the error catalogue (docs/api.md)' });

/** The body of every error answer, whatever raised it (a handler, validation, the router, the HTTP parser). */
export const ErrorResponseSchema = Type.Object(
  {
    code: ErrorCodeSchema,
    message: Type.String(),
    hint: Type.Optional(Type.String()),
    details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  { $id: 'ErrorResponse', description: 'an error: `code` is stable (switch on it), `message` and `hint` are for people' },
);
export type ErrorResponse = Static<typeof ErrorResponseSchema>;
/**
 * What routes name as their error answers: a reference to the schema the
 * server registers once (addSchema), so the document holds the catalogue's
 * code list once rather than in every answer of every route.
 */
export const ErrorResponse = Type.Unsafe<ErrorResponse>({ $ref: 'ErrorResponse#' });

export const Health = Type.Object({ ok: Type.Boolean() }, { additionalProperties: false });

/** How many items one page of a list holds: `?limit=` (default and most). */
export const LIST_LIMITS = { default: 100, max: 1000 } as const;

/** `?limit=&cursor=` of every list route. */
export const PageQuery = {
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: LIST_LIMITS.max, description: `items per page, 1-${LIST_LIMITS.max} (default ${LIST_LIMITS.default})` })),
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 2048, description: 'the `next` of the previous page' })),
};

/** The query of a list route: `?limit=&cursor=` and the list's own filters. */
export const ListQuery = <P extends Record<string, TSchema>>(filters: P = {} as P) => Type.Object({ ...PageQuery, ...filters }, { additionalProperties: false });

/** `/:name` of an object named by a Name (a host, key, network, user). */
export const NameParams = Type.Object({ name: Name }, { additionalProperties: false });
/** `?owner=`: whose object an admin means (their own when absent). */
export const OwnerQuery = Type.Object({ owner: Type.Optional(Name) }, { additionalProperties: false });
/** The answer of a 204: no body. */
export const NoContent = Type.Null();

/** One page of a list: `next` (absent on the last page) asks for the one after. */
export const Page = <T extends TSchema>(item: T) => Type.Object({ items: Type.Array(item), next: Type.Optional(Type.String()) });
export interface PageOf<T> {
  items: T[];
  next?: string;
}

export function nowIso(): string {
  return new Date().toISOString();
}
