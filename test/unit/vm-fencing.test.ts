// The fencing rules of the VM state machine (vm-lifecycle.ts): a VM records
// the host incarnation it was placed with (its epoch), only that incarnation
// writes it, and the scheduler's failover moves are the only ones it makes on
// a placed VM's host. And deadFor, the failover's notion of a dead host.
import { describe, expect, it } from 'vitest';
import type { Vm } from '../../src/model/index.js';
import { hostActor, SCHEDULER_ACTOR, vmWriteRefusal } from '../../src/model/vm-lifecycle.js';
import { deadFor } from '../../src/scheduler/failover.js';

const T0 = '2026-01-01T00:00:00.000Z';
const T1 = '2026-01-01T00:00:01.000Z';

function vm(over: Partial<Vm> = {}): Vm {
  return {
    id: '7d3c1b52-2f1a-4c55-9a53-2b9d8f1e4a10',
    name: 'web',
    owner: 'alice',
    image: { store: 'shared', owner: 'admin', name: 'debian' },
    cpu: 1,
    ramBytes: 2 ** 28,
    diskBytes: 2 ** 30,
    desired: 'running',
    generation: 1,
    observedGeneration: 1,
    status: 'running',
    host: 'h1',
    epoch: '100',
    disks: [],
    createdAt: T0,
    updatedAt: T0,
    ...over,
  };
}

const h1 = (epoch?: string) => hostActor('h1', () => epoch);

describe('a host writes a VM only as the incarnation it was placed with', () => {
  it('the same incarnation writes; another, or one without a lease, is fenced', () => {
    const prev = vm();
    const next = { ...prev, updatedAt: T1, observedGeneration: 1, reason: 'x' };
    expect(vmWriteRefusal(prev, next, h1('100'))).toBeUndefined();
    expect(vmWriteRefusal(prev, next, h1('200'))).toMatch(/fenced/);
    expect(vmWriteRefusal(prev, next, h1(undefined))).toMatch(/fenced/);
    // Stopping it, or deleting it, is a write like any other.
    expect(vmWriteRefusal(prev, { ...prev, status: 'stopped', desired: 'stopped', updatedAt: T1 }, h1('200'))).toMatch(/fenced/);
  });

  it('the epoch is not the host’s to change, but to stamp where there is none', () => {
    expect(vmWriteRefusal(vm(), { ...vm(), epoch: '200', updatedAt: T1 }, h1('100'))).toMatch(/keeps the epoch/);
    const legacy = vm({ epoch: undefined });
    expect(vmWriteRefusal(legacy, { ...legacy, epoch: '100', updatedAt: T1 }, h1('100'))).toBeUndefined();
    expect(vmWriteRefusal(legacy, { ...legacy, epoch: '999', updatedAt: T1 }, h1('100'))).toMatch(/own epoch/);
  });

  it('a new incarnation takes back a VM the scheduler marked HOST_DEAD there, stamping its own epoch', () => {
    const dead = vm({ status: 'error', error: { code: 'HOST_DEAD', message: 'host h1 died', at: T0 }, lastFailover: { from: 'h1', at: T0, code: 'HOST_DEAD', restarted: false } });
    const back = { ...dead, status: 'running' as const, epoch: '200', updatedAt: T1 };
    delete (back as Partial<Vm>).error;
    expect(vmWriteRefusal(dead, back, h1('200'))).toBeUndefined();
    // Not with the old epoch kept, nor another host's, nor a VM in any other error.
    expect(vmWriteRefusal(dead, { ...back, epoch: '100' }, h1('200'))).toMatch(/fenced|keeps/);
    expect(vmWriteRefusal(dead, back, hostActor('h2', () => '200'))).toBeDefined();
    const failed = { ...dead, error: { code: 'QEMU_EXITED', message: 'x', at: T0 } };
    expect(vmWriteRefusal(failed, back, h1('200'))).toMatch(/fenced/);
  });
});

describe('the scheduler’s failover moves', () => {
  const failedOver = (prev: Vm): Vm => {
    const n: Vm = { ...prev, status: 'pending', reason: 'host h1 died', lastFailover: { from: 'h1', at: T1, code: 'HOST_DEAD', restarted: true }, updatedAt: T1 };
    delete n.host;
    delete n.epoch;
    delete n.haArmed;
    delete n.qemu;
    return n;
  };
  const markedDead = (prev: Vm): Vm => ({ ...prev, status: 'error', error: { code: 'HOST_DEAD', message: 'host h1 died', at: T1 }, lastFailover: { from: 'h1', at: T1, code: 'HOST_DEAD', restarted: false }, updatedAt: T1 });

  it('an armed HA VM is unplaced, recorded in lastFailover', () => {
    const prev = vm({ ha: true, haArmed: true });
    expect(vmWriteRefusal(prev, failedOver(prev), SCHEDULER_ACTOR)).toBeUndefined();
  });

  it('a VM not armed is never unplaced: it is marked HOST_DEAD where it is', () => {
    for (const prev of [vm(), vm({ ha: true })]) {
      expect(vmWriteRefusal(prev, failedOver(prev), SCHEDULER_ACTOR)).toMatch(/armed/);
      expect(vmWriteRefusal(prev, markedDead(prev), SCHEDULER_ACTOR)).toBeUndefined();
    }
  });

  it('no move of a placed VM without its record, and none that changes what the user asked for', () => {
    const prev = vm({ ha: true, haArmed: true });
    const silent = { ...failedOver(prev) };
    delete silent.lastFailover;
    expect(vmWriteRefusal(prev, silent, SCHEDULER_ACTOR)).toBeDefined();
    expect(vmWriteRefusal(prev, { ...failedOver(prev), desired: 'stopped' }, SCHEDULER_ACTOR)).toMatch(/asked for/);
    expect(vmWriteRefusal(prev, { ...failedOver(prev), lastFailover: { from: 'h9', at: T1, code: 'HOST_DEAD', restarted: true } }, SCHEDULER_ACTOR)).toBeDefined();
    // Marked dead: host, epoch and everything else stay; only status, error and lastFailover change.
    expect(vmWriteRefusal(prev, { ...markedDead(prev), epoch: '300' }, SCHEDULER_ACTOR)).toMatch(/HOST_DEAD where it is/);
    expect(vmWriteRefusal(prev, { ...markedDead(prev), error: { code: 'OTHER', message: 'x', at: T1 } }, SCHEDULER_ACTOR)).toBeDefined();
    // A failed-over VM keeps no QEMU or epoch of the dead host.
    expect(vmWriteRefusal(prev, { ...failedOver(prev), epoch: '100' }, SCHEDULER_ACTOR)).toMatch(/unplaced/);
  });

  it('the scheduler places with the host’s epoch', () => {
    const pending = vm({ status: 'pending', host: undefined, epoch: undefined });
    expect(vmWriteRefusal(pending, { ...pending, status: 'scheduled', host: 'h2', epoch: '7', updatedAt: T1 }, SCHEDULER_ACTOR)).toBeUndefined();
  });
});

describe('deadFor: whether the incarnation a VM was placed with is gone', () => {
  it('no presence record: dead; another lease: dead; the same, or no epoch to compare: alive', () => {
    expect(deadFor({ epoch: '1' }, undefined)).toBe(true);
    expect(deadFor({ epoch: '1' }, { epoch: '2' })).toBe(true);
    expect(deadFor({ epoch: '1' }, { epoch: '1' })).toBe(false);
    expect(deadFor({}, { epoch: '2' })).toBe(false);
    expect(deadFor({ epoch: '1' }, {})).toBe(false);
  });
});
