import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentOptions } from '../../src/host/agent.js';
import { buildQemuArgs, DEFAULT_QEMU_BINARY, killQemu, launchQemu, QmpMonitor, queryStatus, stop, cont, type QemuVmSpec } from '../../src/host/qemu/index.js';
import { VmMonitors } from '../../src/host/vm-monitors.js';
import { silentLogger } from '../../src/common/logger.js';
import type { QmpEvent } from '../../src/host/qemu/index.js';
import { until } from '../helpers/cluster.js';

// The agent's standing monitor per VM (src/host/vm-monitors.ts), against real
// QEMU under TCG with no guest: events arrive as they happen, a dropped
// session is opened again, and the process's end is reported once.
describe('VmMonitors: one standing QMP session per VM', () => {
  let dir: string;
  const launched: { pid: number; id: string }[] = [];
  const events: { id: string; e: QmpEvent }[] = [];
  const gone: { id: string; at: number }[] = [];
  let monitors: VmMonitors;
  const spec = new Map<string, QemuVmSpec>();

  async function start(withEvents = true): Promise<{ id: string; pid: number }> {
    const id = randomUUID();
    const vmDir = mkdtempSync(join(dir, 'vm-'));
    const s: QemuVmSpec = {
      id,
      name: `mon-${id.slice(0, 4)}`,
      cpus: 1,
      ramBytes: 64 * 1024 * 1024,
      accel: 'tcg',
      machine: 'pc',
      disks: [],
      nics: [],
      paths: { pidFile: join(vmDir, 'qemu.pid'), qmpSocket: join(vmDir, 'qmp.sock'), serialSocket: join(vmDir, 'serial.sock'), ...(withEvents ? { eventSocket: join(vmDir, 'events.sock') } : {}) },
    };
    spec.set(id, s);
    const { pid } = await launchQemu(DEFAULT_QEMU_BINARY, buildQemuArgs(s), { timeoutMs: 30_000 });
    launched.push({ pid, id });
    return { id, pid };
  }

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ucloud-vm-monitors-'));
    monitors = new VmMonitors((id) => spec.get(id)?.paths.eventSocket ?? join(dir, 'none', id), {
      event: (id, e) => events.push({ id, e }),
      gone: (id) => gone.push({ id, at: Date.now() }),
    }, silentLogger, { backoffMinMs: 50, backoffMaxMs: 200 });
  });
  afterAll(async () => {
    await monitors?.close();
    for (const { pid, id } of launched) await killQemu(pid, id, { graceMs: 2000 }).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  it('hears STOP and RESUME while the one-shot socket stays free for commands', async () => {
    const vm = await start();
    expect(await monitors.watch(vm.id, vm.pid)).toBe(true);
    expect(monitors.watching(vm.id, vm.pid)).toBe(true);
    // The command socket is another client: the standing session does not hold it.
    const mon = await QmpMonitor.connect(spec.get(vm.id)!.paths.qmpSocket, { timeoutMs: 5000 });
    try {
      // The monitor may still be connecting: stop until the STOP is heard by it.
      await until('STOP heard', async () => {
        await stop(mon);
        await cont(mon);
        return events.some((x) => x.id === vm.id && x.e.event === 'STOP');
      }, 10_000, 200);
      await until('RESUME heard', () => events.some((x) => x.id === vm.id && x.e.event === 'RESUME'), 5000);
      expect((await queryStatus(mon)).status).toBe('running');
    } finally {
      await mon.close();
    }
  });

  it('reports a killed QEMU once, at once, and stops watching it', async () => {
    const vm = await start();
    await monitors.watch(vm.id, vm.pid);
    const mon = await QmpMonitor.connect(spec.get(vm.id)!.paths.qmpSocket, { timeoutMs: 5000 });
    // Stopped and resumed each try: a stop of a paused VM makes no STOP, so one the session missed
    // while still connecting (a loaded machine) would never be heard again.
    await until('session open', async () => {
      await stop(mon);
      await cont(mon);
      return events.some((x) => x.id === vm.id && x.e.event === 'STOP');
    }, 10_000, 200);
    await mon.close();
    const killed = Date.now();
    process.kill(vm.pid, 'SIGKILL');
    const g = await until('gone reported', () => gone.find((x) => x.id === vm.id), 5000, 10);
    expect(g.at - killed).toBeLessThan(1000);
    expect(monitors.watching(vm.id)).toBe(false);
    // Reported once: the next VM's end is the next report.
    const other = await start();
    await monitors.watch(other.id, other.pid);
    process.kill(other.pid, 'SIGKILL');
    await until('the other reported', () => gone.find((x) => x.id === other.id), 5000, 10);
    expect(gone.filter((x) => x.id === vm.id)).toHaveLength(1);
  });

  it('opens the session again when it drops while QEMU lives', async () => {
    const vm = await start();
    await monitors.watch(vm.id, vm.pid);
    const cmd = await QmpMonitor.connect(spec.get(vm.id)!.paths.qmpSocket, { timeoutMs: 5000 });
    try {
      await until('first session', async () => {
        await stop(cmd);
        await cont(cmd);
        return events.filter((x) => x.id === vm.id && x.e.event === 'RESUME').length >= 1;
      }, 10_000, 200);
      // The session breaks (as a socket error would) while QEMU runs on.
      const before = events.filter((x) => x.id === vm.id).length;
      (monitors as unknown as { watches: Map<string, { mon?: QmpMonitor }> }).watches.get(vm.id)?.mon?.close();
      await until('events heard again after the drop', async () => {
        await stop(cmd);
        await cont(cmd);
        return events.filter((x) => x.id === vm.id).length >= before + 2;
      }, 10_000, 200);
      expect(gone.some((x) => x.id === vm.id)).toBe(false);
      expect(monitors.watching(vm.id, vm.pid)).toBe(true);
    } finally {
      await cmd.close();
    }
    monitors.unwatch(vm.id);
    expect(monitors.watching(vm.id)).toBe(false);
  });

  it('a QEMU without an event socket (an older agent started it) is not watched', async () => {
    const vm = await start(false);
    expect(await monitors.watch(vm.id, vm.pid)).toBe(false);
    expect(monitors.watching(vm.id)).toBe(false);
  });

  it('the agent has no liveness poll left to configure', () => {
    // @ts-expect-error livenessMs (the 1 s /proc poll) is gone: exits come from the monitors.
    const opts: AgentOptions = { name: 'h', accel: 'tcg', leaseTtlMs: 1000, livenessMs: 1000 };
    expect(opts.name).toBe('h');
  });
});
