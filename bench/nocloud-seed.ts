// The reference NoCloud-net seed for a stock cloud image booted by hand: the
// least a guest needs from `ds=nocloud-net;s=http://<this server>/nocloud/`.
// meta-data with an instance id, a hostname and one public key; user-data and
// vendor-data empty (200, as cloud-init retries a 404 on user-data and fails).
// Every caller gets the same answer: nothing of ucloud (identity, lookups) is
// in the way, so a boot against it is the limit of the guest's own boot.
// Usage: node dist/bench/nocloud-seed.js <public key file> <listen address> [port] [hostname]
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

const [keyFile, host, port = '80', hostname = 'plain'] = process.argv.slice(2);
const key = readFileSync(keyFile!, 'utf8').trim();
const files: Record<string, string> = {
  'meta-data': `instance-id: iid-${hostname}-${process.pid}\nlocal-hostname: ${hostname}\npublic-keys:\n  - ${JSON.stringify(key)}\n`,
  'user-data': '',
  'vendor-data': '',
};

const server = createServer((req, res) => {
  const name = /^\/nocloud\/([a-z-]+)$/.exec((req.url ?? '').split('?')[0]!)?.[1];
  const body = name !== undefined ? files[name] : undefined;
  if (process.env.SEED_LOG) process.stderr.write(`seed: ${req.method} ${req.url} ${body === undefined ? 404 : 200}\n`);
  if (body === undefined) {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) }).end(req.method === 'HEAD' ? undefined : body);
});
server.listen({ host, port: Number(port) }, () => process.stdout.write('ready\n'));
