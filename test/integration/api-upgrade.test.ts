import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { Api } from '../../src/api/context.js';
import { buildApi } from '../../src/api/server.js';
import { silentLogger } from '../../src/common/logger.js';
import { CONSOLE_ATTACH_PATH } from '../../src/managers/consoles.js';
import { TokenCache } from '../../src/managers/token-cache.js';
import { hashToken, UserManager } from '../../src/managers/users.js';
import { TestCluster, until } from '../helpers/cluster.js';

// WebSockets are taken by the console route alone (@fastify/websocket is registered in its scope only, so its
// hooks cost no other request). What a client and the operator rely on: an upgrade request to any other
// route gets that route's HTTP answer and its connection closed, never a socket left open outside Node's HTTP
// server (which no timeout would ever close: a flood of them would run the API out of descriptors), and the
// console still upgrades.
describe('WebSocket upgrades to the API (real etcd, real sockets)', () => {
  let c: TestCluster;
  let api: Api;
  let users: UserManager;
  let port = 0;

  /** An upgrade request over a raw socket: everything the server sent, once it closed the connection. */
  const upgradeTo = (path: string, authorization?: string) =>
    new Promise<string>((resolve, reject) => {
      const s = connect({ host: '::1', port });
      let text = '';
      s.setEncoding('utf8');
      s.on('data', (d: string) => (text += d));
      s.on('error', reject);
      // The server closing the connection is the event awaited; one it keeps open fails the test.
      const kept = setTimeout(() => {
        s.destroy();
        reject(new Error(`the server kept the connection of ${path} open for 10 s after answering: ${text.split('\r\n')[0]}`));
      }, 10_000);
      s.on('close', () => {
        clearTimeout(kept);
        resolve(text);
      });
      s.write(
        `GET ${path} HTTP/1.1\r\nHost: api\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n` +
          (authorization ? `Authorization: ${authorization}\r\n` : '') +
          '\r\n',
      );
    });

  beforeAll(async () => {
    c = await TestCluster.start();
    await c.bootstrap();
    const tokens = new TokenCache(c.store, silentLogger);
    users = new UserManager(c.store, tokens);
    api = buildApi({ ...c.managers(), users }, silentLogger, { tokens, web: false, rateLimit: { perWindow: 1000 } });
    await api.listen({ host: '::1', port: 0 });
    port = (api.server.address() as { port: number }).port;
  });
  afterAll(async () => {
    await api?.close();
    await c?.stop();
  });

  it('an upgrade to a route that is not a WebSocket is answered over HTTP and its connection closed', async () => {
    const alice = (await users.create('alice', 'user')).token;
    await until('the token cache knows the token', () => users.authenticateCached(hashToken(alice)) !== undefined, 10_000);

    const health = await upgradeTo('/v1/health');
    expect(health).toMatch(/^HTTP\/1\.1 200 /);
    expect(health).toContain('{"ok":true}');

    const listed = await upgradeTo('/v1/vms', `Bearer ${alice}`);
    expect(listed).toMatch(/^HTTP\/1\.1 200 /);
    expect(listed).toContain('"items":[]');

    // Refused before any handler (no token; a route that does not exist): answered and closed all the same.
    expect(await upgradeTo('/v1/vms')).toMatch(/^HTTP\/1\.1 401 [^]*"code":"UNAUTHENTICATED"/);
    expect(await upgradeTo('/v1/nothing-here', `Bearer ${alice}`)).toMatch(/^HTTP\/1\.1 404 /);
    // A URL the router cannot decode is answered before any hook runs: closed all the same.
    expect(await upgradeTo('/v1/%zz', `Bearer ${alice}`)).toMatch(/^HTTP\/1\.1 400 [^]*"code":"VALIDATION_FAILED"/);

    // The server is still whole: the same routes over plain HTTP.
    const res = await fetch(`http://[::1]:${port}/v1/vms`, { headers: { authorization: `Bearer ${alice}` } });
    expect(res.status).toBe(200);
  });

  it('the console route still upgrades: a wrong ticket is a WebSocket closed with 4403 CONSOLE_TICKET_INVALID', async () => {
    const ws = new WebSocket(`ws://[::1]:${port}${CONSOLE_ATTACH_PATH}`);
    const opened = new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    await opened;
    ws.send('not-a-ticket');
    expect(await closed).toEqual({ code: 4403, reason: 'CONSOLE_TICKET_INVALID' });
  });
});
