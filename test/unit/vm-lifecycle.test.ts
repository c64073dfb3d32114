import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { UcloudError } from '../../src/common/errors.js';
import type { MigrationPhase, Vm, VmDisk, VmMigration, VmStatus } from '../../src/model/index.js';
import {
  API_ACTOR,
  checkVmWrite,
  hostActor,
  MIGRATION_PHASES,
  READER_ACTOR,
  SCHEDULER_ACTOR,
  VM_STATUSES,
  VM_TRANSITIONS,
  vmTransitionsMarkdown,
  vmWriteRefusal,
  type MigrationRole,
  type VmActor,
  type VmFrom,
  type VmRole,
  type VmTo,
} from '../../src/model/vm-lifecycle.js';

const T0 = '2026-01-01T00:00:00.000Z';
const T1 = '2026-01-01T00:00:01.000Z';
const ID = '7d3c1b52-2f1a-4c55-9a53-2b9d8f1e4a10';
const MIG = '1f0e2d3c-4b5a-4697-8877-665544332211';

function vm(status: VmStatus, over: Partial<Vm> = {}): Vm {
  return {
    id: ID,
    name: 'web',
    owner: 'alice',
    image: { store: 'local', owner: 'admin', name: 'debian' },
    cpu: 1,
    ramBytes: 2 ** 28,
    diskBytes: 2 ** 30,
    desired: 'running',
    generation: 2,
    observedGeneration: 1,
    status,
    disks: [],
    createdAt: T0,
    updatedAt: T0,
    ...over,
  };
}

function migration(phase: MigrationPhase, over: Partial<VmMigration> = {}): VmMigration {
  return { id: MIG, source: 'h1', destination: 'h2', phase, mode: 'shared', requestedBy: 'alice', startedAt: T0, updatedAt: T0, ...over };
}

function without<K extends keyof Vm>(v: Vm, ...keys: K[]): Vm {
  const c = { ...v };
  for (const k of keys) delete c[k];
  return c;
}

type Write = [prev: Vm | undefined, next: Vm | undefined];

/**
 * The natural ways to make a status move: from a placed (on h1) and an
 * unplaced record, placing it for → scheduled, a requested migration for
 * → migrating, a settle for migrating → running, `desired` deleted before a delete.
 */
function writes(from: VmFrom, to: VmTo): Write[] {
  if (from === 'new') return to === 'deleted' ? [] : [[undefined, vm(to)], [undefined, vm(to, { host: 'h1' })]];
  if (to === 'deleted') return [[vm(from, { desired: 'deleted', host: 'h1', ...(from === 'migrating' ? { migration: migration('transferring') } : {}) }), undefined], [vm(from, { desired: 'deleted' }), undefined]];
  if (from === 'migrating') {
    const out: Write[] = [];
    for (const pm of [migration('transferring'), migration('requested', { destination: undefined })]) {
      const prev = vm('migrating', { host: 'h1', migration: pm });
      if (to === 'migrating') {
        out.push([prev, { ...prev, updatedAt: T1, migration: { ...pm, cancel: true, updatedAt: T1 } }]);
        out.push([prev, { ...prev, updatedAt: T1, migration: { ...pm, destination: 'h2', updatedAt: T1 } }]);
        out.push([prev, { ...prev, updatedAt: T1, migration: { ...pm, progress: { ramBytes: 1, ramTotalBytes: 2, mbps: 3 }, updatedAt: T1 } }]);
      } else {
        const done = pm.destination !== undefined;
        const settled = without({ ...prev, status: to, updatedAt: T1, lastMigration: { ...pm, phase: done ? 'completed' : 'failed' } }, 'migration');
        out.push([prev, done ? { ...settled, host: 'h2' } : settled]);
        out.push([prev, { ...prev, status: to, updatedAt: T1 }]);
      }
    }
    return out;
  }
  const out: Write[] = [];
  for (const placed of [true, false]) {
    const prev = vm(from, placed ? { host: 'h1' } : {});
    const next: Vm = { ...prev, status: to, updatedAt: T1 };
    if (to === 'scheduled' && !placed) next.host = 'h1';
    if (to === 'migrating') next.migration = migration('requested', { source: prev.host ?? 'h1' });
    out.push([prev, next]);
  }
  return out;
}

const ACTORS: [VmActor, VmRole | undefined][] = [
  [API_ACTOR, 'api'],
  [SCHEDULER_ACTOR, 'scheduler'],
  [hostActor('h1'), 'host'],
  [hostActor('h3'), undefined],
  [READER_ACTOR, undefined],
];

const FROMS: VmFrom[] = ['new', ...VM_STATUSES];
const TOS: VmTo[] = [...VM_STATUSES, 'deleted'];

function refusedCode(prev: Vm | undefined, next: Vm | undefined, actor: VmActor): string | undefined {
  try {
    checkVmWrite(prev, next, actor);
    return undefined;
  } catch (err) {
    expect(err).toBeInstanceOf(UcloudError);
    return (err as UcloudError).code;
  }
}

describe('VM state machine: every status move × every actor against the table', () => {
  const cases = FROMS.flatMap((from) => TOS.flatMap((to) => ACTORS.map(([actor, role]) => ({ from, to, actor, role }))));
  it(`covers the whole product (${cases.length} cases)`, () => {
    expect(cases).toHaveLength(11 * 11 * 5);
  });
  it.each(cases)('$from → $to by $actor.kind $actor.name', ({ from, to, actor, role }) => {
    const listed = role !== undefined && (VM_TRANSITIONS[from][to] ?? []).includes(role);
    const ws = writes(from, to);
    const allowed = ws.filter(([p, n]) => vmWriteRefusal(p, n, actor) === undefined);
    // Listed: some natural write makes the move. Not listed: every one is refused, with the code.
    expect(allowed.length > 0, `${from} → ${to} by ${JSON.stringify(actor)}`).toBe(listed);
    for (const [p, n] of ws) if (vmWriteRefusal(p, n, actor) !== undefined) expect(refusedCode(p, n, actor)).toBe('VM_TRANSITION_REFUSED');
  });
});

describe('migration phases: every phase move × every role against MIGRATION_PHASES', () => {
  const PHASES: MigrationPhase[] = ['requested', 'preparing', 'listening', 'transferring', 'completed', 'failed', 'cancelled'];
  const ROLES: [MigrationRole | undefined, VmActor][] = [
    ['api', API_ACTOR],
    ['scheduler', SCHEDULER_ACTOR],
    ['source', hostActor('h1')],
    ['destination', hostActor('h2')],
    [undefined, hostActor('h3')],
    [undefined, READER_ACTOR],
  ];
  const FINAL = new Set<MigrationPhase>(['completed', 'failed', 'cancelled']);
  const cases = PHASES.flatMap((from) => PHASES.map((to) => ({ from, to })));

  /** In place (status migrating) as each role writes it, and for a final phase the settle too. */
  function phaseWrites(from: MigrationPhase, to: MigrationPhase): Write[] {
    const out: Write[] = [];
    for (const pm of [migration(from), migration(from, { destination: undefined })]) {
      const prev = vm('migrating', { host: 'h1', migration: pm });
      const inPlace = (m: Partial<VmMigration>): Write => [prev, { ...prev, updatedAt: T1, migration: { ...pm, phase: to, updatedAt: T1, ...m } }];
      out.push(inPlace({}), inPlace({ cancel: true }), inPlace({ destination: 'h2' }), inPlace({ address: 'fd00::2', port: 4444 }));
      if (FINAL.has(to)) {
        const settled = without({ ...prev, status: 'running', updatedAt: T1, lastMigration: { ...pm, phase: to } }, 'migration');
        out.push([prev, to === 'completed' && pm.destination ? { ...settled, host: pm.destination } : settled]);
      }
    }
    return out;
  }

  for (const [role, actor] of ROLES) {
    it.each(cases)(`$from → $to by ${role ?? JSON.stringify(actor)}`, ({ from, to }) => {
      const listed = role !== undefined && (MIGRATION_PHASES[from][to] ?? []).includes(role);
      const allowed = phaseWrites(from, to).filter(([p, n]) => vmWriteRefusal(p, n, actor) === undefined);
      expect(allowed.length > 0).toBe(listed);
    });
  }
});

describe('VM state machine: the cases that matter', () => {
  const running = vm('running', { host: 'h1', observedGeneration: 2 });

  it('the refusal names the move and the actor', () => {
    expect(() => checkVmWrite(running, { ...running, status: 'stopped' }, hostActor('h3'))).toThrow(/VM "web": running → stopped refused for host h3/);
    expect(() => checkVmWrite(running, { ...running, updatedAt: T1 }, READER_ACTOR)).toThrow(/refused for reader/);
  });

  it("a host writes only the VMs it runs; the scheduler and the API do not act for it", () => {
    expect(vmWriteRefusal(running, { ...running, status: 'stopping' }, hostActor('h1'))).toBeUndefined();
    expect(vmWriteRefusal(running, { ...running, status: 'stopping' }, hostActor('h2'))).toMatch(/does not run it/);
    expect(vmWriteRefusal(running, { ...running, status: 'stopped' }, API_ACTOR)).toMatch(/not a move the api makes/);
    const stopped = vm('stopped', { host: 'h1', desired: 'stopped' });
    expect(vmWriteRefusal(stopped, { ...stopped, status: 'pending', desired: 'running' }, API_ACTOR)).toMatch(/only before it is placed/);
    expect(vmWriteRefusal(running, { ...running, host: 'h2' }, hostActor('h1'))).toMatch(/host/);
    expect(vmWriteRefusal(running, { ...running, host: 'h2' }, SCHEDULER_ACTOR)).toMatch(/host/);
  });

  it('an unchanged rewrite (repairing mirrors) is any writer’s, but not a reader’s nor an unrelated host’s', () => {
    for (const a of [API_ACTOR, SCHEDULER_ACTOR, hostActor('h1')]) expect(vmWriteRefusal(running, { ...running }, a)).toBeUndefined();
    expect(vmWriteRefusal(running, { ...running }, hostActor('h3'))).toBeDefined();
    expect(vmWriteRefusal(running, { ...running }, READER_ACTOR)).toBeDefined();
    const moving = { ...running, status: 'migrating' as const, migration: migration('preparing') };
    expect(vmWriteRefusal(moving, { ...moving }, hostActor('h2'))).toBeUndefined();
  });

  it("a record is deleted only once its user asked, and a placed one not by the API", () => {
    expect(vmWriteRefusal(vm('deleting', { host: 'h1' }), undefined, hostActor('h1'))).toMatch(/not deleted/);
    const asked = vm('deleting', { host: 'h1', desired: 'deleted' });
    expect(vmWriteRefusal(asked, undefined, hostActor('h1'))).toBeUndefined();
    expect(vmWriteRefusal(asked, undefined, SCHEDULER_ACTOR)).toBeUndefined();
    expect(vmWriteRefusal(asked, undefined, API_ACTOR)).toMatch(/its host h1 deletes it/);
    expect(vmWriteRefusal(without(asked, 'host'), undefined, API_ACTOR)).toBeUndefined();
  });

  it('the scheduler places only an unplaced VM, and never changes the intent', () => {
    const pending = vm('pending');
    expect(vmWriteRefusal(pending, { ...pending, status: 'scheduled', host: 'h1' }, SCHEDULER_ACTOR)).toBeUndefined();
    expect(vmWriteRefusal(pending, { ...pending, status: 'scheduled' }, SCHEDULER_ACTOR)).toMatch(/sets the host/);
    expect(vmWriteRefusal(running, { ...running, status: 'scheduled', host: 'h2' }, SCHEDULER_ACTOR)).toMatch(/has none/);
    expect(vmWriteRefusal(pending, { ...pending, reason: 'no host fits', desired: 'stopped' }, SCHEDULER_ACTOR)).toMatch(/asked for/);
  });

  it('the API asks for a reboot of a running VM only; only its host settles it, the one asked for', () => {
    const reboot = { id: MIG, by: 'alice', at: T1 };
    const asked = { ...running, reboot };
    expect(vmWriteRefusal(running, asked, API_ACTOR)).toBeUndefined();
    expect(vmWriteRefusal(running, asked, hostActor('h1'))).toMatch(/only the API asks for a reboot/);
    expect(vmWriteRefusal(running, asked, SCHEDULER_ACTOR)).toMatch(/only the API asks for a reboot/);
    const stopped = vm('stopped', { host: 'h1', desired: 'stopped', observedGeneration: 2 });
    expect(vmWriteRefusal(stopped, { ...stopped, reboot }, API_ACTOR)).toMatch(/of a running VM/);
    const stopping = { ...running, desired: 'stopped' as const };
    expect(vmWriteRefusal(stopping, { ...stopping, reboot }, API_ACTOR)).toMatch(/of a running VM/);
    expect(vmWriteRefusal(asked, without(asked, 'reboot'), hostActor('h1'))).toMatch(/stays on the record/);
    const settled = { ...asked, lastReboot: { id: MIG, mode: 'acpi' as const, at: T1 } };
    expect(vmWriteRefusal(asked, settled, hostActor('h1'))).toBeUndefined();
    expect(vmWriteRefusal(asked, settled, hostActor('h3'))).toBeDefined();
    expect(vmWriteRefusal(asked, settled, API_ACTOR)).toMatch(/only the VM’s host settles a reboot/);
    expect(vmWriteRefusal(asked, { ...asked, lastReboot: { id: ID, mode: 'acpi', at: T1 } }, hostActor('h1'))).toMatch(/the one asked for/);
  });

  it('a VM’s display is set when it is made, and no writer changes it', () => {
    const pending = vm('pending');
    expect(vmWriteRefusal(undefined, { ...pending, display: 'vnc' }, API_ACTOR)).toBeUndefined();
    const withScreen = { ...running, display: 'vnc' as const };
    for (const actor of [API_ACTOR, SCHEDULER_ACTOR, hostActor('h1')]) {
      expect(vmWriteRefusal(running, withScreen, actor)).toMatch(/display is set when it is made/);
      expect(vmWriteRefusal(withScreen, without(withScreen, 'display'), actor)).toMatch(/display is set when it is made/);
    }
    expect(vmWriteRefusal(withScreen, { ...withScreen, status: 'stopped', desired: 'stopped' }, hostActor('h1'))).toBeUndefined();
  });

  it('a host changes the intent only for a VM that stopped by itself', () => {
    expect(vmWriteRefusal(running, { ...running, status: 'stopped', desired: 'stopped' }, hostActor('h1'))).toBeUndefined();
    expect(vmWriteRefusal(running, { ...running, desired: 'deleted' }, hostActor('h1'))).toMatch(/stopped by itself/);
    expect(vmWriteRefusal(running, { ...running, generation: 3 }, hostActor('h1'))).toMatch(/stopped by itself/);
  });

  describe('live migration, as part D writes it', () => {
    const requested = { ...running, status: 'migrating' as const, migration: migration('requested') };
    const at = (phase: MigrationPhase, over: Partial<VmMigration> = {}) => ({ ...requested, updatedAt: T1, migration: migration(phase, over) });

    it('the whole successful path, each write by its actor', () => {
      const steps: [Vm, Vm, VmActor][] = [
        [running, requested, API_ACTOR],
        [requested, at('preparing'), hostActor('h2')],
        [at('preparing'), at('listening', { address: 'fd00::2', port: 49152 }), hostActor('h2')],
        [at('listening'), at('transferring'), hostActor('h1')],
        [at('transferring'), at('transferring', { progress: { ramBytes: 1, ramTotalBytes: 2, mbps: 100 } }), hostActor('h1')],
        [at('transferring'), without({ ...running, host: 'h2', updatedAt: T1, lastMigration: migration('completed') }, 'migration'), hostActor('h1')],
      ];
      for (const [p, n, a] of steps) expect(vmWriteRefusal(p, n, a), `${p.migration?.phase ?? p.status} → ${n.migration?.phase ?? n.status}`).toBeUndefined();
    });

    it('failure and cancel settle where it was; the destination marks failed but never settles', () => {
      const failed = without({ ...running, updatedAt: T1, lastMigration: migration('failed') }, 'migration');
      expect(vmWriteRefusal(at('listening'), failed, hostActor('h1'))).toBeUndefined();
      expect(vmWriteRefusal(at('preparing'), at('failed'), hostActor('h2'))).toBeUndefined();
      expect(vmWriteRefusal(at('failed'), failed, hostActor('h1'))).toBeUndefined();
      expect(vmWriteRefusal(at('preparing'), failed, hostActor('h2'))).toMatch(/not the destination’s move/);
      expect(vmWriteRefusal(at('transferring'), { ...failed, host: 'h2' }, hostActor('h1'))).toMatch(/leaves the VM where it was/);
      expect(vmWriteRefusal(at('transferring'), without({ ...running, updatedAt: T1, lastMigration: migration('completed') }, 'migration'), hostActor('h1'))).toMatch(/moves the VM to h2/);
      const cancelled = without({ ...running, updatedAt: T1, lastMigration: migration('cancelled', { cancel: true }) }, 'migration');
      expect(vmWriteRefusal(at('transferring', { cancel: true }), cancelled, hostActor('h1'))).toBeUndefined();
    });

    it('the API asks: start (running only) and the cancel flag, nothing else of a migrating VM', () => {
      expect(vmWriteRefusal(vm('stopped', { host: 'h1', desired: 'stopped' }), { ...vm('stopped', { host: 'h1', desired: 'stopped' }), status: 'migrating', migration: migration('requested') }, API_ACTOR)).toBeDefined();
      expect(vmWriteRefusal(at('transferring'), at('transferring', { cancel: true }), API_ACTOR)).toBeUndefined();
      expect(vmWriteRefusal(at('transferring', { cancel: true }), at('transferring'), API_ACTOR)).toMatch(/not taken back/);
      expect(vmWriteRefusal(at('transferring'), { ...at('transferring'), desired: 'stopped', generation: 3 }, API_ACTOR)).toBeDefined();
      expect(vmWriteRefusal(at('transferring'), { ...at('transferring'), cpu: 2 }, API_ACTOR)).toMatch(/only asks a migration to cancel/);
      expect(vmWriteRefusal(at('transferring'), { ...at('transferring'), status: 'stopping' }, API_ACTOR)).toBeDefined();
      expect(vmWriteRefusal(at('transferring', { id: '00000000-0000-4000-8000-000000000000' }), at('requested', { id: '11111111-1111-4111-8111-111111111111' }), API_ACTOR)).toMatch(/one migration at a time/);
    });

    it('the scheduler picks a missing destination, starts a drain’s move, settles one that found none', () => {
      const open = { ...requested, migration: migration('requested', { destination: undefined }) };
      expect(vmWriteRefusal(running, requested, SCHEDULER_ACTOR)).toBeUndefined();
      expect(vmWriteRefusal(open, { ...open, updatedAt: T1, migration: migration('requested', { updatedAt: T1 }) }, SCHEDULER_ACTOR)).toBeUndefined();
      expect(vmWriteRefusal(requested, { ...requested, migration: migration('requested', { destination: 'h3' }) }, SCHEDULER_ACTOR)).toBeDefined();
      const none = without({ ...running, updatedAt: T1, lastMigration: migration('failed', { destination: undefined }) }, 'migration');
      expect(vmWriteRefusal(open, none, SCHEDULER_ACTOR)).toBeUndefined();
      expect(vmWriteRefusal(requested, without({ ...running, lastMigration: migration('failed') }, 'migration'), SCHEDULER_ACTOR)).toMatch(/found no destination/);
    });

    it('the scheduler settles failed (HOST_DEAD) the migration of a dead source, never completes it', () => {
      const dead = { code: 'HOST_DEAD', message: 'the source host h1 died', at: T1 };
      for (const p of ['requested', 'preparing', 'listening', 'transferring'] as const) {
        const settled = without({ ...running, updatedAt: T1, lastMigration: migration('failed', { error: dead, updatedAt: T1 }) }, 'migration');
        expect(vmWriteRefusal(at(p), settled, SCHEDULER_ACTOR), p).toBeUndefined();
        const other = without({ ...running, updatedAt: T1, lastMigration: migration('failed', { error: { ...dead, code: 'MIGRATION_FAILED' }, updatedAt: T1 }) }, 'migration');
        expect(vmWriteRefusal(at(p), other, SCHEDULER_ACTOR), p).toMatch(/source host is dead/);
        const moved = without({ ...running, host: 'h2', updatedAt: T1, lastMigration: migration('completed', { updatedAt: T1 }) }, 'migration');
        expect(vmWriteRefusal(at(p), moved, SCHEDULER_ACTOR), p).toBeDefined();
        // Settled, it stays where it was.
        expect(vmWriteRefusal(at(p), { ...settled, host: 'h2' }, SCHEDULER_ACTOR), p).toBeDefined();
      }
    });

    it('the destination writes only its own migration fields; the source keeps a host’s guards', () => {
      const dest = hostActor('h2');
      const qemu = { pid: 4242, qmpSocket: '/run/q.sock', serialLog: '/run/s.log', accel: 'tcg', startedAt: T1 };
      expect(vmWriteRefusal(at('preparing'), at('listening', { address: 'fd00::2', port: 49152, destinationQemu: qemu }), dest)).toBeUndefined();
      expect(vmWriteRefusal(at('preparing'), { ...at('preparing'), updatedAt: T0 }, dest)).toBeUndefined();
      for (const over of [{ owner: 'mallory' }, { generation: 3 }, { disks: [{ name: 'os', store: 'local', ref: 'x', format: 'raw', sizeBytes: 1 }] }, { qemu }, { cpu: 2 }, { observedGeneration: 1 }] as Partial<Vm>[]) {
        expect(vmWriteRefusal(at('preparing'), { ...at('preparing'), ...over }, dest), JSON.stringify(over)).toMatch(/only its migration fields/);
      }
      for (const over of [{ requestedBy: 'mallory' }, { mode: 'copy' }, { startedAt: T1 }, { figures: { totalMs: 1, downtimeMs: 1, ramBytes: 1 } }] as Partial<VmMigration>[]) {
        expect(vmWriteRefusal(at('preparing'), at('listening', over), dest), JSON.stringify(over)).toMatch(/destination writes only phase/);
      }
      const src = hostActor('h1');
      expect(vmWriteRefusal(at('transferring'), { ...at('transferring'), generation: 3 }, src)).toMatch(/records what it sees/);
      expect(vmWriteRefusal(at('transferring'), { ...at('transferring'), owner: 'mallory' }, src)).toMatch(/records what it sees/);
      expect(vmWriteRefusal(at('transferring'), { ...at('transferring'), desired: 'stopped' }, src)).toMatch(/keeps its host and intent/);
    });

    it('a host that is neither end, and the destination outside its phases, are refused', () => {
      expect(vmWriteRefusal(requested, at('preparing'), hostActor('h3'))).toMatch(/neither the source nor the destination/);
      expect(vmWriteRefusal(at('listening'), at('transferring'), hostActor('h2'))).toMatch(/not a move the destination makes/);
      expect(vmWriteRefusal(requested, at('preparing'), hostActor('h1'))).toMatch(/not a move the source makes/);
      // The source's agent must not treat a migrating VM as an ordinary running one.
      expect(vmWriteRefusal(requested, { ...requested, status: 'running' }, hostActor('h1'))).toBeDefined();
      expect(vmWriteRefusal(running, requested, hostActor('h1'))).toBeDefined();
    });
  });
});

describe('docs/architecture.md', () => {
  it('holds the tables as the module has them', () => {
    const doc = readFileSync(new URL('../../docs/architecture.md', import.meta.url), 'utf8');
    const between = doc.split('<!-- vm-transitions:start')[1]?.split('<!-- vm-transitions:end -->')[0];
    expect(between?.slice(between.indexOf('\n') + 1).trim()).toBe(vmTransitionsMarkdown());
  });
});

const SOURCE = hostActor('h1');
const DEST = hostActor('h2');
const OTHER = hostActor('h3');

const disks: VmDisk[] = [
  { name: 'os', store: 'local', ref: `${ID}-os.qcow2`, format: 'qcow2', sizeBytes: 2 ** 30 },
  { name: 'hdd0', store: 'local', ref: `${ID}-hdd0.qcow2`, format: 'qcow2', sizeBytes: 2 ** 26 },
];
const copies: VmDisk[] = disks.map((d) => ({ ...d, ref: `${ID}-${d.name}-m1f0e2d3c.qcow2`, standalone: true }));

const copyVm = (over: Partial<Vm> = {}): Vm => vm('migrating', { observedGeneration: 2, host: 'h1', disks, ...over });
const copyMigration = (phase: MigrationPhase, over: Partial<VmMigration> = {}): VmMigration => migration(phase, { mode: 'copy', ...over });
/** `prev` with its migration changed as `m` says (and the record as `over` says). */
const inPlace = (prev: Vm, m: Partial<VmMigration>, over: Partial<Vm> = {}): Vm => ({ ...prev, ...over, updatedAt: T1, migration: { ...prev.migration!, ...m, updatedAt: T1 } });
function settle(prev: Vm, phase: 'completed' | 'failed' | 'cancelled', over: Partial<Vm> = {}): Vm {
  const next: Vm = { ...prev, status: 'running', updatedAt: T1, lastMigration: { ...prev.migration!, phase, updatedAt: T1 }, ...(phase === 'completed' ? { host: prev.migration!.destination } : {}), ...over };
  delete next.migration;
  return next;
}
const ok = (prev: Vm, next: Vm, actor: VmActor) => expect(vmWriteRefusal(prev, next, actor)).toBeUndefined();
const refused = (prev: Vm, next: Vm, actor: VmActor, why: RegExp) => expect(vmWriteRefusal(prev, next, actor)).toMatch(why);

// The write rules of a migration that copies disks (mode copy): only the
// destination names the copies, once, each a standalone volume of the same
// disk under a new ref; the VM's `disks` stay as they are until the settle of
// a completed copy switches them to exactly those copies.
describe('VM write rules of a migration with a disk copy', () => {
  const preparing = copyVm({ migration: copyMigration('preparing') });
  const listening = copyVm({ migration: copyMigration('listening', { address: 'fd00::2', port: 49152, nbdPort: 49153, disks: copies }) });
  const transferring = copyVm({ migration: { ...listening.migration!, phase: 'transferring' } });

  it('the destination names its copies once, with where it listens', () => {
    ok(preparing, inPlace(preparing, { phase: 'listening', address: 'fd00::2', port: 49152, nbdPort: 49153, disks: copies }), DEST);
    // Twice (even the same list again is no change, but another list is).
    refused(listening, inPlace(listening, { disks: copies.map((d) => ({ ...d, ref: `x-${d.ref}` })) }), DEST, /named once/);
  });

  it('refuses copies that are not copies: wrong count, name, store, size, format, a backing image, a ref the VM has', () => {
    const bad: [VmDisk[], RegExp][] = [
      [copies.slice(0, 1), /one disk copy for each/],
      [[copies[1]!, copies[0]!], /not a copy of disk os/],
      [[{ ...copies[0]!, store: 'other' }, copies[1]!], /not a copy of disk os/],
      [[{ ...copies[0]!, sizeBytes: 2 ** 29 }, copies[1]!], /not a copy of disk os/],
      [[{ ...copies[0]!, format: 'raw' }, copies[1]!], /not a copy of disk os/],
      [[{ ...copies[0]!, standalone: undefined }, copies[1]!], /not standalone/],
      [[{ ...copies[0]!, ref: disks[0]!.ref }, copies[1]!], /reuses a volume/],
      [[copies[0]!, { ...copies[1]!, ref: disks[0]!.ref }], /reuses a volume/],
      [[copies[0]!, { ...copies[1]!, ref: copies[0]!.ref }], /reuses a volume/],
    ];
    for (const [list, why] of bad) refused(preparing, inPlace(preparing, { phase: 'listening', disks: list }), DEST, why);
  });

  it('only a copy migration has copies, and only the destination names them', () => {
    const shared = copyVm({ migration: copyMigration('preparing', { mode: 'shared' }) });
    refused(shared, inPlace(shared, { phase: 'listening', disks: copies }), DEST, /only a migration that copies disks/);
    refused(transferring, inPlace(transferring, { disks: undefined }), SOURCE, /only the destination names/);
    refused(preparing, inPlace(preparing, { disks: copies }), API_ACTOR, /only asks a migration to cancel/);
    refused(preparing, inPlace(preparing, { disks: copies }), OTHER, /neither the source nor the destination/);
  });

  it('no one changes the VM’s disks while it migrates', () => {
    refused(transferring, inPlace(transferring, {}, { disks: copies }), SOURCE, /keeps its disks until the settle/);
    refused(preparing, inPlace(preparing, { phase: 'listening' }, { disks: copies }), DEST, /only its migration fields/);
    const running = copyVm({ status: 'running' });
    const start = (over: Partial<Vm>, m: Partial<VmMigration> = {}): Vm => ({ ...running, ...over, status: 'migrating', updatedAt: T1, migration: copyMigration('requested', m) });
    ok(running, start({}), API_ACTOR);
    ok(running, start({}), SCHEDULER_ACTOR);
    refused(running, start({ disks: copies }), API_ACTOR, /starts with the VM’s disks/);
    refused(running, start({}, { disks: copies }), API_ACTOR, /starts with the VM’s disks/);
  });

  it('the settle of a completed copy switches the VM to exactly the copies; any other settle keeps its disks', () => {
    ok(transferring, settle(transferring, 'completed', { disks: copies }), SOURCE);
    refused(transferring, settle(transferring, 'completed'), SOURCE, /switches the VM to the copies/);
    refused(transferring, settle(transferring, 'completed', { disks: [copies[0]!, disks[1]!] }), SOURCE, /switches the VM to the copies/);
    // A completed copy is the source's to settle, never the destination's.
    refused(transferring, settle(transferring, 'completed', { disks: copies }), DEST, /not the destination’s move/);
    for (const phase of ['failed', 'cancelled'] as const) {
      ok(transferring, settle(transferring, phase), SOURCE);
      refused(transferring, settle(transferring, phase, { disks: copies }), SOURCE, /keeps the VM’s disks/);
    }
    // A completed migration in mode shared keeps the disks (the same volumes, seen from the destination).
    const shared = copyVm({ migration: copyMigration('transferring', { mode: 'shared' }) });
    ok(shared, settle(shared, 'completed'), SOURCE);
    refused(shared, settle(shared, 'completed', { disks: copies }), SOURCE, /keeps the VM’s disks/);
    // A copy that never got its copies named cannot complete.
    const unnamed = copyVm({ migration: copyMigration('transferring') });
    refused(unnamed, settle(unnamed, 'completed', { disks: copies }), SOURCE, /switches the VM to the copies/);
  });
});
