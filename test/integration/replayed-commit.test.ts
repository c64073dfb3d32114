import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UserFile } from '../../src/model/index.js';
import { Keys, Kinds } from '../../src/store/keys.js';
import type { Store } from '../../src/store/store.js';
import { topLevelPrefix, writeJournal } from '../../src/store/write-log.js';
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
  const m = () => c.managers(replayed);
  const vmSpec = { image: { store: 'local', owner: 'admin', name: 'ucloud-test' }, cpu: 1, ramBytes: 128 * 2 ** 20, diskBytes: GiB };
  const file: UserFile = { id: randomUUID(), owner: 'rita', name: 'img1.qcow2', sizeBytes: 1, sha512: 'a'.repeat(128), mtimeMs: 0, seenAt: new Date().toISOString() };

  /**
   * Runs one create and checks it put its writes in the process's write journal,
   * as a commit that answered does (an API request's caches wait for them):
   * `key`'s top-level prefix at the revision the record is at.
   */
  const journaled = async <T>(create: () => Promise<T>, key: string): Promise<T> => {
    const log = writeJournal.open();
    try {
      const made = await create();
      const rec = await c.store.get(Kinds.meta, key); // any record passes meta's schema: only its revision is read
      expect(log.revisions.get(topLevelPrefix(key)), `the write journal's revision of ${key}`).toBe(BigInt(rec!.modRevision));
      return made;
    } finally {
      writeJournal.close(log);
    }
  };
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

  it('still answers as the create it was: the user, a token, a key, a network, a host, a VM and an image each exist once, and the secrets returned work', async () => {
    const { users, keys, networks, hosts, vms, images } = m();
    const plain = c.managers();
    const rita = await journaled(() => users.create('rita', 'user'), Keys.tokenName('rita', 'first'));
    expect((await plain.users.authenticate(rita.token)).name).toBe('rita');
    const second = await journaled(() => users.issueToken('rita', { name: 'laptop' }), Keys.tokenName('rita', 'laptop'));
    expect((await plain.users.authenticate(second.token)).name).toBe('rita');
    expect((await plain.users.listTokens('rita')).map((t) => t.name).sort()).toEqual(['first', 'laptop']);
    const replaced = await journaled(() => users.issueToken('rita', { name: 'laptop', replace: true }), Keys.tokenName('rita', 'laptop'));
    expect((await plain.users.authenticate(replaced.token)).name).toBe('rita');
    await expect(plain.users.authenticate(second.token)).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });

    const key = await journaled(() => keys.add('rita', 'laptop', keyText), Keys.key('rita', 'laptop'));
    expect(await plain.keys.list('rita')).toEqual([key]);
    const net = await journaled(() => networks.create('rita', 'net1'), Keys.network('rita', 'net1'));
    expect(await plain.networks.list('rita')).toEqual([net]);
    const host = await journaled(() => hosts.add('hv9', '::1', { cpu: 2, ramBytes: 2 * GiB, diskBytes: 20 * GiB }), Keys.host('hv9'));
    expect(await plain.hosts.get('hv9')).toEqual(host);
    const vm = await journaled(() => vms.create({ owner: 'rita', name: 'web1', ...vmSpec }), Keys.vmName('rita', 'web1'));
    expect((await plain.vms.list('rita')).map((v) => v.id)).toEqual([vm.id]);
    const img = await journaled(() => images.requestFromFile('rita', 'img1', 'local', file, false), Keys.image('rita', 'img1'));
    expect(await plain.images.get('rita', 'img1')).toEqual(img);
  });

  it('a create that meets another one is still refused with its code', async () => {
    const { users, keys, networks, hosts, vms, images } = m();
    await expect(users.create('rita', 'user')).rejects.toMatchObject({ code: 'USER_EXISTS' });
    await expect(users.issueToken('rita', { name: 'laptop' })).rejects.toMatchObject({ code: 'TOKEN_NAME_TAKEN' });
    await expect(users.issueToken('nobody', { name: 'laptop' })).rejects.toMatchObject({ code: 'USER_NOT_FOUND' });
    await expect(keys.add('rita', 'laptop', keyText)).rejects.toMatchObject({ code: 'KEY_EXISTS' });
    await expect(keys.add('rita', 'desk', keyText)).rejects.toMatchObject({ code: 'KEY_EXISTS' });
    await expect(networks.create('rita', 'net1')).rejects.toMatchObject({ code: 'NETWORK_EXISTS' });
    await expect(hosts.add('hv9', '::1', { cpu: 2, ramBytes: 2 * GiB, diskBytes: 20 * GiB })).rejects.toMatchObject({ code: 'HOST_EXISTS' });
    await expect(vms.create({ owner: 'rita', name: 'web1', ...vmSpec })).rejects.toMatchObject({ code: 'VM_NAME_TAKEN' });
    await expect(images.requestFromFile('rita', 'img1', 'local', file, false)).rejects.toMatchObject({ code: 'IMAGE_EXISTS' });
    // Nothing stored changed.
    const plain = c.managers();
    expect((await plain.users.listTokens('rita')).map((t) => t.name).sort()).toEqual(['first', 'laptop']);
    expect(await plain.keys.list('rita')).toHaveLength(1);
    expect(await plain.networks.list('rita')).toHaveLength(1);
    expect((await c.store.list(Kinds.image, Keys.images())).items.map((i) => i.key).sort()).toEqual([Keys.image('admin', 'ucloud-test'), Keys.image('rita', 'img1')]);
  });
});
