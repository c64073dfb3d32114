// Regenerates the reference tables in docs/ from the code (`npm run docs`):
// the configuration keys, the error catalogue and the API's operations. docs.test.ts fails when they drift.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openapiDocument, operationsTable } from '../src/api/openapi.js';
import { CONFIG_KEYS } from '../src/common/config.js';
import { CATALOGUE, exitCodeOf, httpStatusOf, type ErrorCode } from '../src/common/errors.js';
import { packageRoot } from '../src/common/paths.js';

const cell = (s: string) => s.replace(/\|/g, '\\|');

function configTable(): string {
  const rows = Object.entries(CONFIG_KEYS).map(([key, spec]) => {
    const s = spec as { default: string; env?: readonly string[]; values?: readonly string[]; doc: string };
    const env = (s.env ?? []).map((e) => `\`${e}\``).join(', ');
    return `| \`${key}\` | \`${s.default || '""'}\` | ${env} | ${cell(s.doc)}${s.values ? ` One of: ${s.values.join(', ')}.` : ''} |`;
  });
  return ['| key | default | environment | meaning |', '|---|---|---|---|', ...rows].join('\n');
}

function errorTable(): string {
  const rows = (Object.keys(CATALOGUE) as ErrorCode[]).map((code) => {
    const hint = (CATALOGUE[code] as { hint?: string }).hint ?? '';
    return `| \`${code}\` | ${httpStatusOf(code)} | ${exitCodeOf(code)} | ${cell(hint)} |`;
  });
  return ['| code | HTTP | exit | hint |', '|---|---|---|---|', ...rows].join('\n');
}

function splice(file: string, name: string, table: string): void {
  const path = join(packageRoot(), 'docs', file);
  const text = readFileSync(path, 'utf8');
  const begin = `<!-- generated:${name} -->`;
  const end = `<!-- /generated:${name} -->`;
  const i = text.indexOf(begin);
  const j = text.indexOf(end);
  if (i < 0 || j < 0) throw new Error(`${file} has no ${begin} … ${end} markers`);
  writeFileSync(path, `${text.slice(0, i + begin.length)}\n${table}\n${text.slice(j)}`);
}

splice('api.md', 'operations', operationsTable(await openapiDocument()));
splice('configuration.md', 'config-keys', configTable());
splice('cli.md', 'error-codes', errorTable());
console.log('docs: tables regenerated');
