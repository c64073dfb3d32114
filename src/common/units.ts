import { UcloudError } from './errors.js';

// Sizes: units are case-insensitive (MB, Mb, mB and mb are all megabytes — ucloud
// never measures bits). Decimal units are powers of 1000 (1 MB = 1,000,000 bytes),
// binary units powers of 1024 (1 MiB = 1,048,576 bytes), as in IEC 80000-13 and
// as Incus and Nomad read them. A bare number is bytes.
const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1e3,
  kb: 1e3,
  m: 1e6,
  mb: 1e6,
  g: 1e9,
  gb: 1e9,
  t: 1e12,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
};

const SIZE_RE = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i;

/** Parses "256MiB", "1.5 GB", "4096" into bytes; anything else is INVALID_SIZE. */
export function parseSize(input: string | number): number {
  if (typeof input === 'number') {
    if (!Number.isSafeInteger(input) || input < 0) {
      throw new UcloudError('INVALID_SIZE', `invalid size ${input}: a size in bytes is a whole number, 0 or more`);
    }
    return input;
  }
  const m = SIZE_RE.exec(input);
  const unit = m?.[2]?.toLowerCase();
  if (!m || unit === undefined || !(unit in UNITS)) {
    throw new UcloudError('INVALID_SIZE', `invalid size "${input}"`);
  }
  const bytes = Number(m[1]) * UNITS[unit]!;
  if (!Number.isFinite(bytes) || bytes > Number.MAX_SAFE_INTEGER) {
    throw new UcloudError('SIZE_OUT_OF_RANGE', `size "${input}" is too large`);
  }
  if (!Number.isInteger(bytes)) {
    throw new UcloudError('INVALID_SIZE', `size "${input}" is not a whole number of bytes`);
  }
  return bytes;
}

/** Same as parseSize, within [min, max] bytes; `what` names the field in the message. */
export function parseSizeInRange(input: string | number, what: string, min: number, max: number): number {
  let bytes: number;
  try {
    bytes = parseSize(input);
  } catch (err) {
    if (err instanceof UcloudError) throw new UcloudError(err.code, `${what}: ${err.message}`);
    throw err;
  }
  if (bytes < min || bytes > max) {
    throw new UcloudError('SIZE_OUT_OF_RANGE', `${what} must be between ${formatSize(min)} and ${formatSize(max)}, not ${formatSize(bytes)}`);
  }
  return bytes;
}

/** Formats bytes with the largest binary unit that keeps the number >= 1 (e.g. "1.5GiB"). */
export function formatSize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  const text = Number.isInteger(v) ? String(v) : v.toFixed(v < 10 ? 2 : 1).replace(/\.?0+$/, '');
  return `${text}${units[i]}`;
}

const DURATION_RE = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/i;
const DURATION_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses "500ms", "30s", "2m", "1h", "30d" (a bare number is seconds) into milliseconds. */
export function parseDuration(input: string | number): number {
  if (typeof input === 'number') return input * 1000;
  const m = DURATION_RE.exec(input);
  if (!m) throw new UcloudError('VALIDATION_FAILED', `invalid duration "${input}" (e.g. 500ms, 30s, 2m)`);
  return Math.round(Number(m[1]) * DURATION_MS[(m[2] ?? 's').toLowerCase()]!);
}
