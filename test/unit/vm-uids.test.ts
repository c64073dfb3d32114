import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { VmUids } from '../../src/host/vm-uids.js';
import { rejection } from '../helpers/rejection.js';

const A = 'aaaaaaaa-0000-4000-8000-000000000001';
const B = 'bbbbbbbb-0000-4000-8000-000000000002';
const C = 'cccccccc-0000-4000-8000-000000000003';

describe('VmUids: one uid per VM on a host', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ucloud-vm-uids-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('claims distinct uids, even for VMs starting at the same moment, and the same one again for the same VM', async () => {
    const uids = new VmUids(join(dir, 'a'), { first: 100, last: 199 });
    const got = await Promise.all([A, B, C].map((id) => uids.claim(id)));
    expect(new Set(got).size).toBe(3);
    expect(got.every((u) => u >= 100 && u <= 199)).toBe(true);
    // a restarted agent (a new instance) finds the same uids, with or without vm.json's hint
    const again = new VmUids(join(dir, 'a'), { first: 100, last: 199 });
    expect(await again.claim(A)).toBe(got[0]);
    expect(await again.claim(B, got[1])).toBe(got[1]);
    // a hint that is another VM's claim is not taken
    expect(await again.claim(C, got[0])).toBe(got[2]);
    expect(readFileSync(join(dir, 'a', String(got[0])), 'utf8')).toBe(A);
  });

  it('release frees the uid for the next VM; a full range is HOST_UIDS_EXHAUSTED', async () => {
    const uids = new VmUids(join(dir, 'b'), { first: 7, last: 8 });
    expect(await uids.claim(A)).toBe(7);
    expect(await uids.claim(B)).toBe(8);
    expect((await rejection(uids.claim(C))).code).toBe('HOST_UIDS_EXHAUSTED');
    await uids.release(A);
    await uids.release(A);
    expect(readdirSync(join(dir, 'b'))).toEqual(['8']);
    expect(await uids.claim(C)).toBe(7);
  });
});
