import { execFile, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensurePasswordFile } from '../../src/store/etcd-auth.js';
import { startLocalEtcd } from '../../src/store/local-etcd.js';
import { Store } from '../../src/store/store.js';
import { TestCluster, UCLOUD, until } from '../helpers/cluster.js';
import { startTestEtcd, type TestEtcd } from '../helpers/etcd.js';
import { freePort } from '../helpers/ports.js';

const exec = promisify(execFile);

/** The catalogue code a store call fails with. */
async function codeOf(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => 'no error',
    (err: unknown) => (err as { code?: string }).code ?? String(err),
  );
}

/** TCP ports a process listens on, from /proc (its socket inodes matched against the kernel's listen tables). */
function listeningPorts(pid: number): number[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    const m = /^socket:\[(\d+)\]$/.exec((() => { try { return readlinkSync(`/proc/${pid}/fd/${fd}`); } catch { return ''; } })());
    if (m) inodes.add(m[1]!);
  }
  const ports: number[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[3] === '0A' && inodes.has(f[9]!)) ports.push(parseInt(f[1]!.split(':')[1]!, 16));
    }
  }
  return ports.sort();
}

// The etcd `ucloud up` runs (and every test uses) serves nobody without its root password:
// not on its client port, not on its peer listener, not while it is first set up.
describe('local etcd requires credentials on every listener', () => {
  let etcd: TestEtcd;
  const stores: Store[] = [];
  const store = (endpoint: string, auth?: { username: string; password: string }) => {
    const s = new Store({ endpoints: [endpoint], prefix: '/ucloud/', ...(auth ? { auth } : {}) });
    stores.push(s);
    return s;
  };
  const peerSocket = () => join(etcd.socketDir, readdirSync(etcd.socketDir).find((f) => f.startsWith('peer'))!);

  beforeAll(async () => {
    etcd = await startTestEtcd();
  });
  afterAll(async () => {
    stores.forEach((s) => s.close());
    await etcd?.stop();
  });

  it('client port: no credentials → ETCD_AUTH_REQUIRED, wrong ones → ETCD_AUTH_FAILED, the right ones work', async () => {
    expect(await codeOf(store(etcd.url).ping())).toBe('ETCD_AUTH_REQUIRED');
    await expect(store(etcd.url).ns.put('token/x').value('{}').exec()).rejects.toThrow(/user name is empty/);
    expect(await codeOf(store(etcd.url, { username: 'root', password: 'guess' }).ping())).toBe('ETCD_AUTH_FAILED');
    expect(await codeOf(store(etcd.url, { username: 'mallory', password: etcd.credentials.password }).ping())).toBe('ETCD_AUTH_FAILED');
    const good = store(etcd.url, etcd.credentials);
    await good.ns.put('probe').value('1').exec();
    expect(await good.ns.get('probe').string()).toBe('1');
    // The JSON gateway would be a second way in: it is not served at all.
    const gw = await fetch(`${etcd.url}/v3/kv/put`, { method: 'POST', body: JSON.stringify({ key: Buffer.from('/ucloud/token/y').toString('base64'), value: 'e30=' }) });
    expect(gw.status).toBe(404);
    expect(await good.client.get('/ucloud/token/y').string()).toBeNull();
    expect(await good.client.get('/ucloud/token/x').string()).toBeNull();
  });

  it('the client URL is its only TCP port; the peer listener is a unix socket in a root-only directory', () => {
    expect(listeningPorts(etcd.process.pid!)).toEqual([Number(new URL(etcd.url).port)]);
    const dir = statSync(etcd.socketDir);
    expect(dir.uid).toBe(0);
    expect(dir.mode & 0o777).toBe(0o700);
    expect(statSync(peerSocket()).isSocket()).toBe(true);
  });

  it('peer socket: an unprivileged process cannot connect at all', async () => {
    const probe = `require('net').connect(${JSON.stringify(peerSocket())}).on('connect', () => { console.log('CONNECTED'); process.exit(0); }).on('error', (e) => { console.log(e.code); process.exit(0); })`;
    const { stdout } = await exec('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '-e', probe]);
    expect(stdout.trim()).toBe('EACCES');
  });

  it('peer socket: root without credentials, or with wrong ones, is refused like on the client port', async () => {
    const peer = `unix://${peerSocket()}`;
    expect(await codeOf(store(peer).ping())).toBe('ETCD_AUTH_REQUIRED');
    await expect(store(peer).ns.put('token/z').value('{}').exec()).rejects.toThrow(/user name is empty/);
    expect(await codeOf(store(peer, { username: 'root', password: 'guess' }).ping())).toBe('ETCD_AUTH_FAILED');
    expect(await store(etcd.url, etcd.credentials).client.get('/ucloud/token/z').string()).toBeNull();
  });

  it('a restart with the same password works; with another one it fails with ETCD_AUTH_FAILED and the data dir stays locked', async () => {
    await etcd.stop().catch(() => undefined);
    const dir = mkdtempSync(join(tmpdir(), 'ucloud-etcd-auth-restart-'));
    try {
      const password = await ensurePasswordFile(join(dir, 'pw'));
      expect(await ensurePasswordFile(join(dir, 'pw'))).toBe(password); // generated once, then reused
      expect(statSync(join(dir, 'pw')).mode & 0o777).toBe(0o600);
      const url = `http://127.0.0.1:${await freePort()}`;
      const dataDir = join(dir, 'data');
      const first = await startLocalEtcd({ dataDir, url, credentials: { username: 'root', password } });
      await first.stop();
      const second = await startLocalEtcd({ dataDir, url, credentials: { username: 'root', password } });
      expect(await codeOf(store(url).ping())).toBe('ETCD_AUTH_REQUIRED');
      await second.stop();
      expect(await codeOf(startLocalEtcd({ dataDir, url, credentials: { username: 'root', password: 'not-it' } }))).toBe('ETCD_AUTH_FAILED');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    etcd = await startTestEtcd();
  });

  /**
   * Knocks on `url` without credentials all through `start` (each time with a
   * new client, so no backoff hides a window) and a few times after it: how
   * many knocks got a write in.
   */
  async function knocksThrough(url: string, start: () => Promise<unknown>): Promise<number> {
    let attempts = 0;
    let reached = 0;
    let done = false;
    const knocker = (async () => {
      while (!done) {
        attempts++;
        const c = new Etcd3({ hosts: url, dialTimeout: 100 });
        try {
          await c.put('/ucloud/token/knock').value('{}').exec();
          reached++;
        } catch {
          // refused (no credentials) or not listening yet: both are what we want
        } finally {
          c.close();
        }
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    try {
      await start();
      // Once it is up, the knocker's next attempts reach the port and are refused.
      const seenAfter = attempts + 3;
      while (attempts < seenAfter) await new Promise((r) => setTimeout(r, 20));
    } finally {
      done = true;
      await knocker;
    }
    return reached;
  }

  it('a fresh data dir is set up without ever serving an unauthenticated client on the TCP port', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ucloud-etcd-auth-fresh-'));
    const url = `http://127.0.0.1:${await freePort()}`;
    let e: Awaited<ReturnType<typeof startLocalEtcd>> | undefined;
    try {
      const password = await ensurePasswordFile(join(dir, 'pw'));
      const reached = await knocksThrough(url, async () => (e = await startLocalEtcd({ dataDir: join(dir, 'data'), url, credentials: { username: 'root', password } })));
      expect(reached).toBe(0);
      expect(await store(url, { username: 'root', password }).client.get('/ucloud/token/knock').string()).toBeNull();
    } finally {
      await e?.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a data dir made before auth existed is secured on its next start, its records kept, never serving an unauthenticated client on the TCP port', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ucloud-etcd-auth-legacy-'));
    const dataDir = join(dir, 'data');
    const url = `http://127.0.0.1:${await freePort()}`;
    const peerPort = await freePort();
    try {
      // What `ucloud up` ran before: no auth, a TCP peer port.
      const old = spawn('etcd', ['--name', 'ucloud', '--data-dir', dataDir, '--listen-client-urls', url, '--advertise-client-urls', url, '--listen-peer-urls', `http://127.0.0.1:${peerPort}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peerPort}`, '--initial-cluster', `ucloud=http://127.0.0.1:${peerPort}`], { stdio: 'ignore' });
      const legacy = store(url);
      // The legacy etcd takes a moment to listen: until the write goes through.
      await until('the legacy etcd takes a write', async () => (await legacy.ns.put('old').value('kept').exec(), true), 10_000);
      old.kill('SIGTERM');
      await new Promise((r) => old.once('exit', r));
      const password = await ensurePasswordFile(join(dir, 'pw'));
      let e: Awaited<ReturnType<typeof startLocalEtcd>> | undefined;
      try {
        // Before the fix this start served the old dir on the TCP port with auth off to find out it was off.
        expect(await knocksThrough(url, async () => (e = await startLocalEtcd({ dataDir, url, credentials: { username: 'root', password } })))).toBe(0);
        expect(await store(url, { username: 'root', password }).client.get('/ucloud/token/knock').string()).toBeNull();
        expect(await codeOf(store(url).ping())).toBe('ETCD_AUTH_REQUIRED');
        expect(await store(url, { username: 'root', password }).ns.get('old').string()).toBe('kept');
        expect(listeningPorts(e!.process.pid!)).toEqual([Number(new URL(url).port)]);
      } finally {
        await e?.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('daemons and etcd credentials', () => {
  let c: TestCluster;
  beforeAll(async () => {
    c = await TestCluster.start();
  });
  afterAll(async () => {
    await c?.stop();
  });

  const run = (env: NodeJS.ProcessEnv): Promise<{ code: number | null; stderr: string }> =>
    new Promise((resolve) => {
      const child = spawn(process.execPath, [UCLOUD, 'scheduler'], { env: { ...c.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
      child.on('exit', (code) => resolve({ code, stderr }));
    });

  it('a daemon with the cluster credentials starts', async () => {
    const d = c.spawn('scheduler');
    await d.ready;
    await d.stop();
  });

  it('without credentials it stops at start with ETCD_AUTH_REQUIRED', async () => {
    const r = await run({ UCLOUD_ETCD_PASSWORD_FILE: '' });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('ETCD_AUTH_REQUIRED');
  });

  it('with a wrong password it stops with ETCD_AUTH_FAILED; with a file others may read, preflight says chmod 600', async () => {
    const wrong = join(c.dir, 'wrong-password');
    writeFileSync(wrong, 'guess\n', { mode: 0o600 });
    const r = await run({ UCLOUD_ETCD_PASSWORD_FILE: wrong });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('ETCD_AUTH_FAILED');
    chmodSync(wrong, 0o644);
    const open = await run({ UCLOUD_ETCD_PASSWORD_FILE: wrong });
    expect(open.code).not.toBe(0);
    expect(open.stderr).toMatch(/PREFLIGHT_FAILED[\s\S]*chmod 600/);
  });
});
