import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openapiDocument, operationsTable } from '../../src/api/openapi.js';
import { CONFIG_KEYS } from '../../src/common/config.js';
import { CATALOGUE } from '../../src/common/errors.js';

const root = join(import.meta.dirname, '..', '..');
const read = (f: string) => readFileSync(join(root, f), 'utf8');

// The reference docs are written by hand; these keep them from drifting away from the code.
describe('docs match the code', () => {
  it('docs/configuration.md documents every key with its default', () => {
    const doc = read('docs/configuration.md');
    for (const [key, spec] of Object.entries(CONFIG_KEYS)) {
      const row = doc.split('\n').find((l) => l.startsWith(`| \`${key}\` |`));
      expect(row, key).toBeDefined();
      expect(row).toContain(`\`${spec.default || '""'}\``);
    }
  });

  it('docs/api.md lists every operation of the OpenAPI document with its authorization', async () => {
    const table = operationsTable(await openapiDocument());
    expect(table.split('\n').length).toBeGreaterThan(30);
    expect(read('docs/api.md')).toContain(`<!-- generated:operations -->\n${table}\n<!-- /generated:operations -->`);
  });

  it('docs/cli.md lists every error code', () => {
    const doc = read('docs/cli.md');
    for (const code of Object.keys(CATALOGUE)) expect(doc, code).toContain(`\`${code}\``);
  });

  it('the README starts with the two commands', () => {
    const lines = read('README.md').split('\n').slice(0, 6).join('\n');
    expect(lines).toContain('sudo ./scripts/quickstart.sh');
    expect(lines).toContain('npm test');
    expect(read('.ci/run')).toMatch(/^npm test$/m);
  });
});
