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
  return (value: unknown) => {
    if (typeCheck.Check(value)) return { value };
    if (httpPart === 'body') return { error: typeCheck.Errors(value) as never };
    const converted = Value.Convert(schema, value);
    return typeCheck.Check(converted) ? { value: converted } : { error: typeCheck.Errors(converted) as never };
  };
};
