import { describe, expect, it } from 'vitest';
import { UcloudError } from '../../src/common/errors.js';
import { formatSize, parseDuration, parseSize, parseSizeInRange } from '../../src/common/units.js';

describe('parseSize', () => {
  const accepted: [string | number, number][] = [
    ['0', 0],
    ['4096', 4096],
    ['512B', 512],
    ['512b', 512],
    ['1KB', 1000],
    ['1k', 1000],
    ['1MB', 1_000_000],
    ['1Mb', 1_000_000],
    ['1mB', 1_000_000],
    ['1mb', 1_000_000],
    ['1M', 1_000_000],
    ['2GB', 2_000_000_000],
    ['1TB', 1e12],
    ['1KiB', 1024],
    ['256MiB', 256 * 2 ** 20],
    ['256mib', 256 * 2 ** 20],
    ['256MIB', 256 * 2 ** 20],
    ['1GiB', 2 ** 30],
    ['1.5GiB', 1.5 * 2 ** 30],
    ['1 GiB', 2 ** 30],
    ['  20GiB ', 20 * 2 ** 30],
    ['2TiB', 2 * 2 ** 40],
    [1234, 1234],
  ];
  it.each(accepted)('accepts %j as %d bytes', (input, bytes) => {
    expect(parseSize(input)).toBe(bytes);
  });

  const rejected: (string | number)[] = ['', ' ', 'MiB', '12 parsecs', '-1GiB', '1,5GiB', '1e3', 'GiB1', '1 G i B', '1GiBs', '0x10', 'NaN', 'Infinity', '1.5B', '0.3KiB', -5, 1.5, '1.2.3MB', '99999999999TiB'];
  it.each(rejected)('rejects %j with a code', (input) => {
    let err: unknown;
    try {
      parseSize(input);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UcloudError);
    expect(['INVALID_SIZE', 'SIZE_OUT_OF_RANGE']).toContain((err as UcloudError).code);
  });

  it('checks ranges and names the field', () => {
    expect(() => parseSizeInRange('1GiB', 'ram', 0, 2 ** 20)).toThrow(/ram must be between/);
    expect(() => parseSizeInRange('12 parsecs', 'ram', 0, 2 ** 40)).toThrow(/^ram: invalid size/);
    expect(parseSizeInRange('1MiB', 'ram', 0, 2 ** 20)).toBe(2 ** 20);
  });
});

describe('formatSize', () => {
  it.each([
    [0, '0B'],
    [1024, '1KiB'],
    [256 * 2 ** 20, '256MiB'],
    [1.5 * 2 ** 30, '1.5GiB'],
    [1000, '1000B'],
  ])('%d → %s', (bytes, text) => expect(formatSize(bytes)).toBe(text));

  it('round-trips through parseSize for binary units', () => {
    for (const s of ['1KiB', '256MiB', '20GiB', '2TiB']) expect(formatSize(parseSize(s))).toBe(s);
  });
});

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['2m', 120_000],
    ['1h', 3_600_000],
    ['10', 10_000],
  ])('%s → %d ms', (text, ms) => expect(parseDuration(text)).toBe(ms));
  it('rejects garbage', () => expect(() => parseDuration('soon')).toThrow(UcloudError));
});
