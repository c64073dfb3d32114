import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/common/paths.js';
import { clientTypesSource } from '../../scripts/client-types.js';

describe('the typed client', () => {
  it('src/client/api-types.ts is what the OpenAPI document generates (else: npm run gen:client)', async () => {
    const committed = readFileSync(join(packageRoot(), 'src', 'client', 'api-types.ts'), 'utf8');
    expect(committed).toBe(await clientTypesSource());
  }, 60_000);
});
