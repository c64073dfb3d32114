import { stringify } from 'yaml';
import { UcloudError } from '../common/errors.js';
import { safeText } from '../common/safe-text.js';

export type OutputFormat = 'table' | 'json' | 'yaml';
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['table', 'json', 'yaml'];

export interface Column<T> {
  header: string;
  get: (row: T) => string | number | undefined;
}

export function parseOutput(v: string): OutputFormat {
  if (!(OUTPUT_FORMATS as readonly string[]).includes(v)) {
    throw new UcloudError('VALIDATION_FAILED', `--output must be one of ${OUTPUT_FORMATS.join(', ')}, not "${v}"`);
  }
  return v as OutputFormat;
}

export { safeText };

/** A copy of `v` with every string (keys too) passed through safeText. */
function safeDeep(v: unknown): unknown {
  if (typeof v === 'string') return safeText(v);
  if (Array.isArray(v)) return v.map(safeDeep);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [safeText(k), safeDeep(x)]));
  return v;
}

/**
 * JSON keeps the data exact: JSON.stringify already escapes C0 controls; DEL,
 * C1 and the bidi overrides it leaves raw get the equivalent \u escape.
 */
function safeJson(obj: unknown): string {
  return JSON.stringify(obj, null, 2).replace(/[\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Data goes to stdout: json and yaml print the API objects as they are; table picks columns. */
export function printList<T>(rows: T[], columns: Column<T>[], format: OutputFormat): void {
  if (format !== 'table') return printObject(rows, format);
  const cells = [columns.map((c) => c.header), ...rows.map((r) => columns.map((c) => safeText(String(c.get(r) ?? '-'))))];
  const widths = columns.map((_, i) => Math.max(...cells.map((row) => row[i]!.length)));
  process.stdout.write(cells.map((row) => row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n') + '\n');
}

export function printObject(obj: unknown, format: OutputFormat, fields?: [string, string | number | undefined][]): void {
  if (format === 'json') process.stdout.write(`${safeJson(obj)}\n`);
  else if (format === 'yaml' || !fields) process.stdout.write(stringify(safeDeep(obj)));
  else {
    const w = Math.max(...fields.map(([k]) => k.length));
    process.stdout.write(fields.map(([k, v]) => `${`${k}:`.padEnd(w + 2)}${safeText(String(v ?? '-'))}`).join('\n') + '\n');
  }
}

/** Progress and notes go to stderr, so stdout stays data. */
export function note(text: string): void {
  process.stderr.write(`${safeText(text)}\n`);
}
