import { UcloudError, type ErrorCode } from '../common/errors.js';
import { COUNTED, type CountedQuota, type QuotaUsage, type Vm } from '../model/index.js';
import { Keys, Kinds } from '../store/keys.js';
import type { Store, Txn, Versioned } from '../store/store.js';
import { vmsOf } from './owner-vms.js';

// A user's usage record changes in the same transaction as the VM, network or
// image it counts, compared unchanged since it was read: of two creates racing
// for the last unit of a quota, one commits and the other reads again and is
// refused, so no interleaving ever passes a limit.

/** A user's limits: Infinity for none. */
export type Limits = Record<CountedQuota, number>;
export type UsageDelta = Partial<QuotaUsage>;

export const QUOTA_CODES: Record<CountedQuota, ErrorCode> = {
  vms: 'QUOTA_VMS_EXCEEDED',
  vcpus: 'QUOTA_VCPUS_EXCEEDED',
  ram: 'QUOTA_RAM_EXCEEDED',
  disk: 'QUOTA_DISK_EXCEEDED',
  networks: 'QUOTA_NETWORKS_EXCEEDED',
  images: 'QUOTA_IMAGES_EXCEEDED',
};

const WHAT: Record<CountedQuota, string> = { vms: 'VMs', vcpus: 'vCPUs', ram: 'bytes of RAM', disk: 'bytes of disk', networks: 'networks', images: 'images' };

/** What one VM holds against its owner's quota: all of its disks count. */
export function usageOfVm(vm: Pick<Vm, 'cpu' | 'ramBytes' | 'diskBytes' | 'hddBytes'>): QuotaUsage {
  return { vms: 1, vcpus: vm.cpu, ram: vm.ramBytes, disk: vm.diskBytes + (vm.hddBytes ?? []).reduce((a, b) => a + b, 0), networks: 0, images: 0 };
}

export function negate(d: UsageDelta): UsageDelta {
  return Object.fromEntries(Object.entries(d).map(([k, v]) => [k, -v])) as UsageDelta;
}

/**
 * Counts what the user holds from the records themselves: their VMs found
 * through their name index (`vm-name/<owner>/`), so the count reads what the
 * user owns, never the whole fleet's `vm/` prefix. A record that fails its
 * schema is left out (as a list leaves it), so one bad record cannot stop
 * every write of its owner.
 */
export async function countUsage(store: Store, owner: string): Promise<QuotaUsage> {
  const [vms, nets, imgs] = await Promise.all([vmsOf(store, owner), store.list(Kinds.network, Keys.networksOf(owner)), store.list(Kinds.image, Keys.imagesOf(owner))]);
  const u: QuotaUsage = { vms: 0, vcpus: 0, ram: 0, disk: 0, networks: nets.items.length, images: imgs.items.length };
  for (const vm of vms) {
    const v = usageOfVm(vm);
    for (const k of COUNTED) u[k] += v[k];
  }
  return u;
}

/**
 * The user's usage record, made by counting their records when there is none
 * (a user from before quotas). Exact even then: every writer of a counted record
 * compares the usage record in its transaction, so none can commit between the
 * count and the "absent" create of the record.
 */
export async function readUsage(store: Store, owner: string): Promise<Versioned<QuotaUsage>> {
  const key = Keys.usage(owner);
  for (let attempt = 0; attempt < 20; attempt++) {
    const cur = await store.get(Kinds.usage, key);
    if (cur) return cur;
    await store.create(Kinds.usage, key, await countUsage(store, owner));
  }
  throw new UcloudError('CONFLICT', `the usage record of "${owner}" kept changing; try again`);
}

/**
 * Stages `usage` + `delta`, compared unchanged since it was read. `limits`: a
 * growth past one is refused with its quota's code (a shrink never is, even
 * over a limit an admin lowered). Returns the new usage.
 */
export function stageUsage(t: Txn, usage: Versioned<QuotaUsage>, delta: UsageDelta, limits?: Limits): QuotaUsage {
  const next = { ...usage.value };
  for (const k of COUNTED) next[k] = Math.max(0, next[k] + (delta[k] ?? 0));
  for (const k of COUNTED) {
    const want = delta[k] ?? 0;
    if (!limits || want <= 0 || next[k] <= limits[k]) continue;
    throw new UcloudError(QUOTA_CODES[k], `${want} more ${WHAT[k]} would exceed your quota: you have ${usage.value[k]} of ${limits[k]}`, {
      details: { quota: k, limit: limits[k], used: usage.value[k], wanted: want },
    });
  }
  t.unchanged(usage).put(Kinds.usage, usage.key, next);
  return next;
}

/**
 * A pause before another attempt: creates of one user serialize on the usage
 * record, so with n at once the last may lose n-1 times; a short random pause
 * spreads the rounds out.
 */
export async function backoff(attempt: number): Promise<void> {
  if (attempt < 2) return;
  await new Promise((r) => setTimeout(r, Math.random() * Math.min(50, 2 * attempt)));
}
