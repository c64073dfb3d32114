import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Api } from '../../src/api/context.js';
import { buildApi } from '../../src/api/server.js';
import { isErrorCode } from '../../src/common/errors.js';
import { silentLogger } from '../../src/common/logger.js';
import { Keys } from '../../src/store/keys.js';
import { TestCluster } from '../helpers/cluster.js';

interface Param {
  in: string;
  name: string;
}
interface Operation {
  operationId: string;
  parameters?: Param[];
  requestBody?: { content: Record<string, { schema: { properties?: Record<string, unknown> } }> };
}

/** What an operation of the document looks like to the fuzzer. */
interface Target {
  method: string;
  path: string;
  params: string[];
  query: string[];
  body: string[] | undefined;
}

/** Keys under this prefix are the audit trail: a refused request may add to it, and nothing else. */
const EVENT_PREFIX = Keys.events();

// Values of every JSON type, including the awkward ones: huge, deep, wrongly typed, prototype names.
/** A value that would be a valid name makes a real request (create a network "a"), not a malformed one. */
const NAME = /^[a-z][a-z0-9-]{0,62}$/;
const hostileString = fc.oneof(
  fc.string({ maxLength: 80 }),
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.constantFrom('__proto__', 'constructor', '..', '../../etc/passwd', '%00', '\u0000', '\u001b[31m', 'a/b', ' ', '', '-1', '1e309', 'NaN', 'true', 'null', '{}', '[]'),
  fc.integer({ min: 10_000, max: 70_000 }).map((n) => 'x'.repeat(n)),
).filter((s) => !NAME.test(s));
const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  hostileString,
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.string({ maxLength: 8 }), { maxLength: 5 }),
  fc.object({ maxDepth: 3 }),
  fc.constant(Number.MAX_SAFE_INTEGER),
  fc.constant(-1),
);

describe('the API under property-based fuzzing driven by its OpenAPI document (real etcd)', () => {
  let c: TestCluster;
  let api: Api;
  let aliceToken = '';
  let targets: Target[] = [];
  /** Names that exist: a fuzzed value equal to one would be a real request, not an attack. */
  const existing = new Set(['web1', 'lab', 'laptop', 'ucloud-test', 'admin', 'alice', 'hv1', 'local']);

  /** Every key outside the event prefix, with its value and version: what a refused request must not change. */
  const snapshot = async (): Promise<Record<string, string>> => {
    const { ns, close } = c.store.connection();
    try {
      const all = await ns.getAll().strings();
      return Object.fromEntries(Object.entries(all).filter(([k]) => !k.startsWith(EVENT_PREFIX)));
    } finally {
      close();
    }
  };

  beforeAll(async () => {
    c = await TestCluster.start();
    await c.bootstrap({ guestImage: c.tinyImage() });
    const m = c.managers();
    aliceToken = (await m.users.create('alice', 'user')).token;
    api = buildApi(m, silentLogger);
    await api.ready();
    const auth = { authorization: `Bearer ${aliceToken}` };
    for (const [url, payload] of [
      ['/v1/networks', { name: 'lab' }],
      ['/v1/vms', { name: 'web1', image: 'ucloud-test', cpu: 1, ram: '128MiB', disk: '1GiB' }],
    ] as const) {
      const r = await api.inject({ method: 'POST', url, headers: auth, payload });
      expect(r.statusCode, r.body).toBeLessThan(300);
    }
    const doc = (await api.inject({ method: 'GET', url: '/openapi.json' })).json() as { paths: Record<string, Record<string, Operation>> };
    // An event stream that is accepted never ends, and inject waits for the end: its malformed requests are
    // the list route's (same query schema), fuzzed there; its refusals are in the authorization matrix.
    targets = Object.entries(doc.paths).filter(([path]) => !path.endsWith('/stream')).flatMap(([path, ops]) =>
      Object.entries(ops).map(([method, op]) => ({
        method: method.toUpperCase(),
        path,
        params: (op.parameters ?? []).filter((p) => p.in === 'path').map((p) => p.name),
        query: (op.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name),
        body: op.requestBody ? Object.keys(op.requestBody.content['application/json']?.schema.properties ?? {}) : undefined,
      })),
    );
  });
  afterAll(async () => {
    await api?.close();
    await c?.stop();
  });

  /** One malformed request for `t`: hostile path parameters, query values and body (fields of the wrong type, unknown fields, wrong JSON). */
  const requestFor = (t: Target) =>
    fc.record({
      params: fc.tuple(...t.params.map(() => hostileString.filter((s) => !existing.has(s)))),
      query: fc.dictionary(fc.constantFrom(...t.query, 'limit', 'cursor', 'all', '__proto__', 'x'), hostileString.map((s) => s.slice(0, 2000)), { maxKeys: 3 }),
      body: fc.oneof(
        fc.record(Object.fromEntries((t.body ?? ['name']).map((k) => [k, hostileValue])), { requiredKeys: [] }),
        fc.dictionary(fc.string({ maxLength: 10 }), hostileValue, { maxKeys: 4 }),
        hostileValue,
        fc.constant(undefined),
      ),
      raw: fc.option(fc.constantFrom('{', '{"a":', 'null', '[1,2', '\u0000', '{"name": "a", "name": "B"}'), { nil: undefined }),
      admin: fc.boolean(),
    }).filter((r) => t.params.length > 0 || t.body !== undefined || payloadOf(r) !== undefined); // else it is a well-formed request (e.g. POST /v1/totp)

  const payloadOf = (r: { raw?: string | undefined; body: unknown }) => r.raw ?? (r.body === undefined ? undefined : JSON.stringify(r.body));

  it('thousands of malformed requests across every operation: no 5xx, every error in the documented shape, nothing stored changed', async () => {
    const before = await snapshot();
    let sent = 0;
    const statuses = new Map<number, number>();
    const accepted: string[] = [];

    for (const t of targets) {
      await fc.assert(
        fc.asyncProperty(requestFor(t), async (r) => {
          let i = 0;
          const path = t.path.replace(/\{\w+\}/g, () => encodeURIComponent(r.params[i++] as string));
          const qs = new URLSearchParams(r.query).toString();
          const payload = payloadOf(r);
          const res = await api.inject({
            method: t.method as 'GET',
            url: qs ? `${path}?${qs}` : path,
            headers: { authorization: `Bearer ${r.admin ? c.adminToken : aliceToken}`, ...(payload === undefined ? {} : { 'content-type': 'application/json' }) },
            ...(payload === undefined ? {} : { payload }),
          });
          sent++;
          statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
          expect(res.statusCode, `${t.method} ${t.path} → ${res.body.slice(0, 300)}`).toBeLessThan(500);
          if (res.statusCode < 400) {
            if (t.method !== 'GET') accepted.push(`${t.method} ${path} ${(payload ?? '').slice(0, 100)}`);
            return;
          }
          const body = res.json() as { code?: unknown; message?: unknown };
          expect(isErrorCode(body.code), `${t.method} ${t.path}: ${res.body.slice(0, 200)}`).toBe(true);
          expect(typeof body.message).toBe('string');
        }),
        { numRuns: 100, seed: 42 + sent },
      );
    }
    // Every operation was fuzzed, thousands of requests in all; none that writes was accepted.
    expect(targets.length).toBeGreaterThan(30);
    expect(sent).toBeGreaterThan(3000);
    expect(accepted.slice(0, 20), 'requests that wrote').toEqual([]);
    expect(await snapshot()).toEqual(before);
    console.log(`contract fuzz: ${sent} requests over ${targets.length} operations; answers ${JSON.stringify(Object.fromEntries(statuses))}`);
  }, 600_000);
});
