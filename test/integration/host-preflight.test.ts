import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type ConfigKey } from '../../src/common/config.js';
import { runChecks, type Check, type CheckResult } from '../../src/common/preflight.js';
import { etcdHealthy, underlay } from '../../src/host/preflight/cluster.js';
import { Keys, Kinds } from '../../src/store/keys.js';
import { Store } from '../../src/store/store.js';
import { UCLOUD, until } from '../helpers/cluster.js';
import { startTestEtcd, startTestEtcdCluster, type TestEtcd, type TestEtcdCluster } from '../helpers/etcd.js';
import { freePort } from '../helpers/ports.js';

// `ucloud host preflight`'s etcd and underlay checks against real etcd: one
// member with credentials, and a three-member cluster losing members.

const PREFIX = '/ucloud-host-preflight/';
const dir = mkdtempSync(join(tmpdir(), 'ucloud-host-preflight-int-'));

function configFor(env: NodeJS.ProcessEnv, overrides: Partial<Record<ConfigKey, string>> = {}) {
  return loadConfig({ file: '/dev/null', env, overrides: { etcd_prefix: PREFIX, host_name: 'hv-self', ...overrides } }).config;
}

const one = async (check: Check, env: NodeJS.ProcessEnv, overrides: Partial<Record<ConfigKey, string>> = {}): Promise<CheckResult> => (await runChecks(configFor(env, overrides), [check]))[0]!;

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('one etcd member with credentials', () => {
  let etcd: TestEtcd;
  let store: Store;
  beforeAll(async () => {
    etcd = await startTestEtcd();
    store = new Store(etcd.storeOptions(PREFIX));
    const host = (name: string, address: string) => store.put(Kinds.host, Keys.host(name), { name, address, capacity: { cpu: 1, ramBytes: 1, diskBytes: 1 }, createdAt: new Date().toISOString() });
    await host('hv-self', '::1');
    await host('hv-lo', '::1');
    // Documentation prefix: no route to it, so the ping fails at once.
    await host('hv-gone', '2001:db8::dead');
  });
  afterAll(async () => {
    store?.close();
    await etcd?.stop();
  });

  it('etcd health: its one member answers and leads; wrong credentials are named', async () => {
    const ok = await one(etcdHealthy, etcd.env());
    expect(ok.ok).toBe(true);
    expect(ok.message).toMatch(/^1 of 1 members answer, leader \S+, etcd 3\.\d+\.\d+$/);
    const wrongFile = join(dir, 'wrong-password');
    await import('node:fs/promises').then((fs) => fs.writeFile(wrongFile, 'not-the-password\n', { mode: 0o600 }));
    const refused = await one(etcdHealthy, { ...etcd.env(), UCLOUD_ETCD_PASSWORD_FILE: wrongFile });
    expect(refused.ok).toBe(false);
    expect(refused.message).toContain(`endpoint ${etcd.url} does not answer (authentication failed, invalid user ID or password)`);
  });

  it('etcd health: an endpoint that does not answer fails the check though the quorum stands', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const r = await one(etcdHealthy, { ...etcd.env(), UCLOUD_ETCD_ENDPOINTS: `${etcd.url},${dead}` });
    expect(r).toMatchObject({ ok: false, message: `endpoint ${dead} does not answer (ECONNREFUSED 127.0.0.1:${dead.split(':').pop()})` });
    expect(r.fix).toContain('etcdctl endpoint status --cluster');
  });

  it('underlay: reaches etcd and pings every other registered host, naming the one that does not answer', async () => {
    const r = await one(underlay(), etcd.env());
    expect(r.ok).toBe(false);
    expect(r.message).toMatch(/^host hv-gone \(2001:db8::dead\): .+$/);
    expect(r.message).not.toContain('hv-lo');
    expect(r.message).not.toContain('hv-self');
    // Without the stranger every host answers.
    await store.delete(Keys.host('hv-gone'));
    expect(await one(underlay(), etcd.env())).toEqual({ name: 'underlay reachability', ok: true, message: `reached etcd ${etcd.url}, host hv-lo` });
    // No ping on this host: said so, with the package to install.
    const empty = join(dir, 'empty-bin');
    mkdirSync(empty, { recursive: true });
    const noPing = await one(underlay({ PATH: empty }), etcd.env());
    expect(noPing).toMatchObject({ ok: false, message: 'host hv-lo (::1): cannot run ping: not installed', fix: 'apt-get install iputils-ping, then run the preflight again' });
  });

  it('`ucloud host preflight -o json` reports every check and exits with PREFLIGHT_FAILED when one fails', async () => {
    const run = promisify(execFile);
    const env = { ...process.env, ...etcd.env(), UCLOUD_ETCD_PREFIX: PREFIX, UCLOUD_HOST_NAME: 'hv-self', UCLOUD_LOG_DIR: dir, UCLOUD_RUN_DIR: join(dir, 'run') };
    // host_address ::1 (the default) is loopback: that check fails whatever this machine's clock says.
    const r = await run(process.execPath, [UCLOUD, '-o', 'json', 'host', 'preflight', '--config', '/dev/null'], { env }).then(
      (o) => ({ code: 0, stdout: o.stdout, stderr: o.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => e,
    );
    const out = JSON.parse(r.stdout) as { host: string; ok: boolean; checks: CheckResult[] };
    expect(out.host).toBe('hv-self');
    expect(out.ok).toBe(false);
    expect(out.checks.map((c) => c.name)).toEqual(['host address', 'clock synchronised', 'migration ports free', 'fence watchdog', 'etcd credentials', 'underlay reachability', 'etcd health']);
    expect(out.checks[0]).toMatchObject({ ok: false, message: 'host_address ::1 is a loopback address: other hosts cannot reach it' });
    expect(out.checks.find((c) => c.name === 'etcd health')).toMatchObject({ ok: true });
    expect(out.checks.find((c) => c.name === 'underlay reachability')).toMatchObject({ ok: true });
    expect(r.stderr).toMatch(/^error: PREFLIGHT_FAILED: \d of 7 checks failed: host address/);
    expect(r.code).toBe(6);
  });
});

describe('a three-member etcd cluster', () => {
  let cluster: TestEtcdCluster;
  beforeAll(async () => {
    cluster = await startTestEtcdCluster(3);
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('all three answer; one down fails the check by name, the quorum standing; two down: no quorum', async () => {
    const ok = await one(etcdHealthy, cluster.env());
    expect(ok.message).toMatch(/^3 of 3 members answer, leader m[012], etcd /);
    expect(ok.ok).toBe(true);
    // Given only the first member's URL, the others are found through the member list.
    const firstOnly = { ...cluster.env(), UCLOUD_ETCD_ENDPOINTS: cluster.endpoints[0]! };
    expect(await one(etcdHealthy, firstOnly)).toMatchObject({ ok: true, message: expect.stringMatching(/^3 of 3 members answer/) });

    await cluster.kill(2);
    // Had m2 led, the others answer "leader changed" until they have elected one of them.
    const oneDown = await until('m0 and m1 agree on a leader', async () => {
      const r = await one(etcdHealthy, firstOnly);
      return !/leader changed|no leader/.test(r.message ?? '') && r;
    });
    expect(oneDown.ok).toBe(false);
    expect(oneDown.message).toBe(`member m2 (${cluster.endpoints[2]}) does not answer`);
    const allListed = await one(etcdHealthy, cluster.env());
    expect(allListed.message).toMatch(new RegExp(`^endpoint ${cluster.endpoints[2]} does not answer \\((ECONNREFUSED [^)]+|no connection)\\); member m2 \\(${cluster.endpoints[2]}\\) does not answer$`));

    await cluster.kill(1);
    const lost = await one(etcdHealthy, firstOnly);
    expect(lost.ok).toBe(false);
    // With auth on, a member without a quorum cannot hand out a token: it answers nothing, and says so.
    expect(lost.message).toBe(`endpoint ${cluster.endpoints[0]} does not answer (it takes connections but answers nothing within 3000 ms: no quorum, or still starting); no endpoint could list the members`);
  });
});
