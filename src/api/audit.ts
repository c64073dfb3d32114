import type { FastifyReply, FastifyRequest } from 'fastify';
import type { EventInput, EventObject } from '../model/index.js';
import { routeOf } from './route-of.js';

// The API's share of the audit log: every request that would change something
// (any method but GET and HEAD) and reached a route is one event, refused or not.

/** Objects of the cluster's own, seen by admins only (owner ''). */
const CLUSTER_KINDS = new Set(['host', 'image-store', 'storage-driver']);

/** What one request's answer told about its object, taken from the body as it is sent. */
export interface Answered {
  id?: string;
  name?: string;
  owner?: string;
  code?: string;
  message?: string;
}

/** A route's declared action as an event's kind and action: 'vm:create' → vm, 'vm.create' (every route declares one: authz.ts). */
export function routeAction(declared: string): { kind: string; action: string } {
  return { kind: declared.slice(0, declared.indexOf(':')), action: declared.replace(':', '.') };
}

/** Reads what the answer says about the object (or the error); non-JSON answers tell nothing. */
export function answered(payload: unknown, status: number): Answered | undefined {
  if (typeof payload !== 'string' && !Buffer.isBuffer(payload)) return undefined;
  if (payload.length === 0 || payload.length > 1 << 16 || payload[0] !== (typeof payload === 'string' ? '{' : 0x7b)) return undefined;
  try {
    const body = JSON.parse(payload.toString()) as Record<string, unknown>;
    const str = (k: string) => (typeof body[k] === 'string' ? { [k]: body[k] as string } : {});
    return status >= 400 ? { ...str('code'), ...str('message') } : { ...str('id'), ...str('name'), ...str('owner') };
  } catch {
    return undefined;
  }
}

/** The event for a request that reached a route and was answered. */
export function requestEvent(req: FastifyRequest, reply: FastifyReply, ans: Answered | undefined): EventInput {
  const { kind, action } = routeAction((routeOf(req).config as { action: string }).action);
  const params = (req.params ?? {}) as Record<string, unknown>;
  const body = (req.body && typeof req.body === 'object' ? req.body : {}) as Record<string, unknown>;
  const text = (v: unknown) => (typeof v === 'string' && v.length <= 200 ? v : undefined);
  const user = req.user as FastifyRequest['user'] | null;
  const ok = reply.statusCode < 400;
  const name = (ok ? ans?.name : undefined) ?? text(params.name) ?? text(params.ref) ?? text(body.name);
  const id = ok ? ans?.id : undefined;
  // A refused request names whatever its caller typed: it goes into the caller's own log (an admin's
  // into the object's owner's), so nobody writes into another user's events by asking for their things.
  const fromPath = ok || user?.role === 'admin';
  const owner = CLUSTER_KINDS.has(kind)
    ? ''
    : ((ok ? ans?.owner : undefined) ?? (fromPath ? (text(params.owner) ?? (kind === 'user' ? name : undefined)) : undefined) ?? user?.name ?? '');
  const object: EventObject = { kind, owner, ...(id !== undefined ? { id } : {}), ...(name !== undefined ? { name } : {}) };
  return {
    actor: { kind: 'user', name: user?.name ?? '' },
    action,
    object,
    result: ok ? 'ok' : 'error',
    ...(!ok ? { code: ans?.code ?? `HTTP_${reply.statusCode}` } : {}),
    ...(!ok && ans?.message ? { message: ans.message.slice(0, 1000) } : {}),
  };
}
