import { mkdtempSync, rmSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Logger } from '../../src/common/logger.js';
import { markCopyPause, makeDiskCopies } from '../../src/host/migration/disk-copy.js';
import { HostMigrations, MigrationDestination, MigrationSource, type DestinationDeps, type SourceDeps } from '../../src/host/migration/index.js';
import type { QmpMonitor } from '../../src/host/qemu/index.js';
import type { VmRuntime } from '../../src/host/vm-runtime.js';
import type { Vm, VmDisk, VmMigration } from '../../src/model/index.js';
import type { StorageDriver } from '../../src/storage/driver.js';
import { fakeQmpServer, qmpReply } from '../helpers/fake-qmp.js';
import { rejection } from '../helpers/rejection.js';

// The host's side of a migration (mostly the destination's), with the host played by
// fakes: a QEMU monitor on a unix socket answering as an incoming QEMU would,
// a firewall and a runtime that record what they are asked to do.

interface FakeQemu {
  status: string;
  migration: string;
  commands: string[];
}

function fakeQemu(path: string, q: FakeQemu): Promise<net.Server> {
  return fakeQmpServer(path, (msg, sock) => {
    q.commands.push(msg.execute);
    const value =
      msg.execute === 'query-status' ? { status: q.status, running: q.status === 'running' } : msg.execute === 'query-migrate' ? { status: q.migration } : {};
    if (msg.execute === 'cont') q.status = 'running';
    qmpReply(sock, msg.id, value);
  });
}

function recordingLog() {
  const lines: { level: string; obj: Record<string, unknown>; msg: string }[] = [];
  const at = (level: string) => (obj: Record<string, unknown>, msg: string) => void lines.push({ level, obj, msg });
  const log = { error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug') } as unknown as Logger;
  return { log, lines };
}

const disk = (ref: string): VmDisk => ({ name: 'os', store: 'local', ref, format: 'qcow2', sizeBytes: 1 << 30 });
const migration = (over: Partial<VmMigration>): VmMigration =>
  ({ id: 'mig-1', source: 'hv1', destination: 'hv2', phase: 'completed', mode: 'copy', startedAt: new Date().toISOString(), updatedAt: new Date().toISOString(), ...over }) as VmMigration;

describe('migration destination (fakes)', () => {
  let dir: string;
  let server: net.Server | undefined;
  let qemu: FakeQemu;
  let fw: string[];
  let failClose: Set<number>;
  let destroyed: VmDisk[][];
  let local: { disks: VmDisk[] } | undefined;
  let pid: number | undefined;
  let rec: ReturnType<typeof recordingLog>;
  let dest: MigrationDestination;

  const runtime = () =>
    ({
      dir: () => dir,
      paths: () => ({ qmpSocket: join(dir, 'qmp.sock') }),
      runningPid: () => Promise.resolve(pid),
      hasLocal: () => Promise.resolve(true),
      readLocal: () => Promise.resolve(local),
      releaseDisks: () => Promise.resolve(),
      destroy: (_vm: unknown, disks: VmDisk[]) => {
        destroyed.push(disks);
        return Promise.resolve();
      },
      removeNics: () => Promise.resolve(),
    }) as unknown as VmRuntime;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ucloud-migdest-'));
    qemu = { status: 'paused', migration: 'completed', commands: [] };
    server = await fakeQemu(join(dir, 'qmp.sock'), qemu);
    fw = [];
    failClose = new Set();
    destroyed = [];
    local = undefined;
    pid = 4242;
    rec = recordingLog();
    const deps = {
      runtime: runtime(),
      firewall: {
        open: (source: string, port: number) => {
          fw.push(`open ${source} ${port}`);
          return Promise.resolve();
        },
        close: (port: number) => {
          fw.push(`close ${port}`);
          return failClose.delete(port) ? Promise.reject(new Error('nft: resource busy')) : Promise.resolve();
        },
      },
      address: 'fd00::2',
      ports: { first: 49152, last: 49160 },
      log: rec.log,
    } as unknown as DestinationDeps;
    dest = new MigrationDestination(deps);
  });
  afterEach(() => {
    server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const roles = () => new HostMigrations('hv2', { running: () => false } as unknown as MigrationSource, dest, runtime());

  it('keeps an incoming QEMU that finished its migration or runs although the record fails it, unless still in the pause made for that migration', async () => {
    await writeFile(join(dir, 'incoming-disks.json'), JSON.stringify([disk('vm-os-mcopy')]));
    const vm = { id: 'vm', host: 'hv1', nics: [], disks: [disk('vm.qcow2')], lastMigration: migration({ phase: 'failed' }) } as unknown as Vm;
    await roles().removeLeftover(vm);
    expect(destroyed).toEqual([]);
    expect(qemu.commands).toContain('query-migrate');
    const err = rec.lines.find((l) => l.level === 'error');
    expect(err?.obj.code).toBe('MIGRATION_GUEST_ON_DESTINATION');
    // Mode copy, still in the pause this host made for that migration: the guest never ran here, the record stands.
    await markCopyPause(dir, 'mig-other');
    await roles().removeLeftover(vm);
    expect(destroyed).toEqual([]);
    // Running counts too (shared mode: QEMU resumes the guest on its own).
    qemu.migration = 'active';
    qemu.status = 'running';
    await roles().removeLeftover(vm);
    expect(destroyed).toEqual([]);
    qemu.status = 'paused';
    qemu.migration = 'completed';
    await markCopyPause(dir, 'mig-1');
    await roles().removeLeftover(vm);
    expect(destroyed).toEqual([[disk('vm-os-mcopy')]]);
  });

  it('removes an incoming QEMU that did not finish, with the copies it made (never the record’s disks)', async () => {
    qemu.status = 'inmigrate';
    qemu.migration = 'failed';
    await writeFile(join(dir, 'incoming-disks.json'), JSON.stringify([disk('vm-os-mcopy')]));
    const vm = { id: 'vm', host: 'hv1', nics: [], disks: [disk('vm.qcow2')], lastMigration: migration({ phase: 'failed' }) } as unknown as Vm;
    await roles().removeLeftover(vm);
    expect(destroyed).toEqual([[disk('vm-os-mcopy')]]);
  });

  it('a source that stopped after the copy settled deletes its old volumes, never one the record names', async () => {
    pid = undefined;
    local = { disks: [disk('vm.qcow2'), disk('vm-os-mcopy')] };
    const vm = { id: 'vm', host: 'hv3', nics: [], disks: [disk('vm-os-mcopy')], lastMigration: migration({ source: 'hv2', destination: 'hv3' }) } as unknown as Vm;
    await roles().removeLeftover(vm);
    expect(destroyed).toEqual([[disk('vm.qcow2')]]);
  });

  it('closes the holes the record names after an agent restart, and clears a port’s old peers before opening it', async () => {
    // Ports another host published (this one was the source) are not this firewall's.
    const away = { id: 'vm', host: 'hv3', nics: [], disks: [], lastMigration: migration({ source: 'hv2', destination: 'hv3', address: 'fd00::3', port: 49155, nbdPort: 49156 }) } as unknown as Vm;
    await roles().removeLeftover(away);
    expect(fw).toEqual([]);
    const vm = { id: 'vm', host: 'hv2', nics: [], disks: [], lastMigration: migration({ address: 'fd00::2', port: 49153, nbdPort: 49154 }) } as unknown as Vm;
    pid = undefined;
    await roles().reconcile(vm);
    expect(fw).toEqual(['close 49154', 'close 49153']);
    fw = [];
    const bindPort = (dest as unknown as { bindPort: (id: string, holes: Map<string, number>, source: string, bind: (p: number) => Promise<void>) => Promise<number> }).bindPort.bind(dest);
    expect(await bindPort('vm2', new Map(), 'fd00::1', () => Promise.resolve())).toBe(49152);
    expect(fw).toEqual(['close 49152', 'open fd00::1 49152']);
  });

  it('a hole whose close failed is closed at a later reconcile, and no other migration is given its port meanwhile', async () => {
    const vm = { id: 'vm', host: 'hv2', nics: [], disks: [], lastMigration: migration({ address: 'fd00::2', port: 49152, nbdPort: 49153 }) } as unknown as Vm;
    pid = undefined;
    failClose.add(49152);
    const r = roles();
    await r.reconcile(vm);
    expect(fw).toEqual(['close 49153', 'close 49152']);
    expect(rec.lines.some((l) => l.level === 'warn' && l.msg.startsWith('cannot close the migration port') && l.obj.port === 49152)).toBe(true);
    expect(dest.hasHole('vm')).toBe(true);
    fw = [];
    const bindPort = (dest as unknown as { bindPort: (id: string, holes: Map<string, number>, source: string, bind: (p: number) => Promise<void>) => Promise<number> }).bindPort.bind(dest);
    // vm2's incoming migration takes the next free port: the NBD port closed above, never 49152.
    const holes = (dest as unknown as { holes: Map<string, number> }).holes;
    expect(await bindPort('vm2', holes, 'fd00::1', () => Promise.resolve())).toBe(49153);
    fw = [];
    await r.reconcile(vm);
    expect(fw).toEqual(['close 49152']);
    expect(dest.hasHole('vm')).toBe(false);
    fw = [];
    await r.reconcile(vm);
    expect(fw).toEqual([]);
  });

  it('resumes an arrived guest only from the pause it made for that migration', async () => {
    const vm = { id: 'vm', host: 'hv2', lastMigration: migration({}) } as unknown as Vm;
    // No marker: paused for another reason (or resumed and paused since): left paused.
    await dest.arrived(vm);
    expect(qemu.commands).not.toContain('cont');
    const vm2 = { ...vm, lastMigration: migration({ id: 'mig-2' }) } as unknown as Vm;
    await markCopyPause(dir, 'mig-2');
    await dest.arrived(vm2);
    expect(qemu.commands).toContain('nbd-server-stop');
    expect(qemu.commands).toContain('cont');
    expect(qemu.status).toBe('running');
    expect(await readFile(join(dir, 'copy-paused'), 'utf8').catch(() => 'gone')).toBe('gone');
  });

  it('refuses a disk copy the destination store has no room for, making nothing', async () => {
    const made: string[] = [];
    const driver = {
      freeBytes: () => Promise.resolve(1 << 30),
      createDisk: (id: string) => {
        made.push(id);
        return Promise.resolve({ ref: id, format: 'qcow2' });
      },
    } as unknown as StorageDriver;
    const vm = { id: 'vm', disks: [disk('a'), { ...disk('b'), name: 'data' }] };
    const err = await rejection(makeDiskCopies(vm, 'mig-1', dir, () => Promise.resolve(driver)));
    expect(err.code).toBe('MIGRATION_STORE_FULL');
    expect(made).toEqual([]);
    expect((await makeDiskCopies({ id: 'vm', disks: [disk('a')] }, 'mig-1', dir, () => Promise.resolve(driver))).length).toBe(1);
  });
});

describe('migration source disk copy (fake QMP)', () => {
  /** A source QEMU mirroring one disk that never gets in step (or is, with `ready`). */
  function fakeSourceQemu(ready: boolean) {
    const commands: string[] = [];
    let cancelled = false;
    const execute = (cmd: string): Promise<unknown> => {
      commands.push(cmd);
      if (cmd === 'query-block') return Promise.resolve([{ device: 'disk0', inserted: { 'node-name': 'n0' } }]);
      if (cmd === 'query-block-jobs') return Promise.resolve(cancelled ? [] : [{ type: 'mirror', device: 'mig-mirror0', status: ready ? 'ready' : 'running', offset: 1, len: 10, ready }]);
      if (cmd === 'block-job-cancel') cancelled = true;
      return Promise.resolve({});
    };
    return { mon: { execute } as unknown as QmpMonitor, commands };
  }

  const source = (timeoutMs: number) =>
    new MigrationSource({
      vms: { observe: () => Promise.resolve(undefined) },
      cfg: { maxDowntimeMs: 300, maxBandwidth: 0, prepareTimeoutMs: 1000, timeoutMs },
      log: recordingLog().log,
    } as unknown as SourceDeps);
  const copyDisks = (s: MigrationSource) =>
    (s as unknown as { copyDisks: (vm: unknown, m: unknown, mon: QmpMonitor, run: object, onCancel: (fn: () => void) => void) => Promise<boolean> }).copyDisks.bind(s);
  const vm = { id: 'vm', ramBytes: 1 << 27, disks: [disk('vm.qcow2')] };
  const started = (agoMs: number) => migration({ phase: 'transferring', address: 'fd00::2', port: 49152, nbdPort: 49153, disks: [disk('vm-os-mcopy')], startedAt: new Date(Date.now() - agoMs).toISOString() });

  it('gives the disk copy up past migration_timeout_s (counted from the request), undoing it', async () => {
    const q = fakeSourceQemu(false);
    const err = await rejection(copyDisks(source(60_000))(vm, started(61_000), q.mon, {}, () => undefined));
    expect(err.code).toBe('MIGRATION_TIMEOUT');
    expect(q.commands).toContain('block-job-cancel');
    expect(q.commands).toContain('blockdev-del');
  });

  it('goes on to the RAM when the copy is in step within the time', async () => {
    const q = fakeSourceQemu(true);
    expect(await copyDisks(source(60_000))(vm, started(1_000), q.mon, {}, () => undefined)).toBe(true);
    expect(q.commands).not.toContain('block-job-cancel');
  });
});
