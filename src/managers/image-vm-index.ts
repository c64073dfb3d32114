import { nowIso, type Image, type ImageVm, type Vm } from '../model/index.js';
import { Keys, Kinds, lastSegment } from '../store/keys.js';
import { DELETE, type Store, type Txn, type Versioned } from '../store/store.js';

// The VMs made from each image (`image-vm/<owner|store>/…/<vm id>`), so an image
// delete's request asks one small prefix instead of reading every VM of the fleet.
//
// A writer older than the index (during a rolling upgrade) creates and deletes
// VMs without their entries, after the backfill as well as before. So the index
// only ever refuses early: entries whose VM is gone are dropped when found, and
// the imagescanner, before it removes an image's bytes, still reads every VM
// (scannedUsersOf), writing the entries it finds missing.

/** Written once the cluster-wide backfill ran: from then on the index holds every VM a current writer made. */
const IMAGE_INDEX_MARKER = 'image-vm-index';

/** VMs per backfill transaction: two compares and one put each, within etcd's 128. */
const BACKFILL_BATCH = 40;

const sameRef = (a: Vm['image'], b: Vm['image']): boolean => Keys.imageVms(a) === Keys.imageVms(b);

/** Both forms a VM may name `img` by: its owner's, and its store's (records from before images had owners). */
export const refsOf = (img: Pick<Image, 'store' | 'owner' | 'name'>): Vm['image'][] => [
  { owner: img.owner, store: img.store, name: img.name },
  { store: img.store, name: img.name },
];

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

/** Whether the backfill ran on this cluster. */
export async function imageIndexComplete(store: Store): Promise<boolean> {
  return (await store.get(Kinds.meta, Keys.meta(IMAGE_INDEX_MARKER))) !== undefined;
}

async function entriesOf(store: Store, img: Pick<Image, 'store' | 'owner' | 'name'>): Promise<Versioned<ImageVm>[]> {
  const lists = await Promise.all(refsOf(img).map((ref) => store.list(Kinds.imageVm, Keys.imageVms(ref))));
  return lists.flatMap((l) => l.items);
}

/**
 * The VMs whose disks come from `img`, from the index: each entry's VM is read
 * (the cost is the image's VMs, not the fleet's). An entry whose VM is gone
 * (an older writer deleted it) is removed, by a CAS on the VM's absence; one
 * whose VM is there but unreadable still counts.
 */
export async function indexedUsersOf(store: Store, img: Pick<Image, 'store' | 'owner' | 'name'>): Promise<ImageVm[]> {
  const entries = await entriesOf(store, img);
  const vms = await store.getEach(Kinds.vm, entries.map((e) => Keys.vm(lastSegment(e.key))));
  const live = new Set(vms.map((v) => Keys.imageVm(v.value.image, v.value.id)));
  const users: ImageVm[] = [];
  for (const e of entries) {
    if (live.has(e.key)) users.push(e.value);
    else if (!(await store.txn().unchanged(e).absent(Keys.vm(lastSegment(e.key))).delete(e.key).commit())) users.push(e.value);
  }
  return users;
}

/**
 * The VMs whose disks come from each of `imgs`, from one read of every VM
 * record (in pages): what the index cannot yet be trusted for. With `index`,
 * the entries missing for the VMs found are written, so the next look by the
 * index sees them.
 */
export async function scannedUsersOf(store: Store, imgs: readonly Pick<Image, 'store' | 'owner' | 'name'>[], opts: { index?: boolean } = {}): Promise<ImageVm[][]> {
  const [vms, entries] = await Promise.all([store.list(Kinds.vm, Keys.vms()), opts.index ? Promise.all(imgs.map((img) => entriesOf(store, img))) : []]);
  const found = imgs.map((img) => {
    const prefixes = new Set(refsOf(img).map((r) => Keys.imageVms(r)));
    return vms.items.filter((v) => prefixes.has(Keys.imageVms(v.value.image)));
  });
  if (opts.index) {
    const have = new Set(entries.flat().map((e) => e.key));
    // By VM: two images of one name in one store share the store-form reference, so one VM may be found for both.
    const missing = new Map(found.flat().filter((v) => !have.has(Keys.imageVm(v.value.image, v.value.id))).map((v) => [v.key, v]));
    await writeMissing(store, [...missing.values()]);
  }
  return found.map((users) => users.map((v) => ({ owner: v.value.owner, name: v.value.name })));
}

/**
 * Writes the entries of `vms` (known to lack them), BACKFILL_BATCH to a
 * transaction, each a CAS on the VM's presence (a placement meanwhile keeps its
 * image; a delete removes the entry with it) and the entry's absence; a batch
 * that fails goes again one VM at a time. How many were written.
 */
async function writeMissing(store: Store, vms: readonly Versioned<Vm>[]): Promise<number> {
  const stage = (t: Txn, vm: Versioned<Vm>) => {
    const key = Keys.imageVm(vm.value.image, vm.value.id);
    return t.present(vm.key).absent(key).put(Kinds.imageVm, key, { owner: vm.value.owner, name: vm.value.name });
  };
  let written = 0;
  for (let i = 0; i < vms.length; i += BACKFILL_BATCH) {
    const batch = vms.slice(i, i + BACKFILL_BATCH);
    const t = store.txn();
    for (const vm of batch) stage(t, vm);
    if (await t.commit()) written += batch.length;
    else for (const vm of batch) if (await stage(store.txn(), vm).commit()) written++;
  }
  return written;
}

/**
 * Brings the index in line with the VM records (a cluster from before it): an
 * entry for each VM that lacks one, none for a VM that is gone or names another
 * image (a CAS on its absence, or on it unchanged); then the marker. Runs beside
 * live writers and beside another backfill. Reads all of `vm/` and `image-vm/`,
 * in pages, once per cluster. A VM record that fails its schema is left alone,
 * and so is its entry.
 */
export async function backfillImageIndex(store: Store): Promise<{ written: number; removed: number }> {
  const [index, vms] = await Promise.all([store.list(Kinds.imageVm, Keys.imageVmIndex()), store.list(Kinds.vm, Keys.vms())]);
  const wanted = new Map<string, Versioned<Vm>>(vms.items.map((v) => [Keys.imageVm(v.value.image, v.value.id), v]));
  const vmAt = new Map(vms.items.map((v) => [v.key, v]));
  const present = new Set(index.items.map((e) => e.key));
  const written = await writeMissing(
    store,
    [...wanted].filter(([key]) => !present.has(key)).map(([, vm]) => vm),
  );
  let removed = 0;
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
