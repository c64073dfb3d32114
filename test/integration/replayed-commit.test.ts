import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HostManager } from '../../src/managers/hosts.js';
import { KeyManager } from '../../src/managers/keys.js';
import { NetworkManager } from '../../src/managers/networks.js';
import { UserManager } from '../../src/managers/users.js';
import { VmManager } from '../../src/managers/vms.js';
import { API_ACTOR } from '../../src/model/vm-lifecycle.js';
import type { Store } from '../../src/store/store.js';
import { GiB, TestCluster } from '../helpers/cluster.js';
import { replayCommits } from '../helpers/replayed-commits.js';

// When etcd applies a transaction but its answer is lost, the etcd client sends
// it again, and that second attempt fails its compares on the first one's own
// writes. A create must then answer as the create it was (the user's token,
// key or network exists, and only the caller has the token's secret), not
// "already exists". Every commit below is sent twice, as such a retry does.

describe('a create etcd applied whose answer was lost, sent again by the client (real etcd)', () => {
  let c: TestCluster;
  let replayed: Store;
  const m = () => ({
    users: new UserManager(replayed),
    keys: new KeyManager(replayed),
    networks: new NetworkManager(replayed, { vniRange: { first: 10000, last: 16000000 }, ipv6Pool: 'fd75:636c:6f75::/48' }),
    hosts: new HostManager(replayed),
    vms: new VmManager(replayed, { actor: API_ACTOR }),
  });
  let keyText = '';

  beforeAll(async () => {
    c = await TestCluster.start();
    await c.bootstrap({ guestImage: c.tinyImage() });
    replayed = replayCommits(c.newStore());
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(c.dir, 'rita-key')]);
    keyText = readFileSync(join(c.dir, 'rita-key.pub'), 'utf8').trim();
  });
  afterAll(async () => {
    replayed?.close();
    await c?.stop();
  });

  it('still answers as the create it was: the user, a token, a key, a network, a host and a VM each exist once, and the secrets returned work', async () => {
    const { users, keys, networks, hosts, vms } = m();
    const plain = c.managers();
    const rita = await users.create('rita', 'user');
    expect((await plain.users.authenticate(rita.token)).name).toBe('rita');
    const second = await users.issueToken('rita', { name: 'laptop' });
    expect((await plain.users.authenticate(second.token)).name).toBe('rita');
    expect((await plain.users.listTokens('rita')).map((t) => t.name).sort()).toEqual(['first', 'laptop']);
    const replaced = await users.issueToken('rita', { name: 'laptop', replace: true });
    expect((await plain.users.authenticate(replaced.token)).name).toBe('rita');
    await expect(plain.users.authenticate(second.token)).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });

    const key = await keys.add('rita', 'laptop', keyText);
    expect(await plain.keys.list('rita')).toEqual([key]);
    const net = await networks.create('rita', 'net1');
    expect(await plain.networks.list('rita')).toEqual([net]);
    const host = await hosts.add('hv9', '::1', { cpu: 2, ramBytes: 2 * GiB, diskBytes: 20 * GiB });
    expect(await plain.hosts.get('hv9')).toEqual(host);
    const vm = await vms.create({ owner: 'rita', name: 'web1', image: { store: 'local', owner: 'admin', name: 'ucloud-test' }, cpu: 1, ramBytes: 128 * 2 ** 20, diskBytes: GiB });
    expect((await plain.vms.list('rita')).map((v) => v.id)).toEqual([vm.id]);
  });

  it('a create that meets another one is still refused with its code', async () => {
    const { users, keys, networks, hosts, vms } = m();
    await expect(users.create('rita', 'user')).rejects.toMatchObject({ code: 'USER_EXISTS' });
    await expect(users.issueToken('rita', { name: 'laptop' })).rejects.toMatchObject({ code: 'TOKEN_NAME_TAKEN' });
    await expect(users.issueToken('nobody', { name: 'laptop' })).rejects.toMatchObject({ code: 'USER_NOT_FOUND' });
    await expect(keys.add('rita', 'laptop', keyText)).rejects.toMatchObject({ code: 'KEY_EXISTS' });
    await expect(keys.add('rita', 'desk', keyText)).rejects.toMatchObject({ code: 'KEY_EXISTS' });
    await expect(networks.create('rita', 'net1')).rejects.toMatchObject({ code: 'NETWORK_EXISTS' });
    await expect(hosts.add('hv9', '::1', { cpu: 2, ramBytes: 2 * GiB, diskBytes: 20 * GiB })).rejects.toMatchObject({ code: 'HOST_EXISTS' });
    await expect(vms.create({ owner: 'rita', name: 'web1', image: { store: 'local', owner: 'admin', name: 'ucloud-test' }, cpu: 1, ramBytes: 128 * 2 ** 20, diskBytes: GiB })).rejects.toMatchObject({ code: 'VM_NAME_TAKEN' });
    // Nothing stored changed.
    const plain = c.managers();
    expect((await plain.users.listTokens('rita')).map((t) => t.name).sort()).toEqual(['first', 'laptop']);
    expect(await plain.keys.list('rita')).toHaveLength(1);
    expect(await plain.networks.list('rita')).toHaveLength(1);
  });
});
