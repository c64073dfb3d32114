import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/common/logger.js';
import { ConsoleEndpoint, REFUSED_TICKETS_PER_MINUTE } from '../../src/host/console/endpoint.js';
import { ticketHash } from '../../src/managers/consoles.js';
import { Keys, Kinds } from '../../src/store/keys.js';
import { TestCluster, until } from '../helpers/cluster.js';

// The host's console endpoint (real etcd for its tickets) when the caller
// does not stay: whatever it connected for a caller that went must not outlive
// it, or a tenant who opens and drops consoles in a loop runs the root agent
// out of file descriptors.
describe('host console endpoint: a caller that goes early leaves nothing open', () => {
  let c: TestCluster;
  let dir: string;
  let endpoint: ConsoleEndpoint;
  let port = 0;
  const keeperPath = () => join(dir, 'keeper.sock');

  beforeAll(async () => {
    c = await TestCluster.start();
    dir = mkdtempSync(join(tmpdir(), 'ucloud-endpoint-'));
    endpoint = new ConsoleEndpoint(c.store, 'h1', () => join(dir, 'console.log'), silentLogger, keeperPath);
    port = await endpoint.listen('::1', 0);
  });
  afterAll(async () => {
    await endpoint?.close();
    await c?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a caller gone while its keeper is still starting: the keeper connection made afterwards is closed at once', async () => {
    const vm = randomUUID();
    const secret = randomBytes(32).toString('hex');
    const key = Keys.consoleTicket(ticketHash(secret));
    await c.store.put(Kinds.consoleTicket, key, { vm, host: 'h1', expiresAt: new Date(Date.now() + 30_000).toISOString(), kind: 'serial' });
    // The upgrade, then the caller goes as soon as its ticket is taken: the keeper's socket is not there yet.
    const caller = connect({ host: '::1', port });
    caller.on('error', () => undefined);
    await new Promise((r) => caller.once('connect', r));
    caller.write(`GET /v1/vms/${vm}/console HTTP/1.1\r\nHost: h1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\nAuthorization: Ticket ${secret}\r\n\r\n`);
    await until('the ticket taken', async () => !(await c.store.get(Kinds.consoleTicket, key)), 10_000, 20);
    // A reset, not a FIN: the endpoint's side of a half-closed upgrade socket stays open until written, a reset closes it at once.
    const callerGone = new Promise((r) => caller.once('close', r));
    caller.resetAndDestroy();
    await callerGone;
    // The keeper comes up within the endpoint's wait for it (5 s): the endpoint connects, and must let go.
    const conns: Socket[] = [];
    const keeper: Server = createServer((s) => conns.push(s));
    await new Promise<void>((r) => keeper.listen(keeperPath(), r));
    try {
      const conn = await until('the endpoint connected to the keeper', () => conns[0], 10_000, 20);
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('the endpoint kept the keeper connection of a caller that had gone')), 10_000);
        conn.on('error', () => undefined);
        conn.resume();
        conn.once('close', () => {
          clearTimeout(t);
          resolve();
        });
      });
      expect(conns).toHaveLength(1);
    } finally {
      for (const s of conns) s.destroy();
      keeper.close();
    }
  }, 60_000);

  it('turns away a source that presented too many refused tickets, before etcd is asked; another source still gets in', async () => {
    const open = new ConsoleEndpoint(c.store, 'h1', () => join(dir, 'console.log'), silentLogger, keeperPath);
    const openPort = await open.listen('::', 0);
    try {
      writeFileSync(join(dir, 'console.log'), 'UCLOUD-GUEST-BOOTED\n');
      const vm = randomUUID();
      const get = (host: string, secret: string) =>
        fetch(`http://${host}:${openPort}/v1/vms/${vm}/console-log?lines=5`, { headers: { authorization: `Ticket ${secret}` } });
      for (let i = 0; i < REFUSED_TICKETS_PER_MINUTE; i++) {
        const res = await get('[::1]', randomBytes(32).toString('hex'));
        expect(res.status).toBe(403);
        expect(((await res.json()) as { code: string }).code).toBe('CONSOLE_TICKET_INVALID');
      }
      const secret = randomBytes(32).toString('hex');
      const key = Keys.consoleTicket(ticketHash(secret));
      await c.store.put(Kinds.consoleTicket, key, { vm, host: 'h1', expiresAt: new Date(Date.now() + 30_000).toISOString(), kind: 'log' });
      const throttled = await get('[::1]', secret);
      expect(throttled.status).toBe(429);
      expect(((await throttled.json()) as { code: string; message: string })).toMatchObject({ code: 'CONSOLE_TICKETS_THROTTLED', message: expect.stringMatching(/^20 refused console tickets from ::1 within a minute: try again in \d+ s$/) });
      // Turned away before the take: the ticket is still there, and works from another source.
      expect(await c.store.get(Kinds.consoleTicket, key)).toBeDefined();
      const other = await get('127.0.0.1', secret);
      expect(other.status).toBe(200);
      expect(await other.text()).toContain('UCLOUD-GUEST-BOOTED');
      expect(await c.store.get(Kinds.consoleTicket, key)).toBeUndefined();
    } finally {
      await open.close();
    }
  }, 60_000);
});
