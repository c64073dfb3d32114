// For bench/scale: the baseline a read of the API is set against, a bare Fastify
// route answering every GET with one fixed body held in memory (the bytes the
// API answered), in a process of its own as the API is.
// Usage: node dist/bench/bare-route.js <body file> <content type>; prints its port.
import { readFileSync } from 'node:fs';
import Fastify from 'fastify';

const body = readFileSync(process.argv[2]!);
const type = process.argv[3] ?? 'application/json; charset=utf-8';
const app = Fastify({ logger: false });
app.get('/*', (_req, reply) => {
  void reply.type(type).send(body);
});
await app.listen({ host: '::1', port: 0 });
process.stdout.write(`${(app.server.address() as { port: number }).port}\n`);
