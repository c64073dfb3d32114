import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readTail } from '../../src/host/console/log-ring.js';
import { keeperPid, startKeeper, stopKeeper, type KeeperPaths } from '../../src/host/console/supervise.js';
import { waitForExit } from '../../src/common/proc.js';
import { until } from '../helpers/cluster.js';

const MiB = 2 ** 20;
const CAP = MiB;
const FLOOD = 512 * MiB;

const rssKiB = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);

/**
 * Stands in for QEMU's serial socket (QEMU listens, one client at a time) and
 * floods whoever connects as fast as the client reads: far more than a guest
 * under TCG can print, so the keeper's memory is tested at its worst.
 */
class FakeSerial {
  server: Server | undefined;
  client: Socket | undefined;
  sent = 0;
  connects = 0;
  constructor(readonly path: string) {}

  listen(onClient: (s: Socket) => void): Promise<void> {
    this.server = createServer((s) => {
      this.connects++;
      this.client = s;
      s.on('error', () => undefined);
      onClient(s);
    });
    return new Promise((r) => this.server!.listen(this.path, r));
  }

  flood(s: Socket, bytes: number, end: string): Promise<void> {
    const chunk = Buffer.alloc(64 * 1024, 'flood-line-0123456789\n');
    return new Promise((resolve) => {
      const pump = () => {
        while (this.sent < bytes) {
          this.sent += chunk.length;
          if (!s.write(chunk)) return;
        }
        s.write(end, () => resolve());
      };
      s.on('drain', pump);
      pump();
    });
  }

  close(): Promise<void> {
    this.client?.destroy();
    return new Promise((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

describe('the console keeper process', () => {
  const base = mkdtempSync(join(tmpdir(), 'ucloud-console-keeper-'));
  const paths = (name: string): KeeperPaths => {
    const dir = join(base, name);
    mkdirSync(dir, { recursive: true });
    return { dir, socket: join(dir, 'serial.sock'), log: join(dir, 'console.log'), pidFile: join(dir, 'keeper.pid'), errFile: join(dir, 'keeper.err') };
  };
  const started: KeeperPaths[] = [];
  const serials: FakeSerial[] = [];

  afterAll(async () => {
    for (const p of started) await stopKeeper(p);
    for (const s of serials) await s.close();
    rmSync(base, { recursive: true, force: true });
  });

  describe('under a flood', () => {
    const p = paths('flood');
    const serial = new FakeSerial(p.socket);
    serials.push(serial);
    const end = `\nEND-OF-FLOOD-${randomBytes(4).toString('hex')}\n`;
    let flooded: Promise<void>;
    let pid = 0;

    beforeAll(async () => {
      await serial.listen((s) => {
        flooded ??= serial.flood(s, FLOOD, end);
      });
      pid = await startKeeper(p, CAP);
      started.push(p);
    });

    it(`keeps ${FLOOD / MiB} MiB of output in at most ${CAP / MiB} MiB, with flat memory, and the newest line last`, async () => {
      const rss: { sent: number; kib: number }[] = [];
      let maxFile = 0;
      const t0 = performance.now();
      await until('the flood is through', async () => {
        rss.push({ sent: serial.sent, kib: rssKiB(pid) });
        for (const f of [p.log, `${p.log}.1`]) if (existsSync(f)) maxFile = Math.max(maxFile, statSync(f).size);
        return serial.sent >= FLOOD && readTail(p.log, 2).includes(end.trim());
      }, 120_000, 100);
      const secs = (performance.now() - t0) / 1000;
      // Warmed up (connected, a few rotations done): the first half against the second.
      const maxOf = (from: number, to: number) => Math.max(...rss.filter((s) => s.sent >= from * FLOOD && s.sent <= to * FLOOD).map((s) => s.kib));
      const early = maxOf(1 / 8, 1 / 2);
      const max = maxOf(1 / 2, 1);
      console.log(`keeper flood: ${FLOOD / MiB} MiB in ${secs.toFixed(1)} s; largest log file ${maxFile} B (cap ${CAP} B); keeper RSS ${early} KiB at most in the first half, ${max} KiB in the second (${rss.length} samples)`);
      expect(maxFile).toBeLessThanOrEqual(CAP / 2);
      expect(statSync(p.log).size + statSync(`${p.log}.1`).size).toBeLessThanOrEqual(CAP);
      // Flat: what it holds after the first quarter of the flood is what it holds at the end.
      expect(max).toBeLessThan(early + 8 * 1024);
      expect(max).toBeLessThan(80 * 1024);
      expect(readTail(p.log, 1)).toBe(end.slice(1));
    }, 150_000);

    it('reconnects when the socket drops (QEMU restarted) and appends', async () => {
      const again = `\nAFTER-RECONNECT-${randomBytes(4).toString('hex')}\n`;
      const connects = serial.connects;
      await serial.close();
      await serial.listen((s) => s.write(again));
      await until('the keeper reconnected', () => serial.connects > connects, 10_000);
      await until('the new output is in the log', () => readTail(p.log, 1) === again.slice(1), 10_000);
      expect(readTail(p.log, 3)).toContain(end.trim());
      expect(await keeperPid(p)).toBe(pid);
    }, 30_000);

    it('is found by its pid file and stopped', async () => {
      expect(await keeperPid(p)).toBe(pid);
      await stopKeeper(p);
      expect(await waitForExit(pid, 1000)).toBe(true);
      expect(await keeperPid(p)).toBeUndefined();
    });
  });

  it('a pid file naming another process, or a reused pid, is not a keeper', async () => {
    const p = paths('stale');
    writeFileSync(p.pidFile, `${process.pid} 1\n`);
    expect(await keeperPid(p)).toBeUndefined();
    const stat = readFileSync(`/proc/${process.pid}/stat`, 'utf8');
    const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
    writeFileSync(p.pidFile, `${process.pid} ${start}\n`);
    expect(await keeperPid(p)).toBeUndefined(); // alive, same start time, but not a keeper of this directory
  });

  it('ends by itself when its VM directory is removed (VM deleted while no agent ran)', async () => {
    const p = paths('orphan');
    const pid = await startKeeper(p, CAP);
    started.push(p);
    await until('running', async () => (await keeperPid(p)) === pid, 5000);
    rmSync(p.dir, { recursive: true, force: true });
    // With no socket it retries every second at most; each retry checks the directory.
    expect(await waitForExit(pid, 5000)).toBe(true);
  });
});
