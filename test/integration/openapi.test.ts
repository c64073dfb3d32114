import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Api } from '../../src/api/context.js';
import { PERMISSIONS } from '../../src/api/authz.js';
import { buildApi } from '../../src/api/server.js';
import { CATALOGUE } from '../../src/common/errors.js';
import { silentLogger } from '../../src/common/logger.js';
import { collectServedRoutes } from '../helpers/served-routes.js';
import { TestCluster } from '../helpers/cluster.js';

interface Operation {
  operationId?: string;
  parameters?: { in: string; name: string }[];
  responses: Record<string, { content?: Record<string, { schema: { $ref?: string } }> }>;
  security?: unknown[];
  'x-action'?: string;
  'x-roles'?: string[];
}
type Doc = { openapi: string; paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, { properties: { code: { enum: string[] } } }> } };

const METHODS = ['get', 'post', 'put', 'patch', 'delete'];

describe('the OpenAPI document (real etcd, the API as it serves)', () => {
  let c: TestCluster;
  let api: Api;
  let doc: Doc;
  const served = new Set<string>();

  beforeAll(async () => {
    c = await TestCluster.start();
    await c.bootstrap({ guestImage: c.tinyImage() });
    api = buildApi(c.managers(), silentLogger);
    // The routes register when the server gets ready, so this hook sees every one of them.
    collectServedRoutes(api, served, { apiOnly: true });
    await api.ready();
    const res = await api.inject({ method: 'GET', url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    doc = res.json();
  });
  afterAll(async () => {
    await api?.close();
    await c?.stop();
  });

  it('is a valid OpenAPI 3.1 document (checked by a standard validator), served without a token', async () => {
    expect(doc.openapi).toBe('3.1.0');
    const result = await new Validator().validate(doc as never);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it('documents every route the server has, and every documented route exists on the server', async () => {
    const documented = new Set(Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).filter((k) => METHODS.includes(k)).map((m) => `${m.toUpperCase()} ${path}`)));
    expect(served.size).toBeGreaterThan(30);
    expect([...served].filter((r) => !documented.has(r))).toEqual([]);
    expect([...documented].filter((r) => !served.has(r))).toEqual([]);
    // And each documented operation reaches a route (not the not-found handler's "no route" answer), asked as an admin.
    for (const r of documented) {
      const [method, path] = r.split(' ') as [string, string];
      // A stream's answer never ends (inject would wait for it); it is served, as the first check shows.
      if (path.endsWith('/stream')) continue;
      const url = path.replace(/\{\w+\}/g, 'zz-nothing');
      const res = await api.inject({ method: method as 'GET', url, headers: { authorization: `Bearer ${c.adminToken}` } });
      expect(res.json().message ?? '', r).not.toMatch(/^no route /);
    }
  });

  it('every operation has a unique operation id, its authorization, and the error shape on every error answer', () => {
    const ids = new Set<string>();
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        if (!METHODS.includes(method)) continue;
        const what = `${method} ${path}`;
        expect(op.operationId, what).toMatch(/^[a-z][A-Za-z]+$/);
        expect(ids.has(op.operationId!), `${what}: operation id repeated`).toBe(false);
        ids.add(op.operationId!);
        expect(Object.keys(PERMISSIONS), what).toContain(op['x-action']);
        expect(op['x-roles'], what).toEqual([...PERMISSIONS[op['x-action'] as keyof typeof PERMISSIONS]]);
        if (op['x-roles']!.includes('anyone')) expect(op.security, what).toEqual([]);
        for (const [status, answer] of Object.entries(op.responses)) {
          if (Number(status) < 400) continue;
          expect(answer.content?.['application/json']?.schema.$ref, `${what} ${status}`).toBe('#/components/schemas/ErrorResponse');
        }
      }
    }
    expect(doc.components.schemas.ErrorResponse!.properties.code.enum.sort()).toEqual(Object.keys(CATALOGUE).sort());
  });
});
