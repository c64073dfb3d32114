import type { FastifySchemaCompiler } from 'fastify';
import { Compile } from 'typebox/compile';
import { Value } from 'typebox/value';
import type { TSchema } from 'typebox';

/**
 * @fastify/type-provider-typebox's compiler, checking before converting: the
 * path parameters of nearly every request are already the strings their
 * schema wants, and converting them first costs more than the check. Only a
 * value that fails is converted (a query's `limit=100` to a number) and
 * checked again; a body is never converted.
 */
export const validatorCompiler: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) => {
  const typeCheck = Compile(schema);
  const plain = httpPart === 'body' ? undefined : plainConverter(schema);
  return (value: unknown) => {
    if (typeCheck.Check(value)) return { value };
    if (httpPart === 'body') return { error: typeCheck.Errors(value) as never };
    const fast = plain?.(value);
    if (fast !== undefined && typeCheck.Check(fast)) return { value: fast };
    const converted = Value.Convert(schema, value);
    return typeCheck.Check(converted) ? { value: converted } : { error: typeCheck.Errors(converted) as never };
  };
};

const CANONICAL_INTEGER = /^-?(?:0|[1-9][0-9]{0,14})$/;

/**
 * For an object of scalars (a query string), a converter of the canonical
 * spellings only: `100` for an integer or number property, `true`/`false`
 * for a boolean; Value.Convert gives each the same value, but walks the
 * schema generically, about 5 µs of every `?limit=100` (bench/scale). Any
 * other spelling is left as it is, so the check fails and the caller takes
 * Value.Convert's path as before. Undefined: not such an object.
 */
function plainConverter(schema: TSchema): ((value: unknown) => unknown) | undefined {
  const props = (schema as { type?: unknown; properties?: Record<string, { type?: unknown }> }).properties;
  if ((schema as { type?: unknown }).type !== 'object' || !props) return undefined;
  const numbers = Object.keys(props).filter((k) => props[k]!.type === 'integer' || props[k]!.type === 'number');
  const booleans = Object.keys(props).filter((k) => props[k]!.type === 'boolean');
  if (!numbers.length && !booleans.length) return undefined;
  return (value) => {
    if (typeof value !== 'object' || value === null) return undefined;
    const v = value as Record<string, unknown>;
    let out: Record<string, unknown> | undefined;
    for (const k of numbers) {
      const x = v[k];
      if (typeof x === 'string' && CANONICAL_INTEGER.test(x)) (out ??= { ...v })[k] = Number(x);
    }
    for (const k of booleans) {
      const x = v[k];
      if (x === 'true' || x === 'false') (out ??= { ...v })[k] = x === 'true';
    }
    return out;
  };
}
