import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalEtcd, type LocalEtcd } from '../../src/store/local-etcd.js';
import { freePortPair } from './ports.js';

/** A real, throw-away etcd for one test file. */
/** `host` (default 127.0.0.1) lets test hosts in other network namespaces reach it, e.g. an underlay address. */
export async function startTestEtcd(host = '127.0.0.1'): Promise<LocalEtcd & { dataDir: string }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'ucloud-etcd-'));
  const port = await freePortPair();
  const etcd = await startLocalEtcd({ dataDir, url: `http://${host.includes(':') ? `[${host}]` : host}:${port}` });
  return {
    ...etcd,
    dataDir,
    stop: async () => {
      await etcd.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
