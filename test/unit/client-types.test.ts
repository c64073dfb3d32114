import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { fillPath, type CallOpts, type MethodOf, type Ok, type Op } from '../../src/client/typed-paths.js';
import { packageRoot } from '../../src/common/paths.js';
import { clientTypesSource } from '../../scripts/client-types.js';

describe('the typed client', () => {
  it('src/client/api-types.ts is what the OpenAPI document generates (else: npm run gen:client)', async () => {
    const committed = readFileSync(join(packageRoot(), 'src', 'client', 'api-types.ts'), 'utf8');
    expect(committed).toBe(await clientTypesSource());
  }, 60_000);
});

describe('fillPath', () => {
  it('encodes each {parameter} and leaves out unset and false query values', () => {
    expect(fillPath('/v1/images/{owner}/{name}', { owner: 'a b', name: 'x/y' }, { all: false, limit: 5, cursor: undefined })).toBe('/v1/images/a%20b/x%2Fy?limit=5');
    expect(fillPath('/v1/vms', undefined, { all: true })).toBe('/v1/vms?all=true');
    expect(() => fillPath('/v1/vms/{ref}', {}, undefined)).toThrow('{ref}');
  });

  it('takes the parameters, query and body of the operation from the document', () => {
    expectTypeOf<CallOpts<Op<'/v1/vms/{ref}/start', 'post'>>['params']>().toEqualTypeOf<{ ref: string }>();
    expectTypeOf<CallOpts<Op<'/v1/vms/{ref}/console-log', 'get'>>['query']>().toEqualTypeOf<{ lines?: number } | undefined>();
    expectTypeOf<CallOpts<Op<'/v1/keys', 'post'>>['body']>().toEqualTypeOf<{ name: string; publicKey: string }>();
    expectTypeOf<Ok<Op<'/v1/keys/{name}', 'delete'>>>().toEqualTypeOf<undefined>();
    expectTypeOf<MethodOf<'/v1/vms/{ref}'>>().toEqualTypeOf<'get' | 'delete' | 'patch'>();
  });
});
