import { stringify } from 'yaml';
import { UcloudError } from '../common/errors.js';

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

/** Data goes to stdout: json and yaml print the API objects as they are; table picks columns. */
export function printList<T>(rows: T[], columns: Column<T>[], format: OutputFormat): void {
  if (format !== 'table') return printObject(rows, format);
  const cells = [columns.map((c) => c.header), ...rows.map((r) => columns.map((c) => String(c.get(r) ?? '-')))];
  const widths = columns.map((_, i) => Math.max(...cells.map((row) => row[i]!.length)));
  process.stdout.write(cells.map((row) => row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n') + '\n');
}

export function printObject(obj: unknown, format: OutputFormat, fields?: [string, string | number | undefined][]): void {
  if (format === 'json') process.stdout.write(`${JSON.stringify(obj, null, 2)}\n`);
  else if (format === 'yaml' || !fields) process.stdout.write(stringify(obj));
  else {
    const w = Math.max(...fields.map(([k]) => k.length));
    process.stdout.write(fields.map(([k, v]) => `${`${k}:`.padEnd(w + 2)}${v ?? '-'}`).join('\n') + '\n');
  }
}

/** Progress and notes go to stderr, so stdout stays data. */
export function note(text: string): void {
  process.stderr.write(`${text}\n`);
}
