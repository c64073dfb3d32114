// The fencing rules of the VM state machine (vm-lifecycle.ts): a VM records
// the host incarnation it was placed with (its epoch), only that incarnation
// writes it, and the scheduler's failover moves are the only ones it makes on
// a placed VM's host. And deadFor, the failover's notion of a dead host.
import { describe, expect, it } from 'vitest';
import type { Vm } from '../../src/model/index.js';
import { API_ACTOR, hostActor, SCHEDULER_ACTOR, stampEpoch, vmWriteRefusal } from '../../src/model/vm-lifecycle.js';
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

describe('a host writes its VMs only while it holds a presence lease, and always with it', () => {
  it('the incarnation it was placed with writes; one without a lease is fenced, whatever it writes', () => {
    const prev = vm();
    const next = { ...prev, updatedAt: T1, reason: 'x' };
    expect(vmWriteRefusal(prev, next, h1('100'))).toBeUndefined();
    expect(vmWriteRefusal(prev, next, h1(undefined))).toMatch(/fenced/);
    expect(vmWriteRefusal(prev, { ...prev, status: 'stopped', desired: 'stopped', updatedAt: T1 }, h1(undefined))).toMatch(/fenced/);
    expect(vmWriteRefusal(prev, undefined, h1(undefined))).toMatch(/fenced/);
  });

  it('a new incarnation takes over what its host holds, carrying its own lease; never with another', () => {
    const prev = vm();
    expect(vmWriteRefusal(prev, { ...prev, epoch: '200', updatedAt: T1 }, h1('200'))).toBeUndefined();
    expect(vmWriteRefusal(prev, { ...prev, updatedAt: T1 }, h1('200'))).toMatch(/its own presence lease/);
    expect(vmWriteRefusal(prev, { ...prev, epoch: '999', updatedAt: T1 }, h1('200'))).toMatch(/its own presence lease/);
    // Another host's agent, whatever lease it holds, does not write a VM it does not run.
    expect(vmWriteRefusal(prev, { ...prev, epoch: '200', updatedAt: T1 }, hostActor('h2', () => '200'))).toBeDefined();
  });

  it('stampEpoch: a host’s write of a VM that stays on it carries its lease; nobody else’s is touched', () => {
    const prev = vm();
    expect(stampEpoch(prev, { ...prev }, h1('200')).epoch).toBe('200');
    expect(stampEpoch(prev, { ...prev }, h1(undefined)).epoch).toBe('100');
    expect(stampEpoch(prev, { ...prev }, SCHEDULER_ACTOR).epoch).toBe('100');
    const moved = { ...prev, host: 'h2' };
    delete moved.epoch;
    expect(stampEpoch(prev, moved, h1('200')).epoch).toBeUndefined();
  });

  it('a settle that moves the VM leaves the epoch behind', () => {
    const prev = vm({ epoch: undefined });
    expect(vmWriteRefusal(prev, { ...prev, epoch: '100', updatedAt: T1 }, h1('100'))).toBeUndefined();
    expect(vmWriteRefusal(prev, { ...prev, updatedAt: T1 }, h1(undefined))).toBeUndefined();
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

  it('vm recover: a HOST_DEAD VM an admin asked to recover is unplaced, the request done and recorded; nothing else is', () => {
    const dead = markedDead(vm());
    const asked: Vm = { ...dead, recover: { by: 'root', at: T1 } };
    const recovered = (prev: Vm): Vm => {
      const n = failedOver(prev);
      n.lastFailover = { ...n.lastFailover!, recoveredBy: 'root', fenced: ['ceph 10.0.0.1:0/42'] };
      delete n.error;
      delete n.recover;
      return n;
    };
    // The API asks: a field on a placed VM, no status change.
    expect(vmWriteRefusal(dead, asked, API_ACTOR)).toBeUndefined();
    expect(vmWriteRefusal(asked, recovered(asked), SCHEDULER_ACTOR)).toBeUndefined();
    // Not asked, or asked by someone else than recorded, or the request left behind: refused.
    expect(vmWriteRefusal(dead, recovered(dead), SCHEDULER_ACTOR)).toMatch(/recovers/);
    expect(vmWriteRefusal(asked, { ...recovered(asked), lastFailover: { ...recovered(asked).lastFailover!, recoveredBy: 'eve' } }, SCHEDULER_ACTOR)).toMatch(/recovers/);
    expect(vmWriteRefusal(asked, { ...recovered(asked), recover: asked.recover }, SCHEDULER_ACTOR)).toMatch(/request is done/);
    // A running VM with a stray request is not a recovery.
    const running: Vm = { ...vm(), recover: { by: 'root', at: T1 } };
    expect(vmWriteRefusal(running, recovered(running), SCHEDULER_ACTOR)).toMatch(/recovers/);
    // Only the API asks, and only for a VM left on a dead host.
    expect(vmWriteRefusal(vm(), { ...vm(), recover: { by: 'root', at: T1 } }, API_ACTOR)).toMatch(/only the API asks for a recovery/);
    expect(vmWriteRefusal(dead, asked, SCHEDULER_ACTOR)).toMatch(/only the API asks for a recovery/);
    expect(vmWriteRefusal(dead, asked, h1('300'))).toBeDefined();
    // The scheduler may drop a request it will not carry out, saying why; nothing else with it.
    const dropped: Vm = { ...asked, reason: 'vm recover refused: nothing holds disk ceph p/d now', updatedAt: T1 };
    delete dropped.recover;
    expect(vmWriteRefusal(asked, dropped, SCHEDULER_ACTOR)).toBeUndefined();
    expect(vmWriteRefusal(asked, { ...dropped, error: undefined }, SCHEDULER_ACTOR)).toBeDefined();
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
