import { randomUUID } from 'node:crypto';
import { nowIso, type Vm } from '../../src/model/index.js';
import { stageImageIndex } from '../../src/managers/image-vm-index.js';
import { Keys, Kinds } from '../../src/store/keys.js';
import type { Store } from '../../src/store/store.js';

/**
 * Writes new VM records, their name keys and image index entries straight
 * into etcd, as a create would (40 per transaction: 120 puts and 40 compares,
 * within etcd's 128 ops); throws if one of them is there already.
 */
export async function writeVms(store: Store, vms: readonly Vm[]): Promise<void> {
  for (let i = 0; i < vms.length; i += 40) {
    const t = store.txn();
    for (const vm of vms.slice(i, i + 40)) {
      t.absent(Keys.vm(vm.id)).put(Kinds.vm, Keys.vm(vm.id), vm).put(Kinds.vmName, Keys.vmName(vm.owner, vm.name), { id: vm.id });
      stageImageIndex(t, vm.id, undefined, vm);
    }
    if (!(await t.commit())) throw new Error(`writeVms: a VM (of ${vms.slice(i, i + 40).map((v) => `${v.owner}/${v.name}`).join(', ')}) or its name is in etcd already`);
  }
}

/** Removes a VM record, its name key and its image index entry that writeVms wrote. */
export async function removeVm(store: Store, vm: Pick<Vm, 'id' | 'owner' | 'name' | 'image'>): Promise<void> {
  await store.delete(Keys.vm(vm.id));
  await store.delete(Keys.vmName(vm.owner, vm.name));
  await store.delete(Keys.imageVm(vm.image, vm.id));
}

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

/**
 * A VM running on `host` as its agent records it, with `disks` disks and `nics`
 * NICs (taps named by the caller); its QEMU pid is `pid`. For the metrics
 * collector's tests and bench/metrics: figures of a host without QEMU.
 */
export function runningVmRecord(owner: string, name: string, host: string, pid: number, disks: number, nics: number): Vm {
  const vm = vmRecord(owner, name);
  return {
    ...vm,
    host,
    status: 'running',
    disks: Array.from({ length: disks }, (_, i) => ({ name: i === 0 ? 'os' : `hdd${i - 1}`, store: 'local', ref: `${vm.id}-${i}`, format: 'qcow2' as const, sizeBytes: 2 ** 30 })),
    nics: Array.from({ length: nics }, (_, i) => ({ network: 'default', vni: 10000, prefix: 'fd75:636c:6f75::/64', mac: `52:54:00:00:00:${String(i).padStart(2, '0')}`, address: `fd75:636c:6f75::${i + 1}` })),
    qemu: { pid, qmpSocket: '/nonexistent', serialLog: '/nonexistent', accel: 'tcg', startedAt: nowIso() },
  };
}

/** What QEMU's query-blockstats answers for `disks` drives (ids disk0…), with figures that grow with `n`. */
export function blockStatsReply(disks: number, n = 1): unknown[] {
  return Array.from({ length: disks }, (_, i) => ({ device: `disk${i}`, qdev: `/machine/peripheral-anon/device[${i}]/virtio-backend`, stats: { rd_bytes: 4096 * n, wr_bytes: 8192 * n, rd_operations: n, wr_operations: 2 * n, flush_operations: 0 } }));
}
