import { connect } from 'node:net';

/** Opens a TCP connection to host:port and closes it: undefined when it connected within `ms`, else why not (ECONNREFUSED, …). */
export function tcpProbe(host: string, port: number, ms: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = connect({ host, port, timeout: ms });
    const done = (err?: string) => {
      s.destroy();
      resolve(err);
    };
    s.once('connect', () => done());
    s.once('timeout', () => done(`no answer within ${ms} ms`));
    s.once('error', (e: NodeJS.ErrnoException) => done(e.code ?? e.message));
  });
}

/** host and port of an http(s) URL such as an etcd endpoint (brackets of an IPv6 literal removed). */
export function urlHostPort(url: string, defaultPort: number): { host: string; port: number } {
  const u = new URL(url);
  return { host: u.hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(u.port || defaultPort) };
}
