import { nowIso, type Image, type ImageVm, type Vm } from '../model/index.js';
import { Keys, Kinds, lastSegment } from '../store/keys.js';
import { DELETE, type Store, type Txn, type Versioned } from '../store/store.js';

// The VMs made from each image (`image-vm/<owner|store>/…/<vm id>`), so an image
// delete asks one small prefix instead of reading every VM of the fleet.

/** Written once the cluster-wide backfill ran: from then on the index holds every VM. */
const IMAGE_INDEX_MARKER = 'image-vm-index';

const sameRef = (a: Vm['image'], b: Vm['image']): boolean => Keys.imageVms(a) === Keys.imageVms(b);

/**
 * Stages the index's part of a write of VM `id` (see stageVmWrite): its entry
 * put when the record appears (or names another image), deleted with it.
 * An update that keeps the image touches nothing here.
 */
export function stageImageIndex(t: Txn, id: string, prev: Vm | undefined, next: Vm | typeof DELETE): void {
  const now = next === DELETE ? undefined : next;
  if (prev && (!now || !sameRef(prev.image, now.image))) t.delete(Keys.imageVm(prev.image, id));
  if (now && (!prev || !sameRef(prev.image, now.image))) t.put(Kinds.imageVm, Keys.imageVm(now.image, id), { owner: now.owner, name: now.name });
}

/** Whether the index is known to hold every VM (the backfill ran on this cluster). */
export async function imageIndexComplete(store: Store): Promise<boolean> {
  return (await store.get(Kinds.meta, Keys.meta(IMAGE_INDEX_MARKER))) !== undefined;
}

/** The VMs whose disks come from `img`, by either form of reference, from the index alone. */
export async function indexedUsersOf(store: Store, img: Pick<Image, 'store' | 'owner' | 'name'>): Promise<ImageVm[]> {
  const refs: Vm['image'][] = [
    { owner: img.owner, store: img.store, name: img.name },
    { store: img.store, name: img.name },
  ];
  const lists = await Promise.all(refs.map((ref) => store.list(Kinds.imageVm, Keys.imageVms(ref))));
  return lists.flatMap((l) => l.items.map((i) => i.value));
}

/**
 * Brings the index in line with the VM records (a cluster from before it): an
 * entry for each VM that lacks one, none for a VM that is gone or names another
 * image; then the marker. Each change is a CAS against the VM's presence or
 * absence, so it runs beside live writers and beside another backfill. Reads
 * all of `vm/` and `image-vm/`, in pages, once per cluster. A VM record that
 * fails its schema is left alone, and so is its entry.
 */
export async function backfillImageIndex(store: Store): Promise<{ written: number; removed: number }> {
  const [index, vms] = await Promise.all([store.list(Kinds.imageVm, Keys.imageVmIndex()), store.list(Kinds.vm, Keys.vms())]);
  const wanted = new Map<string, Versioned<Vm>>(vms.items.map((v) => [Keys.imageVm(v.value.image, v.value.id), v]));
  const vmAt = new Map(vms.items.map((v) => [v.key, v]));
  const present = new Set(index.items.map((e) => e.key));
  let written = 0;
  let removed = 0;
  for (const [key, vm] of wanted) {
    if (present.has(key)) continue;
    // Present, not unchanged: a placement meanwhile keeps the VM's image, and a delete removes the entry with it.
    const t = store.txn().present(vm.key).absent(key).put(Kinds.imageVm, key, { owner: vm.value.owner, name: vm.value.name });
    if (await t.commit()) written++;
  }
  const unreadable = new Set(vms.skipped);
  for (const entry of index.items) {
    if (wanted.has(entry.key)) continue;
    const vmKey = Keys.vm(lastSegment(entry.key));
    if (unreadable.has(vmKey)) continue;
    const vm = vmAt.get(vmKey);
    const t = store.txn().unchanged(entry).delete(entry.key);
    if (vm) t.unchanged(vm);
    else t.absent(vmKey);
    if (await t.commit()) removed++;
  }
  await store.create(Kinds.meta, Keys.meta(IMAGE_INDEX_MARKER), { version: 1, at: nowIso() });
  return { written, removed };
}
