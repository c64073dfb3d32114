import type { SwaggerOptions } from '@fastify/swagger';
import { PERMISSIONS, type Action } from './authz.js';

/** The version of the API the document describes (paths are under /v1). */
export const API_VERSION = '1.0.0';

/**
 * @fastify/swagger's settings: OpenAPI 3.1, a bearer token on every operation
 * but the public ones, and each operation's authorization (its action and the
 * roles allowed it) written into the document as `x-action` and `x-roles`.
 */
export function openapiOptions(): SwaggerOptions {
  return {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'ucloud API',
        version: API_VERSION,
        description: 'IPv6-first virtual machine hosting. Every error answers `ErrorResponse` with a stable `code` from the catalogue (docs/cli.md#error-codes).',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'an API token (`ucloud token create`, or the one `ucloud up` wrote)' } } },
      security: [{ bearer: [] }],
    },
    // Shared schemas keep their $id as their name in components.schemas ("ErrorResponse", not "def-0").
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`) },
    transform: ({ schema, url, route }) => {
      const action = (route.config as { action?: Action } | undefined)?.action;
      if (!action || !schema) return { schema, url };
      return { schema: { ...schema, 'x-action': action, 'x-roles': [...PERMISSIONS[action]] } as typeof schema, url };
    },
  };
}

/**
 * The OpenAPI document of this build, without etcd: the routes are registered
 * on managers that are never called (docs generation, the typed client's
 * generator, tests that only read the document).
 */
export async function openapiDocument(): Promise<Record<string, unknown>> {
  const { buildApi } = await import('./server.js');
  const { silentLogger } = await import('../common/logger.js');
  // Any property of a manager is again a stand-in: registration only passes them around.
  const standIn: object = new Proxy({}, { get: () => standIn });
  const api = buildApi(standIn as never, silentLogger, { documentOnly: true });
  await api.ready();
  const doc = api.swagger() as unknown as Record<string, unknown>;
  await api.close();
  return doc;
}

interface Op {
  operationId: string;
  summary?: string;
  'x-action': string;
  'x-roles': string[];
  responses: Record<string, unknown>;
}

/** docs/api.md's table of operations (`npm run docs`; docs.test.ts checks it). */
export function operationsTable(doc: Record<string, unknown>): string {
  const rows: string[] = [];
  for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, Op>>)) {
    for (const [method, op] of Object.entries(ops)) {
      if (!op.operationId) continue;
      const ok = Object.keys(op.responses).filter((s) => Number(s) < 400).join(', ');
      rows.push(`| \`${method.toUpperCase()} ${path}\` | \`${op.operationId}\` | \`${op['x-action']}\` | ${op['x-roles'].join(', ')} | ${ok} |`);
    }
  }
  return ['| method and path | operation id | action | roles | success |', '|---|---|---|---|---|', ...rows].join('\n');
}

