import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalEtcd, type LocalEtcd } from '../../src/store/local-etcd.js';
import { freePortPair } from './ports.js';

/** A real, throw-away etcd for one test file. */
export async function startTestEtcd(): Promise<LocalEtcd & { dataDir: string }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'ucloud-etcd-'));
  const port = await freePortPair();
  const etcd = await startLocalEtcd({ dataDir, url: `http://127.0.0.1:${port}` });
  return {
    ...etcd,
    dataDir,
    stop: async () => {
      await etcd.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
