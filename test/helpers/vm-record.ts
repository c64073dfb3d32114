import { randomUUID } from 'node:crypto';
import { nowIso, type Vm } from '../../src/model/index.js';

/** A valid, never-placed VM record, for tests that write VMs straight into etcd (as the scheduler and agents do). */
export function vmRecord(owner: string, name: string): Vm {
  const now = nowIso();
  return {
    id: randomUUID(),
    name,
    owner,
    image: { store: 'local', owner: 'admin', name: 'ucloud-test' },
    cpu: 1,
    ramBytes: 128 * 2 ** 20,
    diskBytes: 2 ** 30,
    desired: 'running',
    generation: 1,
    observedGeneration: 0,
    status: 'pending',
    disks: [],
    createdAt: now,
    updatedAt: now,
  };
}
