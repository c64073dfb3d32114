// How RbdClient names what the ceph and rbd tools report: a cluster that does
// not answer is "cannot reach", a refusal is "refused" with the caps hint.
// Fake tools on PATH stand in for a cluster that cannot be made slow or
// refusing on demand here; the real cluster's answers are in storage-ceph.test.ts.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RbdClient } from '../../src/storage/rbd.js';

describe('RbdClient errors', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ucloud-fake-ceph-'));
  const path = process.env.PATH;
  const tool = (name: string, stderr: string, code: number) => {
    writeFileSync(join(dir, name), `#!/bin/sh\necho '${stderr}' >&2\nexit ${code}\n`);
    chmodSync(join(dir, name), 0o755);
  };
  beforeAll(() => {
    process.env.PATH = `${dir}:${path}`;
  });
  afterAll(() => {
    process.env.PATH = path;
    rmSync(dir, { recursive: true, force: true });
  });

  it("names the ceph CLI's own connect timeout (exit 1, 'timed out') a cluster it cannot reach, not a refusal", async () => {
    tool('ceph', 'timed out', 1);
    const err = await new RbdClient({ conf: '/etc/ceph/x.conf' }).poolExists('p').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'CEPH_UNAVAILABLE', message: expect.stringMatching(/^cannot reach the Ceph cluster of \/etc\/ceph\/x\.conf as client\.admin: timed out$/) });
  });

  it("keeps an rbd failure that merely mentions a timeout what it is (only the ceph CLI's bare 'timed out' is a connect timeout)", async () => {
    tool('rbd', 'rbd: error opening image x: (110) Connection timed out somewhere', 5);
    const err = await new RbdClient().list('p').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'STORAGE_FAILED' });
  });

  it('names a real refusal (EPERM) a refusal, with the caps hint', async () => {
    tool('ceph', 'Error EPERM: access denied', 1);
    const err = await new RbdClient({ user: 'ucloud' }).poolExists('p').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'CEPH_UNAVAILABLE', message: expect.stringMatching(/^Ceph refused `ceph osd` to client\.ucloud/), hint: expect.stringContaining('ceph auth caps client.ucloud') });
  });
});
