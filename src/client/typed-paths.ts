import type { paths } from './api-types.js';

/** The HTTP methods the API uses, as the generated `paths` spell them. */
export type Method = 'get' | 'put' | 'post' | 'delete' | 'patch';

/** The methods the document defines on `P` (the others are `?: never` there). */
export type MethodOf<P extends keyof paths> = { [M in Method]: [NonNullable<paths[P][M]>] extends [never] ? never : M }[Method];

/** The document's operation for `method` on `path`. */
export type Op<P extends keyof paths, M extends MethodOf<P>> = NonNullable<paths[P][M]>;

/** The document's GET on `path` (never where it has none). */
export type Get<P extends keyof paths> = NonNullable<paths[P]['get']>;

/** The paths whose GET answers one page of a list (it takes a `cursor`). */
export type ListPath = { [P in keyof paths]: 'cursor' extends keyof QueryOf<P> ? P : never }[keyof paths];

/** What one page of the list at `P` holds. */
export type ItemOf<P extends keyof paths> = Ok<Get<P>> extends { items: (infer I)[] } ? I : never;

type Json<R> = R extends { content: { 'application/json': infer B } } ? B : undefined;

/** What the operation answers on success: the union of its 2xx bodies (undefined for one without a body). */
export type Ok<O> = O extends { responses: infer R } ? { [S in keyof R]: S extends 200 | 201 | 202 | 204 ? Json<R[S]> : never }[keyof R] : never;

type ParamsOpt<O> = O extends { parameters: { path: infer PP } } ? { params: PP } : { params?: undefined };
type QueryOpt<O> = O extends { parameters: { query?: infer Q } } ? ([NonNullable<Q>] extends [never] ? { query?: undefined } : { query?: NonNullable<Q> }) : { query?: undefined };
type BodyOpt<O> = O extends { requestBody: infer R }
  ? { body: Json<R> }
  : O extends { requestBody?: infer R }
    ? ([NonNullable<R>] extends [never] ? { body?: undefined } : { body?: Json<NonNullable<R>> })
    : { body?: undefined };

/** The path parameters (required when the template has any), query and JSON body the operation takes. */
export type CallOpts<O> = ParamsOpt<O> & QueryOpt<O> & BodyOpt<O>;

/** The query of the operation's GET, e.g. a list's filters and page. */
export type QueryOf<P extends keyof paths> = NonNullable<CallOpts<Get<P>>['query']>;

/**
 * `template` (a key of `paths`, e.g. "/v1/vms/{ref}/start") with each `{name}`
 * replaced by its parameter, URI-encoded, and the query's set values appended
 * (false and undefined left out, as the server's defaults).
 */
export function fillPath(template: string, params: object | undefined, query: object | undefined): string {
  const values = (params ?? {}) as Record<string, string | number>;
  const path = template.replace(/\{(\w+)\}/g, (_, name: string) => {
    const v = values[name];
    if (v === undefined) throw new Error(`no value for {${name}} in ${template}`);
    return encodeURIComponent(String(v));
  });
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== false) qs.set(k, String(v));
  const s = qs.toString();
  return s ? `${path}?${s}` : path;
}
