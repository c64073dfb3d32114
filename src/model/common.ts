import { Type, type Static } from 'typebox';

// Resource names: DNS-label-like, so they can become hostnames and device names.
export const NAME_PATTERN = '^[a-z][a-z0-9-]{0,62}$';
export const Name = Type.String({ pattern: NAME_PATTERN, description: '1-63 of a-z, 0-9 and "-", starting with a letter' });
export const Uuid = Type.String({ pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' });
export const Timestamp = Type.String({ description: 'ISO 8601 time' });
/** A size in the API: a string with a unit ("256MiB") or a whole number of bytes. */
export const SizeInput = Type.Union([Type.String({ maxLength: 40 }), Type.Integer({ minimum: 0 })]);
export const Bytes = Type.Integer({ minimum: 0 });

export const ErrorInfo = Type.Object(
  { code: Type.String(), message: Type.String(), at: Timestamp },
  { additionalProperties: false },
);
export type ErrorInfo = Static<typeof ErrorInfo>;

export const ErrorResponse = Type.Object({
  code: Type.String(),
  message: Type.String(),
  hint: Type.Optional(Type.String()),
  details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
});

export function nowIso(): string {
  return new Date().toISOString();
}
