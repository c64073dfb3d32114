import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

/**
 * A TCP proxy to etcd that holds every byte etcd sends for `lagMs` (in order):
 * a client behind it learns of each change that much later. After hold(),
 * nothing etcd sends gets through (a cache behind it that has listed never
 * learns of a change; a write behind it is never answered) until release(),
 * which lets it all through in order.
 */
export async function laggingProxy(target: URL, lagMs: number): Promise<{ url: string; hold(): void; release(): void; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let held = false;
  const waiting: (() => void)[] = [];
  const server = createServer((client) => {
    const upstream = connect({ host: target.hostname, port: Number(target.port) });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.on('data', (chunk: Buffer) => {
      const send = () => setTimeout(() => client.write(chunk), lagMs);
      if (held) waiting.push(send);
      else send();
    });
  });
  await new Promise<void>((r) => server.listen({ host: '127.0.0.1', port: 0 }, r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    hold: () => void (held = true),
    release: () => {
      held = false;
      for (const send of waiting.splice(0)) send();
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
