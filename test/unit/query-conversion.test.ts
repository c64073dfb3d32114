import fc from 'fast-check';
import { Value } from 'typebox/value';
import { describe, expect, it } from 'vitest';
import { validatorCompiler } from '../../src/api/validator.js';
import { ListQuery, VmListFilter } from '../../src/model/index.js';

describe('query conversion', () => {
  const schema = ListQuery(VmListFilter);
  const validate = validatorCompiler({ schema, httpPart: 'querystring', method: 'GET', url: '/v1/vms' }) as (v: unknown) => { value?: unknown; error?: unknown };
  /** What the validator answered before its fast path: Value.Convert, then the check. */
  const generic = (v: unknown): unknown => Value.Convert(schema, v);

  it('gives every query the value, or the refusal, that Value.Convert gave (fast-check)', () => {
    const text = fc.oneof(fc.constantFrom('100', '0', '-5', '1e2', '0100', ' 7', '1.5', '0x10', '', 'true', 'false', 'TRUE', '1', 'yes', 'running', 'web1'), fc.string({ maxLength: 6 }));
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom('limit', 'cursor', 'all', 'owner', 'status', 'host', 'other'), text, { maxKeys: 4 }), (q) => {
        const got = validate({ ...q });
        const want = generic({ ...q });
        const ok = Value.Check(schema, want);
        expect(got.error === undefined).toBe(ok);
        if (ok) expect(got.value).toEqual(want);
      }),
      { numRuns: 2000 },
    );
  });

  it('converts the canonical spellings without Value.Convert', () => {
    expect(validate({ limit: '100', all: 'true' }).value).toEqual({ limit: 100, all: true });
    expect(validate({ limit: '0' }).error).toBeDefined();
  });
});
