import { mkdtempSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/common/config.js';
import { silentLogger } from '../../src/common/logger.js';
import { apiUrlFor } from '../../src/common/paths.js';
import { UserManager } from '../../src/managers/users.js';
import { Store } from '../../src/store/store.js';
import { ensureAdminAndCliConfig, upTokenName } from '../../src/up/bootstrap.js';
import { startTestEtcd, type TestEtcd } from '../helpers/etcd.js';

describe('`ucloud up` keeps one admin token, whatever happens to the CLI config (real etcd)', () => {
  let etcd: TestEtcd;
  let store: Store;
  let users: UserManager;
  let dir: string;
  let cliFile: string;
  let stateFile: string;
  let config: Config;

  const up = () => ensureAdminAndCliConfig(config, store, silentLogger, cliFile);
  const cliToken = () => (JSON.parse(readFileSync(cliFile, 'utf8')) as { profiles: { local: { token: string } } }).profiles.local.token;
  const adminTokens = () => users.listTokens('admin');

  beforeAll(async () => {
    etcd = await startTestEtcd();
    store = new Store(etcd.storeOptions('/up/'));
    users = new UserManager(store);
    dir = mkdtempSync(join(tmpdir(), 'ucloud-up-'));
    cliFile = join(dir, 'home', 'config.json');
    stateFile = join(dir, 'admin-token');
    config = { stateDir: dir, hostName: 'Node1.example', apiListen: { host: '::', port: 8080 } } as Config;
  });
  afterAll(async () => {
    store.close();
    await etcd.stop();
    rmSync(etcd.dir, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  });

  it('mints the admin token once and rewrites a missing, broken or revoked CLI config from the state dir', async () => {
    expect(upTokenName('Node1.example')).toBe('up-node1-example');
    await up();
    const first = cliToken();
    expect(readFileSync(stateFile, 'utf8').trim()).toBe(first);
    for (const f of [cliFile, stateFile]) expect(statSync(f).mode & 0o777).toBe(0o600);
    expect((await adminTokens()).map((t) => t.name)).toEqual(['up-node1-example']);

    // The CLI config lost, then unreadable: the same token comes back, no new one is made.
    unlinkSync(cliFile);
    await up();
    expect(cliToken()).toBe(first);
    writeFileSync(cliFile, '{ not json');
    await up();
    expect(cliToken()).toBe(first);
    // The CLI config holds some other, no longer valid token: still the state dir's.
    writeFileSync(cliFile, JSON.stringify({ url: 'http://x', token: 'uc_revoked' }));
    await up();
    expect(cliToken()).toBe(first);
    expect(await adminTokens()).toHaveLength(1);

    // A working admin token in the CLI config for this cloud (made by hand) is kept too, and becomes the state dir's.
    const { token: own } = await users.issueToken('admin', { name: 'laptop' });
    writeFileSync(cliFile, JSON.stringify({ url: apiUrlFor(config.apiListen), token: own }));
    await up();
    expect(cliToken()).toBe(own);
    expect(readFileSync(stateFile, 'utf8').trim()).toBe(own);
    expect(await adminTokens()).toHaveLength(2);
  });

  it('with neither file holding a working token, mints one that replaces the last up token of this host', async () => {
    unlinkSync(cliFile);
    unlinkSync(stateFile);
    const before = (await adminTokens()).find((t) => t.name === 'up-node1-example');
    await up();
    const fresh = cliToken();
    expect(await users.tokenValidFor(fresh, 'admin')).toBe(true);
    const after = await adminTokens();
    expect(after.map((t) => t.name).sort()).toEqual(['laptop', 'up-node1-example']);
    expect(after.find((t) => t.name === 'up-node1-example')?.id).not.toBe(before?.id);
  });
});
