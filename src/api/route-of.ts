import type { FastifyRequest } from 'fastify';

export type RouteOf = FastifyRequest['routeOptions'];

/**
 * The options of the route a request matched, read once per request. Fastify's
 * `req.routeOptions` is a getter that builds a new twelve-field object on every
 * read, and a cached read's hooks (rate limit, authorization, validation,
 * metrics) read it four or five times. The request's `route` slot is declared
 * in server.ts (`decorateRequest`), so requests keep one shape.
 */
export function routeOf(req: FastifyRequest): RouteOf {
  return (req.route ??= req.routeOptions);
}
