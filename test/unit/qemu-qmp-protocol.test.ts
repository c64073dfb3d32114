import { Duplex, PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { UcloudError } from '../../src/common/errors.js';
import { QmpProtocol, type QmpEvent } from '../../src/host/qemu/index.js';
import { rejection } from '../helpers/rejection.js';

const GREETING = '{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": "Debian"}, "capabilities": ["oob"]}}\r\n';

/** A fake QEMU end: what the protocol writes lands in `sent`, what we push arrives as QEMU's output. */
function fakeQemu() {
  const fromQemu = new PassThrough();
  const toQemu = new PassThrough();
  const sent: Record<string, unknown>[] = [];
  let partial = '';
  toQemu.on('data', (b: Buffer) => {
    partial += b.toString();
    let nl: number;
    while ((nl = partial.indexOf('\n')) >= 0) {
      sent.push(JSON.parse(partial.slice(0, nl)) as Record<string, unknown>);
      partial = partial.slice(nl + 1);
    }
  });
  const stream = Duplex.from({ readable: fromQemu, writable: toQemu });
  const protocol = new QmpProtocol(stream);
  const errors: Error[] = [];
  const events: QmpEvent[] = [];
  protocol.on('protocolError', (e) => errors.push(e));
  protocol.on('event', (e) => events.push(e));
  return {
    protocol,
    stream,
    sent,
    errors,
    events,
    push: (text: string) => fromQemu.write(text),
    end: () => fromQemu.end(),
  };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('QmpProtocol', () => {
  it('recognises the greeting', async () => {
    const q = fakeQemu();
    q.push(GREETING);
    const g = await q.protocol.greeting;
    expect(g.version.qemu).toEqual({ major: 7, minor: 2, micro: 22 });
    expect(g.capabilities).toEqual(['oob']);
  });

  it('sends execute with an id and arguments, one JSON object per line', async () => {
    const q = fakeQemu();
    void q.protocol.request('query-status');
    void q.protocol.request('migrate', { uri: 'tcp:[::1]:4444' });
    await tick();
    expect(q.sent).toEqual([
      { execute: 'query-status', id: '1' },
      { execute: 'migrate', id: '2', arguments: { uri: 'tcp:[::1]:4444' } },
    ]);
  });

  it('correlates replies by id, in any order, with events interleaved', async () => {
    const q = fakeQemu();
    q.push(GREETING);
    const a = q.protocol.request('stop');
    const b = q.protocol.request('query-status');
    await tick();
    const [idA, idB] = q.sent.map((m) => m.id as string);
    q.push(`{"timestamp": {"seconds": 1795466065, "microseconds": 227314}, "event": "STOP"}\r\n`);
    q.push(`{"return": {"status": "paused", "running": false}, "id": "${idB}"}\r\n`);
    q.push(`{"timestamp": {"seconds": 1795466066, "microseconds": 5000}, "event": "MIGRATION", "data": {"status": "setup"}}\r\n`);
    q.push(`{"return": {}, "id": "${idA}"}\r\n`);
    await expect(b).resolves.toEqual({ status: 'paused', running: false });
    await expect(a).resolves.toEqual({});
    expect(q.events).toEqual([
      { event: 'STOP', data: {}, timestampMs: 1795466065227 },
      { event: 'MIGRATION', data: { status: 'setup' }, timestampMs: 1795466066005 },
    ]);
    expect(q.errors).toEqual([]);
    expect(q.protocol.pendingCount).toBe(0);
  });

  it('rejects with QMP_ERROR carrying QEMU class and desc', async () => {
    const q = fakeQemu();
    const p = q.protocol.request('nope');
    await tick();
    q.push(`{"id": "${q.sent[0]!.id as string}", "error": {"class": "CommandNotFound", "desc": "The command nope has not been found"}}\r\n`);
    const err = await rejection(p);
    expect(err.code).toBe('QMP_ERROR');
    expect(err.details).toEqual({ command: 'nope', class: 'CommandNotFound', desc: 'The command nope has not been found' });
    expect(err.message).toContain('The command nope has not been found');
  });

  it('reassembles lines split across chunks, including a split UTF-8 character', async () => {
    const q = fakeQemu();
    const p = q.protocol.request('query-name');
    await tick();
    const line = Buffer.from(`{"return": {"name": "café"}, "id": "${q.sent[0]!.id as string}"}\r\n`);
    const cut = line.indexOf(Buffer.from('é')) + 1; // inside the two-byte é
    q.push(line.subarray(0, cut) as unknown as string);
    await tick();
    q.push(line.subarray(cut) as unknown as string);
    await expect(p).resolves.toEqual({ name: 'café' });
  });

  it('reports malformed lines and keeps going', async () => {
    const q = fakeQemu();
    const p = q.protocol.request('query-status');
    await tick();
    q.push('this is not json\n');
    q.push('[1,2,3]\n');
    q.push('{"neither": "reply nor event"}\n');
    q.push('{"error": {"class": "GenericError", "desc": "JSON parse error"}}\n'); // QEMU could not parse something: no id
    q.push(`{"return": {"status": "running", "running": true}, "id": "${q.sent[0]!.id as string}"}\n`);
    await expect(p).resolves.toMatchObject({ running: true });
    expect(q.errors).toHaveLength(4);
    expect(q.errors[0]!.message).toContain('not JSON');
    expect(q.protocol.closed).toBe(false);
  });

  it('reports a reply to an id it never sent', async () => {
    const q = fakeQemu();
    q.push('{"return": {}, "id": "999"}\n');
    await tick();
    expect(q.errors).toHaveLength(1);
  });

  it('drops the late reply of an abandoned request quietly', async () => {
    const q = fakeQemu();
    const ac = new AbortController();
    const p = q.protocol.request('query-migrate', undefined, { signal: ac.signal });
    await tick();
    ac.abort(new UcloudError('QMP_TIMEOUT', 'too slow'));
    expect((await rejection(p)).code).toBe('QMP_TIMEOUT');
    q.push(`{"return": {}, "id": "${q.sent[0]!.id as string}"}\n`);
    await tick();
    expect(q.errors).toEqual([]);
    expect(q.protocol.pendingCount).toBe(0);
  });

  it('rejects pending requests and the greeting with QMP_DISCONNECTED when the stream ends', async () => {
    const q = fakeQemu();
    const closed = new Promise<void>((r) => q.protocol.once('close', r));
    const p = q.protocol.request('quit');
    await tick();
    q.end();
    await closed;
    const err = await rejection(p);
    expect(err.code).toBe('QMP_DISCONNECTED');
    expect(err.details).toEqual({ command: 'quit' });
    expect((await rejection(q.protocol.greeting)).code).toBe('QMP_DISCONNECTED');
    expect((await rejection(q.protocol.request('query-status'))).code).toBe('QMP_DISCONNECTED');
  });

  it('turns a stream error into QMP_DISCONNECTED instead of crashing', async () => {
    const q = fakeQemu();
    const p = q.protocol.request('query-status');
    q.stream.destroy(new Error('read ECONNRESET'));
    const err = await rejection(p);
    expect(err.code).toBe('QMP_DISCONNECTED');
    expect(err.message).toContain('ECONNRESET');
  });

  it('close() rejects pending requests', async () => {
    const q = fakeQemu();
    const p = q.protocol.request('query-status');
    q.protocol.close();
    expect((await rejection(p)).code).toBe('QMP_DISCONNECTED');
    expect(q.protocol.closed).toBe(true);
  });
});
