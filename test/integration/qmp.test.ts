import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  blockResize,
  buildQemuArgs,
  cont,
  DEFAULT_QEMU_BINARY,
  isOurQemu,
  killQemu,
  launchQemu,
  QmpMonitor,
  queryBlock,
  queryStatus,
  quit,
  readPidFile,
  stop,
  waitForExit,
  type QemuVmSpec,
} from '../../src/host/qemu/index.js';
import type { QemuDrive } from '../../src/storage/driver.js';
import { until } from '../helpers/cluster.js';
import { rejection } from '../helpers/rejection.js';

// Real QEMU under TCG (KVM on these machines is nested and unusable), no guest
// OS: firmware alone keeps the VM "running", which is all QMP needs.

describe('QEMU under QMP (TCG)', () => {
  let dir: string;
  const launched: { pid: number; id: string }[] = [];
  const monitors: QmpMonitor[] = [];

  function vmSpec(name: string, disks: QemuDrive[] = []): QemuVmSpec {
    const vmDir = mkdtempSync(join(dir, `${name}-`));
    return {
      id: randomUUID(),
      name,
      cpus: 1,
      ramBytes: 64 * 1024 * 1024,
      accel: 'tcg',
      machine: 'pc',
      disks,
      nics: [],
      paths: { pidFile: join(vmDir, 'qemu.pid'), qmpSocket: join(vmDir, 'qmp.sock'), serialSocket: join(vmDir, 'serial.sock') },
    };
  }

  async function start(spec: QemuVmSpec): Promise<{ pid: number; launchMs: number }> {
    const t0 = performance.now();
    const { pid } = await launchQemu(DEFAULT_QEMU_BINARY, buildQemuArgs(spec), { timeoutMs: 30_000 });
    const launchMs = performance.now() - t0;
    launched.push({ pid, id: spec.id });
    return { pid, launchMs };
  }

  async function connect(spec: QemuVmSpec): Promise<{ mon: QmpMonitor; connectMs: number }> {
    const t0 = performance.now();
    const mon = await QmpMonitor.connect(spec.paths.qmpSocket, { timeoutMs: 10_000 });
    monitors.push(mon);
    return { mon, connectMs: performance.now() - t0 };
  }

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ucloud-qmp-it-'));
  });

  afterAll(async () => {
    await Promise.allSettled(monitors.map((m) => m.close()));
    for (const { pid, id } of launched) {
      if (isOurQemu(pid, id)) {
        process.kill(pid, 'SIGKILL');
        await waitForExit(pid, 5000);
      }
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  describe('one VM through its life', () => {
    let spec: QemuVmSpec;
    let pid: number;
    let mon: QmpMonitor;

    it('launches detached and writes its pid file', async () => {
      spec = vmSpec('life');
      const r = await start(spec);
      pid = r.pid;
      console.log(`launch (spawn → QMP answers, pid file written): ${r.launchMs.toFixed(0)} ms`);
      expect(await readPidFile(spec.paths.pidFile)).toBe(pid);
      expect(isOurQemu(pid, spec.id)).toBe(true);
      expect(isOurQemu(pid, randomUUID())).toBe(false);
      expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toContain(`ucloud-vm=${spec.id}`);
    });

    it('connects the monitor and reports running', async () => {
      const r = await connect(spec);
      mon = r.mon;
      console.log(`QMP connect (greeting + qmp_capabilities): ${r.connectMs.toFixed(1)} ms`);
      expect(mon.greeting.version.qemu.major).toBeGreaterThanOrEqual(7);
      expect(await queryStatus(mon)).toMatchObject({ status: 'running', running: true });
    });

    it('stop pauses and cont resumes, with STOP and RESUME events', async () => {
      const stopped = mon.waitForEvent('STOP', 5000);
      await stop(mon);
      await stopped;
      expect(await queryStatus(mon)).toMatchObject({ status: 'paused', running: false });
      const resumed = mon.waitForEvent('RESUME', 5000);
      await cont(mon);
      await resumed;
      expect(await queryStatus(mon)).toMatchObject({ status: 'running', running: true });
    });

    it('surfaces QEMU refusals as QMP_ERROR with class and desc', async () => {
      const err = await rejection(mon.execute('no-such-command'));
      expect(err.code).toBe('QMP_ERROR');
      expect(err.details).toMatchObject({ command: 'no-such-command', class: 'CommandNotFound' });
      expect(await queryBlock(mon)).toEqual([]);
    });

    it('refuses a second QEMU for the same VM (QEMU locks the pid file) and leaves the first alone', async () => {
      const err = await rejection(launchQemu(DEFAULT_QEMU_BINARY, buildQemuArgs(spec), { timeoutMs: 30_000 }));
      expect(err.code).toBe('QEMU_START_FAILED');
      expect(String(err.details?.stderr)).toMatch(/pid ?file/i);
      expect(await readPidFile(spec.paths.pidFile)).toBe(pid);
      expect((await queryStatus(mon)).running).toBe(true);
    });

    it('quit ends QEMU; waitForExit sees it go; QEMU removes its pid file', async () => {
      const shutdown = mon.waitForEvent('SHUTDOWN', 5000);
      const t0 = performance.now();
      await quit(mon);
      await shutdown;
      expect(await waitForExit(pid, 5000)).toBe(true);
      console.log(`quit → process gone: ${(performance.now() - t0).toFixed(0)} ms`);
      expect(isOurQemu(pid, spec.id)).toBe(false);
      expect(existsSync(spec.paths.pidFile)).toBe(false);
    });
  });

  it('QMP_DISCONNECTED for a call pending when QEMU dies', async () => {
    const spec = vmSpec('dies');
    const { pid } = await start(spec);
    const { mon } = await connect(spec);
    // A frozen QEMU cannot answer, so the call is surely pending when it dies.
    process.kill(pid, 'SIGSTOP');
    const pending = mon.execute('query-status');
    await new Promise((r) => setTimeout(r, 50));
    process.kill(pid, 'SIGKILL');
    const err = await rejection(pending);
    expect(err.code).toBe('QMP_DISCONNECTED');
    expect(err.details).toMatchObject({ command: 'query-status' });
    expect(await waitForExit(pid, 5000)).toBe(true);
  });

  it('killQemu leaves a process that is not the given VM alone and stops the right one', async () => {
    const spec = vmSpec('kill');
    const { pid } = await start(spec);
    expect(await killQemu(pid, randomUUID())).toBe(false);
    expect(isOurQemu(pid, spec.id)).toBe(true);
    expect(await killQemu(pid, spec.id, { graceMs: 5000 })).toBe(true);
    expect(isOurQemu(pid, spec.id)).toBe(false);
    expect(await waitForExit(pid, 0)).toBe(true);
  });

  it('grows a disk with block_resize, addressed by the drive id the builder gives', async () => {
    const file = join(dir, 'disk,with,commas.raw');
    writeFileSync(file, Buffer.alloc(1024 * 1024));
    // writeback: the temp dir may be a tmpfs, which cannot do O_DIRECT (cache=none).
    const spec = vmSpec('disk', [{ file, format: 'raw', options: { cache: 'writeback' } }]);
    await start(spec);
    const { mon } = await connect(spec);
    const [blk] = await queryBlock(mon);
    expect(blk).toMatchObject({ device: 'disk0', inserted: { file, image: { 'virtual-size': 1024 * 1024 } } });
    await blockResize(mon, 'disk0', 4 * 1024 * 1024);
    expect(statSync(file).size).toBe(4 * 1024 * 1024);
    const [after] = await queryBlock(mon);
    expect(after?.inserted?.image['virtual-size']).toBe(4 * 1024 * 1024);
    await quit(mon);
  });

  it('reports QEMU_START_FAILED with QEMU stderr when QEMU refuses its arguments', async () => {
    const spec = vmSpec('bad');
    const args = buildQemuArgs(spec).map((a) => (a === 'pc,accel=tcg' ? 'no-such-machine,accel=tcg' : a));
    const err = await rejection(launchQemu(DEFAULT_QEMU_BINARY, args, { timeoutMs: 30_000 }));
    expect(err.code).toBe('QEMU_START_FAILED');
    expect(String(err.details?.stderr)).toContain('unsupported machine type');
    expect(err.message).toBe('QEMU failed to start: unsupported machine type');
  });

  // As the fence watchdog does to an HA VM it fences while the agent starts it:
  // the monitor and the process fail together, and whichever the launcher sees
  // first, the error says QEMU was killed (it read "did not finish starting
  // within 30000 ms" when the monitor's failure came first).
  it('reports a QEMU killed while it starts as killed, not as a start that timed out', async () => {
    for (let round = 0; round < 3; round++) {
      const spec = vmSpec(`killed${round}`);
      const sock = spec.paths.qmpSocket;
      const launch = rejection(launchQemu(DEFAULT_QEMU_BINARY, buildQemuArgs(spec), { timeoutMs: 30_000 }));
      // QEMU writes its pid file before it opens its sockets.
      const pid = await until('QEMU listening on its monitor', () => (existsSync(sock) ? readPidFile(spec.paths.pidFile) : undefined), 30_000, 2);
      process.kill(pid, 'SIGKILL');
      const err = await launch;
      expect(err.code).toBe('QEMU_START_FAILED');
      expect(err.message).toBe('QEMU failed to start: QEMU exited with SIGKILL');
    }
  });

  it('reports QEMU_START_FAILED when the binary is missing', async () => {
    const err = await rejection(launchQemu('qemu-system-nonexistent', buildQemuArgs(vmSpec('nobin')), { timeoutMs: 5000 }));
    expect(err.code).toBe('QEMU_START_FAILED');
  });
});
