import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { allowedOf, DEFAULT_ALLOCATION_RATIO, LEGACY_ALLOCATION_RATIO, overbooked, parseRatio, ratioOf, worsened } from '../../src/common/capacity.js';
import { loadConfig } from '../../src/common/config.js';

const file = join(mkdtempSync(join(tmpdir(), 'ucloud-capacity-')), 'ucloud.conf');
writeFileSync(file, '# nothing set\n');

describe('allocation ratio settings', () => {
  it('default to cpu 4, ram 1, disk 1 (for newly registered hosts)', () => {
    expect(loadConfig({ file, env: {} }).config.allocationRatio).toEqual({ cpu: 4, ram: 1, disk: 1 });
    expect(DEFAULT_ALLOCATION_RATIO).toEqual({ cpu: 4, ram: 1, disk: 1 });
  });

  it('take decimals from the environment or flags', () => {
    const c = loadConfig({ file, env: { UCLOUD_CPU_ALLOCATION_RATIO: '16', UCLOUD_RAM_ALLOCATION_RATIO: '1.5' }, overrides: { disk_allocation_ratio: '0.75' } });
    expect(c.config.allocationRatio).toEqual({ cpu: 16, ram: 1.5, disk: 0.75 });
  });

  it.each(['0', '0.0', '-1', 'abc', '4,0', '', '101', '1e3', ' 2'])('refuse %j with INVALID_CONFIG naming the key', (v) => {
    expect(() => loadConfig({ file, env: { UCLOUD_CPU_ALLOCATION_RATIO: 'x' }, overrides: { cpu_allocation_ratio: v } })).toThrow(
      expect.objectContaining({ code: 'INVALID_CONFIG', message: expect.stringContaining('cpu_allocation_ratio must be a number above 0') }),
    );
    expect(parseRatio(v)).toBeUndefined();
  });

  it('are read from the config file', () => {
    const f = join(file, '..', 'ratio.conf');
    writeFileSync(f, 'cpu_allocation_ratio = 2.5\n');
    expect(loadConfig({ file: f, env: {} }).config.allocationRatio.cpu).toBe(2.5);
  });
});

describe('allowed capacity', () => {
  it('is physical × ratio rounded down, per dimension', () => {
    expect(allowedOf({ capacity: { cpu: 3, ramBytes: 1000, diskBytes: 10 }, allocationRatio: { cpu: 1.5, ram: 1.25, disk: 0.5 } })).toEqual({ cpu: 4, ramBytes: 1250, diskBytes: 5 });
  });

  it('of a record from before ratios is its capacity (1:1), not capacity × the defaults', () => {
    const old = { capacity: { cpu: 8, ramBytes: 1000, diskBytes: 10 } };
    expect(LEGACY_ALLOCATION_RATIO).toEqual({ cpu: 1, ram: 1, disk: 1 });
    expect(ratioOf(old)).toEqual({ cpu: 1, ram: 1, disk: 1 });
    expect(allowedOf(old)).toEqual(old.capacity);
  });

  it('names the first dimension booked beyond it', () => {
    expect(overbooked({ cpu: 8, ramBytes: 0, diskBytes: 0 }, { cpu: 8, ramBytes: 0, diskBytes: 0 })).toBeUndefined();
    expect(overbooked({ cpu: 1, ramBytes: 2, diskBytes: 0 }, { cpu: 8, ramBytes: 1, diskBytes: 0 })).toBe('ramBytes');
  });
});

describe('a change on a host already over', () => {
  const r = (cpu: number, ramBytes: number) => ({ cpu, ramBytes, diskBytes: 0 });
  it('is refused only where it lowers an over dimension', () => {
    const used = r(10, 4);
    expect(worsened(used, r(8, 8), r(8, 16))).toBeUndefined(); // more RAM while CPU is over
    expect(worsened(used, r(8, 8), r(9, 8))).toBeUndefined(); // less over
    expect(worsened(used, r(8, 8), r(8, 8))).toBeUndefined(); // nothing changes
    expect(worsened(used, r(8, 8), r(6, 16))).toBe('cpu'); // worse
    expect(worsened(used, r(12, 8), r(9, 8))).toBe('cpu'); // from fitting to over
    expect(worsened(used, r(12, 8), r(12, 3))).toBe('ramBytes');
    expect(worsened(used, r(12, 8), r(11, 4))).toBeUndefined(); // lowered, still fits
  });
});
