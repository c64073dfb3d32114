import { Writable } from 'node:stream';
import type { FastifyBaseLogger } from 'fastify';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { requestLogFactory } from '../../src/api/request-log.js';

describe("a request's logger", () => {
  const sink = () => {
    const lines: Record<string, unknown>[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        done();
      },
    });
    return { lines, log: pino({ level: 'info' }, stream) };
  };

  it('makes no pino child until it logs, then logs with the request id as a child would, at the parent level', () => {
    const { lines, log } = sink();
    let children = 0;
    // The server's logger as Fastify holds it, counting the children made of it.
    const parent = { level: log.level, child: (b: pino.Bindings, o?: pino.ChildLoggerOptions) => (children++, log.child(b, o)) } as unknown as FastifyBaseLogger;
    const reqLog = requestLogFactory(parent, { reqId: 'req-7' }, {});
    expect(children).toBe(0);
    expect(reqLog.level).toBe('info');
    reqLog.debug('not at info');
    reqLog.info({ route: '/v1/vms' }, 'answered %d', 200);
    reqLog.error(new Error('boom'));
    expect(children).toBe(1);
    expect(lines.map((l) => [l.reqId, l.msg, l.route])).toEqual([
      ['req-7', 'answered 200', '/v1/vms'],
      ['req-7', 'boom', undefined],
    ]);
    reqLog.child({ a: 1 }).warn('nested');
    expect(lines[2]).toMatchObject({ reqId: 'req-7', a: 1, msg: 'nested' });
  });
});
