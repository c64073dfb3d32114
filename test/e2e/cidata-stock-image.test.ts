import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Vm } from '../../src/model/index.js';
import * as qemuImg from '../../src/storage/qemu-img.js';
import { GiB, ROOT, TestCluster, until } from '../helpers/cluster.js';

// Issue 8, a VM without a network: the stock Debian 12 cloud image (Debian's
// own cloud-init and /etc/cloud, nothing of ucloud inside; the image of
// test/e2e/stock-cloud-image.test.ts) boots with no NIC at all, so its only
// seed is the agent's cidata disk. No SSH without a network: the user-data
// reports on the serial console what cloud-init made of the seed.
describe('a stock cloud image without a network takes its seed from the cidata disk', () => {
  let c: TestCluster;
  let alice = '';
  let image = '';
  const key = () => join(c.dir, 'alice_ed25519');

  beforeAll(async () => {
    // Built once per machine into ~/.cache/ucloud (minutes), then reused.
    image = execFileSync('bash', [join(ROOT, 'guest', 'build-debian-image.sh'), '--cached'], { stdio: ['ignore', 'pipe', 'inherit'] }).toString().trim();
    c = await TestCluster.start();
    await c.bootstrap({ hosts: [{ name: 'hv1', cpu: 2, ram: 2 * GiB, disk: 20 * GiB }] });
    const m = c.managers();
    const fh = await open(image, 'r');
    try {
      await m.images.importLocal('local', 'debian12', 'admin', true, { fd: fh.fd, format: 'qcow2', virtualSize: (await qemuImg.info(image)).virtualSize });
    } finally {
      await fh.close();
    }
    alice = (await m.users.create('alice', 'user')).token;
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'alice-laptop', '-f', key()]);
    await Promise.all((['api', 'scheduler', 'host'] as const).map((d) => c.spawn(d).ready));
  }, 1_200_000);
  afterAll(async () => {
    await c?.stop();
  });

  it("cloud-init finds NoCloud on the cidata disk: the VM's name, its owner's key for debian, its user-data", async () => {
    expect((await c.cli(['key', 'add', 'laptop', '--file', `${key()}.pub`], { UCLOUD_TOKEN: alice })).code).toBe(0);
    const userData = [
      '#cloud-config',
      'runcmd:',
      // `cloud-init query` reads what the datasource found; the console is the only way out of a VM without a network.
      '  - [sh, -c, \'echo "CIDATA-REPORT host=$(hostname) ds=$(cloud-init query platform) sub=$(cloud-init query subplatform | tr -d " ") keys=$(cut -d" " -f3 /home/debian/.ssh/authorized_keys | tr "\\n" ,)" > /dev/ttyS0\']',
      '',
    ].join('\n');
    const t0 = Date.now();
    await c.client(alice).vms.create({ name: 'offline1', image: 'debian12', cpu: 2, ram: '1GiB', disk: '4GiB', networks: [], userData });
    const vm = await until('offline1 running', async () => {
      const v = await c.client(alice).vms.get('offline1');
      return v.status === 'running' && v.qemu ? v : undefined;
    }, 120_000, 250);
    const serial = (v: Vm) => (existsSync(v.qemu!.serialLog) ? readFileSync(v.qemu!.serialLog, 'utf8') : '');
    const line = await until('the guest reported', () => /CIDATA-REPORT (.*)/.exec(serial(vm))?.[1], 600_000, 1000);
    console.log(`[cidata-stock-image] vm create -> cloud-init final report: ${((Date.now() - t0) / 1000).toFixed(1)} s: ${line}`);
    expect(line).toContain('host=offline1');
    expect(line).toContain('ds=nocloud');
    expect(line).toMatch(/sub=config-disk\(\/dev\/vd[b-z]\)/);
    expect(line).toContain('keys=alice-laptop,');
  }, 900_000);
});
