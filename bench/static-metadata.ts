// For bench/vm-ssh: a metadata server that gives every caller one fixed key, so
// a VM started by hand (not by ucloud) gets its key exactly as ucloud VMs do.
// Usage: node dist/bench/static-metadata.js <public key file> [listen port]
import { readFileSync } from 'node:fs';
import { silentLogger } from '../src/common/logger.js';
import { buildMetadataServer } from '../src/metadata/server.js';

const key = readFileSync(process.argv[2]!, 'utf8').trim();
const server = buildMetadataServer({
  lookup: async () => ({ instanceId: '00000000-0000-4000-8000-000000000000', hostname: 'plain', owner: 'bench', publicKeys: [{ name: 'bench', key }] }),
  log: silentLogger,
});
await server.listen({ host: '::', port: Number(process.argv[3] ?? 80) });
process.stdout.write('ready\n');
