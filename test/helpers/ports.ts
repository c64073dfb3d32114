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

export async function freePort(host = '127.0.0.1'): Promise<number> {
  return (await tryPort(0, host))!;
}

/**
 * Every daemon's metrics endpoint off (their defaults are fixed ports, which
 * test files side by side would fight over); a test that scrapes one sets its
 * `UCLOUD_<DAEMON>_METRICS_LISTEN` to a free port of its own.
 */
export const METRICS_OFF_ENV: Record<string, string> = Object.fromEntries(
  ['API', 'SCHEDULER', 'HOST', 'IMAGESCANNER', 'METADATA', 'FILESCANNER'].map((d) => [`UCLOUD_${d}_METRICS_LISTEN`, 'off']),
);
