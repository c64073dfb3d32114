// For bench/vm-ssh: a metadata server that gives every caller one fixed key, so
// a VM started by hand (not by ucloud) gets its key exactly as ucloud VMs do.
// Usage: node dist/bench/static-metadata.js <public key file> [listen port]
import { readFileSync } from 'node:fs';
import { silentLogger } from '../src/common/logger.js';
import { buildMetadataServer } from '../src/metadata/server.js';

const key = readFileSync(process.argv[2]!, 'utf8').trim();
// Callers are identified as ucloud does, but every link is one network: a
// link-local EUI-64 source arriving on the interface it names (what
// ucloud-init uses at http://[fe80::1%eth0]/) is a NIC of it.
const LINK = 'fe80::/64';
const server = buildMetadataServer({
  lookup: async (mac) => ({ instanceId: '00000000-0000-4000-8000-000000000000', hostname: 'plain', owner: 'bench', publicKeys: [{ name: 'bench', key }], nics: [{ mac, vni: 0, prefix: LINK }] }),
  arrival: (req) => {
    const zone = req.socket.localAddress?.split('%')[1];
    return zone ? { bridge: zone, vni: 0, prefix: LINK } : undefined;
  },
  log: silentLogger,
});
await server.listen({ host: '::', port: Number(process.argv[3] ?? 80) });
process.stdout.write('ready\n');
