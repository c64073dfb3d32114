import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Api } from '../../src/api/context.js';
import { buildApi } from '../../src/api/server.js';
import { CATALOGUE, isErrorCode } from '../../src/common/errors.js';
import { silentLogger } from '../../src/common/logger.js';
import { TestCluster } from '../helpers/cluster.js';

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Everything the server sends on one connection until it closes it (or `count` answers came), parsed. */
function raw(port: number, bytes: string, count?: number): Promise<{ answers: Answer[]; closedByServer: boolean }> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '::1', port });
    let buf = Buffer.alloc(0);
    const answers: Answer[] = [];
    const parse = () => {
      for (;;) {
        const head = buf.indexOf('\r\n\r\n');
        if (head < 0) return;
        const lines = buf.subarray(0, head).toString('latin1').split('\r\n');
        const headers = Object.fromEntries(lines.slice(1).map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
        const len = Number(headers['content-length'] ?? 0);
        if (buf.length < head + 4 + len) return;
        answers.push({ status: Number(lines[0]!.split(' ')[1]), headers, body: buf.subarray(head + 4, head + 4 + len).toString() });
        buf = buf.subarray(head + 4 + len);
        if (answers.length === count) {
          s.destroy();
          resolve({ answers, closedByServer: false });
        }
      }
    };
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      parse();
    });
    s.on('end', () => resolve({ answers, closedByServer: true }));
    s.on('error', reject);
    s.write(bytes);
  });
}

/** The documented error shape: a catalogue code, a message, the code's HTTP status. */
function expectErrorShape(a: Answer, code: string) {
  const body = JSON.parse(a.body) as { code: string; message: string };
  expect(isErrorCode(body.code)).toBe(true);
  expect(body.code).toBe(code);
  expect(typeof body.message).toBe('string');
  expect(a.headers['content-type']).toMatch(/^application\/json/);
  return body;
}

describe('errors raised before any route (real etcd, a listening API, raw sockets)', () => {
  let c: TestCluster;
  let api: Api;
  let port = 0;

  beforeAll(async () => {
    c = await TestCluster.start();
    await c.bootstrap({ guestImage: c.tinyImage() });
    api = buildApi(c.managers(), silentLogger);
    await api.listen({ host: '::1', port: 0 });
    port = (api.server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await api?.close();
    await c?.stop();
  });

  it('headers larger than the server takes: 431 REQUEST_HEADERS_TOO_LARGE, Connection: close, and the server closes', async () => {
    const { answers, closedByServer } = await raw(port, `GET /v1/vms HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(answers).toHaveLength(1);
    expect(answers[0]!.status).toBe(431);
    expect(answers[0]!.headers.connection).toBe('close');
    expectErrorShape(answers[0]!, 'REQUEST_HEADERS_TOO_LARGE');
    expect(CATALOGUE.REQUEST_HEADERS_TOO_LARGE.status).toBe(431);
    expect(closedByServer).toBe(true);
  });

  it.each([
    ['a request line that is not HTTP', 'HELLO THERE\r\n\r\n'],
    ['a Content-Length that is not a number', 'POST /v1/vms HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n'],
    ['both Content-Length and chunked (request smuggling)', 'POST /v1/vms HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
    ['a header name with a space', 'GET /v1/health HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n'],
    ['a bare LF in a header value', 'GET /v1/health HTTP/1.1\r\nHost: x\r\nX-A: 1\nX-B: 2\r\n\r\n'],
  ])('%s: 400 MALFORMED_REQUEST in the documented shape, Connection: close', async (_what, bytes) => {
    const { answers, closedByServer } = await raw(port, bytes);
    expect(answers).toHaveLength(1);
    expect(answers[0]!.status).toBe(400);
    expect(answers[0]!.headers.connection).toBe('close');
    expectErrorShape(answers[0]!, 'MALFORMED_REQUEST');
    expect(closedByServer).toBe(true);
  });

  it('bad percent-encoding and a 10,000-character parameter are refused with codes, and the keep-alive connection carries the next request', async () => {
    const auth = `Authorization: Bearer ${c.adminToken}\r\n`;
    const { answers } = await raw(
      port,
      `GET /v1/vms/%zz HTTP/1.1\r\nHost: x\r\n${auth}\r\n` + `GET /v1/vms/${'a'.repeat(10_000)} HTTP/1.1\r\nHost: x\r\n${auth}\r\n` + `GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n`,
      3,
    );
    expect(answers.map((a) => a.status)).toEqual([400, 400, 200]);
    expectErrorShape(answers[0]!, 'VALIDATION_FAILED');
    expectErrorShape(answers[1]!, 'INVALID_NAME');
    expect(answers[0]!.headers.connection).not.toBe('close');
    expect(JSON.parse(answers[2]!.body)).toEqual({ ok: true });
  });

  it('a body over the limit is 413 in the documented shape', async () => {
    const body = JSON.stringify({ name: 'x', pad: 'a'.repeat(1.5 * 2 ** 20) });
    const { answers } = await raw(
      port,
      `POST /v1/keys HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${c.adminToken}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    expect(answers[0]!.status).toBe(413);
    expectErrorShape(answers[0]!, 'REQUEST_BODY_TOO_LARGE');
  });
});
