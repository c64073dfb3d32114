import net from 'node:net';

// A fake QEMU monitor on a unix socket, for unit tests of the QMP layers above
// it (real QEMU is what the integration and e2e tests use).

export const QMP_GREETING = '{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": ""}, "capabilities": []}}\r\n';

export type QmpHandler = (msg: { execute: string; id: string; arguments?: unknown }, sock: net.Socket) => void;

/** Greets (unless told not to), answers qmp_capabilities itself, and hands every other command to `handler`. */
export function fakeQmpServer(path: string, handler: QmpHandler, opts: { greet?: boolean } = {}): Promise<net.Server> {
  const server = net.createServer((sock) => {
    if (opts.greet !== false) sock.write(QMP_GREETING);
    let buf = '';
    sock.on('data', (b: Buffer) => {
      buf += b.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const msg = JSON.parse(buf.slice(0, nl)) as { execute: string; id: string; arguments?: unknown };
        buf = buf.slice(nl + 1);
        if (msg.execute === 'qmp_capabilities') sock.write(`{"return": {}, "id": "${msg.id}"}\r\n`);
        else handler(msg, sock);
      }
    });
    sock.on('error', () => undefined);
  });
  return new Promise((resolve) => server.listen(path, () => resolve(server)));
}

/** The answer to command `id`. */
export const qmpReply = (sock: net.Socket, id: string, value: unknown) => sock.write(`${JSON.stringify({ return: value, id })}\r\n`);
