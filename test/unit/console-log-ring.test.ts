import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readTail, RotatingLog, rotatedPath } from '../../src/host/console/log-ring.js';
import { ROOT } from '../helpers/cluster.js';

const dir = mkdtempSync(join(tmpdir(), 'ucloud-console-ring-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const size = (p: string) => statSync(p).size;

describe('the console log ring', () => {
  it('never holds more than the cap, whatever is written, and keeps the newest lines', () => {
    const path = join(dir, 'a.log');
    const log = new RotatingLog(path, 64 * 1024);
    for (let i = 0; i < 20_000; i++) log.write(Buffer.from(`line ${i} ${'y'.repeat(i % 50)}\n`));
    log.close();
    expect(size(path)).toBeLessThanOrEqual(32 * 1024);
    expect(size(rotatedPath(path))).toBeLessThanOrEqual(32 * 1024);
    expect(size(path) + size(rotatedPath(path))).toBeGreaterThan(32 * 1024);
    const tail = readTail(path, 3).trimEnd().split('\n');
    expect(tail).toHaveLength(3);
    expect(tail.map((l) => l.split(' ')[1])).toEqual(['19997', '19998', '19999']);
  });

  it('keeps only the end of a chunk larger than half the cap', () => {
    const path = join(dir, 'b.log');
    const log = new RotatingLog(path, 16 * 1024);
    log.write(Buffer.concat([Buffer.alloc(100_000, 'x'), Buffer.from('\nEND\n')]));
    log.close();
    expect(size(path)).toBe(8 * 1024);
    expect(readTail(path, 1)).toBe('END\n');
  });

  it('appends to what an earlier keeper wrote, rotating a file that is already too big', () => {
    const path = join(dir, 'c.log');
    writeFileSync(path, 'x'.repeat(20_000));
    const log = new RotatingLog(path, 16 * 1024);
    log.write(Buffer.from('after\n'));
    log.close();
    expect(size(rotatedPath(path))).toBe(20_000);
    // The rotated half ends without a newline: its last line runs on into the new one.
    expect(readTail(path, 1)).toBe(`${'x'.repeat(20_000)}after\n`);
  });

  it('never writes through a link put in the place of the log', () => {
    const bait = join(dir, 'bait');
    writeFileSync(bait, 'host file\n');
    const path = join(dir, 'e.log');
    symlinkSync(bait, path);
    expect(() => new RotatingLog(path, 16 * 1024)).toThrow(/ELOOP/);
    expect(readFileSync(bait, 'utf8')).toBe('host file\n');
  });

  it('a tail spans the rotated half and of a missing log is empty', () => {
    const path = join(dir, 'd.log');
    writeFileSync(rotatedPath(path), 'one\ntwo\n');
    writeFileSync(path, 'three\n');
    expect(readTail(path, 2)).toBe('two\nthree\n');
    expect(readTail(path, 10)).toBe('one\ntwo\nthree\n');
    expect(readTail(join(dir, 'none.log'), 10)).toBe('');
  });

  // The host agent reads the log while the keeper, another process, rotates it.
  it('a tail read while the keeper rotates is neither missing the newest half nor holding a half twice', async () => {
    const path = join(dir, 'f.log');
    // The real ring (compiled by the suite's global setup) in a process of its own, as the keeper is.
    const writer = spawn(process.execPath, ['--input-type=module', '-e', `
      const { RotatingLog } = await import(${JSON.stringify(join(ROOT, 'dist', 'src', 'host', 'console', 'log-ring.js'))});
      const log = new RotatingLog(${JSON.stringify(path)}, 8192);
      // A rotation every fraction of a millisecond: far faster than a guest flooding its console
      // fills even the smallest cap's halves, so that a read torn by one is all but certain.
      let i = 0;
      const tick = () => {
        for (let k = 0; k < 16; k++) log.write(Buffer.from(i++ + '\\n'));
        setImmediate(tick);
      };
      tick();
    `], { stdio: 'ignore' });
    try {
      while (!existsSync(rotatedPath(path))) await new Promise((r) => setTimeout(r, 10));
      let reads = 0;
      const bad: string[] = [];
      for (const deadline = Date.now() + 1500; Date.now() < deadline; reads++) {
        const text = readTail(path, 1_000_000);
        const lines = text.split('\n').slice(0, -1).map(Number);
        // A half missing between the two is a jump; a half read twice, a step back.
        const gap = lines.findIndex((n, i) => i > 0 && n !== lines[i - 1]! + 1);
        if (gap > 0) bad.push(`${lines[gap - 1]} then ${lines[gap]}`);
        // Past its first rotation the writer always has a full half (4 KiB, less a line) on disk.
        if (text.length < 4096 - 16) bad.push(`only ${text.length} bytes`);
      }
      expect(reads).toBeGreaterThan(100);
      expect(bad.slice(0, 5)).toEqual([]);
    } finally {
      // Gone before the folder is removed: a writer still rotating made afterAll's rmSync fail (ENOTEMPTY).
      const gone = writer.exitCode !== null || writer.signalCode !== null ? Promise.resolve() : new Promise((r) => writer.once('exit', r));
      writer.kill('SIGKILL');
      await gone;
    }
  });
});
