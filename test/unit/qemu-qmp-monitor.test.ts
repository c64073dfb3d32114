import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { QmpMonitor, queryStatus, quit } from '../../src/host/qemu/index.js';
import { fakeQmpServer as fakeServer, qmpReply as reply, type QmpHandler as Handler } from '../helpers/fake-qmp.js';
import { rejection } from '../helpers/rejection.js';

const event = (sock: net.Socket, name: string, data: unknown) =>
  sock.write(`${JSON.stringify({ event: name, data, timestamp: { seconds: 1, microseconds: 0 } })}\r\n`);

describe('QmpMonitor', () => {
  let dir: string;
  let sockPath: string;
  const servers: net.Server[] = [];
  const monitors: QmpMonitor[] = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ucloud-qmp-'));
    sockPath = join(dir, 'qmp.sock');
  });
  afterEach(async () => {
    await Promise.all(monitors.splice(0).map((m) => m.close()));
    for (const s of servers.splice(0)) {
      s.close();
    }
    rmSync(dir, { recursive: true, force: true });
  });

  const serve = async (handler: Handler, opts?: { greet?: boolean }) => {
    const s = await fakeServer(sockPath, handler, opts);
    servers.push(s);
    return s;
  };
  const connect = async (timeoutMs = 2000, commandTimeoutMs?: number) => {
    const m = await QmpMonitor.connect(sockPath, { timeoutMs, ...(commandTimeoutMs ? { commandTimeoutMs } : {}) });
    monitors.push(m);
    return m;
  };

  it('waits for the socket to appear, then negotiates capabilities', async () => {
    const started = connect();
    setTimeout(() => {
      void serve((msg, sock) => reply(sock, msg.id, { status: 'running', running: true }));
    }, 150);
    const mon = await started;
    expect(mon.greeting.version.qemu.major).toBe(7);
    expect(await queryStatus(mon)).toEqual({ status: 'running', running: true });
  });

  it('fails with QMP_TIMEOUT when the socket never appears', async () => {
    const t0 = Date.now();
    const err = await rejection(QmpMonitor.connect(sockPath, { timeoutMs: 200 }));
    expect(err.code).toBe('QMP_TIMEOUT');
    expect(err.details).toMatchObject({ errno: 'ENOENT' });
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  it('fails with QMP_TIMEOUT and a hint when QEMU accepts but never greets (another client holds the monitor)', async () => {
    await serve(() => undefined, { greet: false });
    const err = await rejection(QmpMonitor.connect(sockPath, { timeoutMs: 200 }));
    expect(err.code).toBe('QMP_TIMEOUT');
    expect(err.hint).toMatch(/one monitor client/);
  });

  it('times a command out with QMP_TIMEOUT and stays usable', async () => {
    let first = true;
    await serve((msg, sock) => {
      if (first) first = false;
      else reply(sock, msg.id, { status: 'running', running: true });
    });
    const mon = await connect(2000, 100);
    const err = await rejection(mon.execute('query-migrate'));
    expect(err.code).toBe('QMP_TIMEOUT');
    expect(err.details).toMatchObject({ command: 'query-migrate' });
    expect((await queryStatus(mon)).running).toBe(true);
  });

  it('waits for an event matching a predicate, and times out on none', async () => {
    await serve((msg, sock) => {
      event(sock, 'MIGRATION', { status: 'setup' });
      event(sock, 'MIGRATION', { status: 'completed' });
      reply(sock, msg.id, {});
    });
    const mon = await connect();
    const done = mon.waitForEvent('MIGRATION', 1000, (e) => e.data.status === 'completed');
    const seen: string[] = [];
    mon.on('event', (e) => seen.push(String(e.data.status)));
    await mon.execute('migrate', { uri: 'tcp:[::1]:1' });
    expect((await done).data).toEqual({ status: 'completed' });
    expect(seen).toEqual(['setup', 'completed']);
    expect((await rejection(mon.waitForEvent('RESUME', 50))).code).toBe('QMP_TIMEOUT');
  });

  it('rejects pending calls and event waits with QMP_DISCONNECTED when QEMU goes away', async () => {
    await serve((_msg, sock) => sock.destroy());
    const mon = await connect();
    const ev = mon.waitForEvent('SHUTDOWN', 5000);
    const err = await rejection(mon.execute('query-status'));
    expect(err.code).toBe('QMP_DISCONNECTED');
    expect((await rejection(ev)).code).toBe('QMP_DISCONNECTED');
    expect(mon.closed).toBe(true);
    expect((await rejection(mon.execute('query-status'))).code).toBe('QMP_DISCONNECTED');
  });

  it('quit() counts a connection closed before the reply as done', async () => {
    await serve((_msg, sock) => sock.destroy());
    const mon = await connect();
    await expect(quit(mon)).resolves.toBeUndefined();
  });
});
