import { createServer } from 'node:net';

function tryPort(port: number, host = '127.0.0.1'): Promise<number | undefined> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(undefined));
    s.listen({ port, host }, () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

/** A free port whose successor is free too (etcd's peer port is client + 1). */
export async function freePortPair(): Promise<number> {
  for (;;) {
    const p = await tryPort(0);
    if (p && p < 65535 && (await tryPort(p + 1))) return p;
  }
}

export async function freePort(host = '127.0.0.1'): Promise<number> {
  return (await tryPort(0, host))!;
}
