// Which unprivileged uid each VM's QEMU runs as (as Firecracker's jailer gives
// each microVM its own uid): an escaped QEMU is then no other VM's process (no
// signals, ptrace or /proc/<pid>/mem across VMs) and root of nothing. No file
// is owned by it: QEMU opens its disks, taps and sockets as root before it drops
// to the uid, and they stay root's (600), so a uid shared with a VM on another
// host (uids are per host; a shared store is one filesystem) opens no disk
// either. The uid doubles as the gid, and no passwd entry is needed.
//
// A uid is claimed by creating <dir>/<uid> exclusively (O_EXCL), holding the
// VM's id: the kernel makes two claims of one uid impossible, also between
// VMs starting at the same moment, with no lock and no etcd round trip. The
// claim lives next to the VMs' run directories and goes with them (uids are a
// resource of this host, not of the fleet; a migrated VM claims one on its new
// host). The VM's vm.json remembers its uid, so a restarted agent finds the
// same one at once.

import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UcloudError } from '../common/errors.js';

export interface UidRange {
  first: number;
  last: number;
}

export class VmUids {
  constructor(
    private readonly dir: string,
    private readonly range: UidRange,
  ) {}

  /**
   * The VM's uid: `hint` (the one vm.json recorded) when its claim is still
   * this VM's, else the one already claimed for it, else the lowest free one.
   */
  async claim(vmId: string, hint?: number): Promise<number> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    if (hint !== undefined && this.inRange(hint) && (await this.holder(hint)) === vmId) return hint;
    const claimed = await this.claims();
    for (const [uid, holder] of claimed) if (holder === vmId) return uid;
    for (let uid = this.range.first; uid <= this.range.last; uid++) {
      if (claimed.has(uid)) continue;
      try {
        await writeFile(join(this.dir, String(uid)), vmId, { flag: 'wx', mode: 0o600 });
        return uid;
      } catch (err) {
        // Claimed since the listing, by another VM starting now.
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
    throw new UcloudError('HOST_UIDS_EXHAUSTED', `every uid of qemu_uid_range ${this.range.first}-${this.range.last} is taken by a VM on this host`, {
      details: { range: this.range, dir: this.dir },
    });
  }

  /** Frees every uid claimed for the VM (normally one). Idempotent. */
  async release(vmId: string): Promise<void> {
    for (const [uid, holder] of await this.claims()) {
      if (holder === vmId) await rm(join(this.dir, String(uid)), { force: true });
    }
  }

  private inRange(uid: number): boolean {
    return Number.isSafeInteger(uid) && uid >= this.range.first && uid <= this.range.last;
  }

  private async holder(uid: number): Promise<string | undefined> {
    return readFile(join(this.dir, String(uid)), 'utf8').catch(() => undefined);
  }

  /** uid → VM id of every claim in the range. */
  private async claims(): Promise<Map<number, string>> {
    const out = new Map<number, string>();
    for (const name of await readdir(this.dir).catch(() => [])) {
      const uid = Number(name);
      if (!/^\d+$/.test(name) || !this.inRange(uid)) continue;
      const holder = await this.holder(uid);
      // A claim being written is empty for an instant: count it as taken.
      out.set(uid, holder ?? '');
    }
    return out;
  }
}
