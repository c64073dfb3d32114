import { UcloudError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { SharedRun } from '../common/shared-run.js';
import { nowIso, type Image, type ImageStore, type User, type UserFile, type Vm } from '../model/index.js';
import type { ImportSource } from '../storage/driver.js';
import { storageDriver } from '../storage/registry.js';
import { Keys, Kinds } from '../store/keys.js';
import type { Store } from '../store/store.js';
import { imageIndexComplete, indexedUsersOf, refsOf, scannedUsersOf } from './image-vm-index.js';
import { backoff, readUsage, stageUsage, type Limits } from './usage.js';

/** Whether a user may see and use an image: their own, a public one, or any for an admin. */
function visibleTo(user: User, img: Image): boolean {
  return user.role === 'admin' || img.public || img.owner === user.name;
}

/**
 * The name a driver keeps an image's bytes under: unique per owner and name, as
 * two users may each have an image "debian" in the same store. "." is in no name.
 */
export function volumeName(owner: string, name: string): string {
  return `${owner}.${name}`;
}

/**
 * The image a VM's disk comes from, as one index key: by owner, or by store for
 * a reference without one (records from before images had owners).
 */
export const imageUseKey = (ref: Vm['image']): string => (ref.owner === undefined ? `store\u0000${ref.store}\u0000${ref.name}` : `owner\u0000${ref.owner}\u0000${ref.name}`);

/** The index keys of every VM whose disk comes from `img` (either form of reference). */
export const imageUseKeys = (img: Pick<Image, 'store' | 'owner' | 'name'>): string[] => refsOf(img).map(imageUseKey);

/** An image's VMs as a cache holds them (it may be a moment behind etcd); undefined: it has not listed yet. */
export type ImageUsers = (img: Pick<Image, 'store' | 'owner' | 'name'>) => Pick<Vm, 'owner' | 'name'>[] | undefined;

/** Owns image-store and image records; the storage drivers do the bytes. */
export class ImageManager {
  constructor(
    private readonly store: Store,
    /** defaultStore: the store an image goes to when none is named (config default_image_store; empty: none set). */
    /** admins: the admins' names from a cache (the API's); without it they are read from etcd. */
    /** cachedUsers: an image's VMs from a cache (the API's), for a delete's first look; without it etcd is read. */
    private readonly opts: { defaultStore?: string; admins?: () => string[] | undefined; cachedUsers?: ImageUsers } = {},
  ) {}

  private readonly recordScan = new SharedRun((imgs: Pick<Image, 'store' | 'owner' | 'name'>[]) => scannedUsersOf(this.store, imgs, { index: true }));

  /** The same manager, taking a delete's first look at an image's VMs in `cachedUsers` (an index) instead of etcd. */
  withCachedUsers(cachedUsers: ImageUsers): ImageManager {
    return new ImageManager(this.store, { ...this.opts, cachedUsers });
  }

  /**
   * The store an image is made in: the one named, else default_image_store,
   * else the only store there is; IMAGE_STORE_REQUIRED when that leaves a choice.
   */
  async chooseStore(named: string | undefined): Promise<string> {
    if (named) return named;
    if (this.opts.defaultStore) return this.opts.defaultStore;
    const stores = await this.listStores();
    if (stores.length === 1) return stores[0]!.name;
    throw new UcloudError('IMAGE_STORE_REQUIRED', stores.length === 0 ? 'there is no image store yet' : `there are ${stores.length} image stores and no default_image_store: name one`, {
      details: { stores: stores.map((s) => s.name) },
    });
  }

  /**
   * Idempotent: an existing store with the same driver and settings is returned
   * as it is, one with other settings is a conflict; only a new store is checked
   * against its driver (reachable, writable) before it is recorded.
   */
  async ensureStore(name: string, driver: string, settings: Record<string, unknown>): Promise<ImageStore> {
    for (;;) {
      const existing = await this.getStore(name);
      if (existing) {
        if (existing.driver !== driver || JSON.stringify(existing.settings) !== JSON.stringify(settings)) {
          throw new UcloudError('IMAGE_STORE_EXISTS', `image store "${name}" exists with other settings`, {
            details: { driver: existing.driver, settings: existing.settings },
          });
        }
        return existing;
      }
      await (await storageDriver(driver, settings)).check();
      const rec: ImageStore = { name, driver, settings, createdAt: nowIso() };
      if (await this.store.create(Kinds.imageStore, Keys.imageStore(name), rec)) return rec;
    }
  }

  async getStore(name: string): Promise<ImageStore | undefined> {
    return (await this.store.get(Kinds.imageStore, Keys.imageStore(name)))?.value;
  }

  async listStores(): Promise<ImageStore[]> {
    return (await this.store.list(Kinds.imageStore, Keys.imageStores())).items.map((i) => i.value);
  }

  async driverFor(storeName: string) {
    const s = await this.getStore(storeName);
    if (!s) throw new UcloudError('IMAGE_STORE_NOT_FOUND', `image store "${storeName}" does not exist`);
    return storageDriver(s.driver, s.settings);
  }

  async get(owner: string, name: string): Promise<Image | undefined> {
    return (await this.store.get(Kinds.image, Keys.image(owner, name)))?.value;
  }

  /**
   * The image a VM was made from. VMs older than per-owner names only know its
   * store and name, which other owners may since have taken too: the VM owner's
   * own image of that name wins, else the only one; with several, nobody's image
   * is guessed into the disk (another user could have named one to match).
   */
  async forVm(vm: Pick<Vm, 'owner' | 'image'>): Promise<Image | undefined> {
    const ref = vm.image;
    if (ref.owner) return this.get(ref.owner, ref.name);
    const { items } = await this.store.list(Kinds.image, Keys.images());
    const matches = items.map((i) => i.value).filter((i) => i.store === ref.store && i.name === ref.name);
    const own = matches.find((i) => i.owner === vm.owner);
    if (own || matches.length <= 1) return own ?? matches[0];
    throw new UcloudError('IMAGE_AMBIGUOUS', `VM image "${ref.name}" in store "${ref.store}" names no owner, and ${matches.length} owners have an image of that name`);
  }

  /** Images the user may use: their own and the public ones (an admin sees all). */
  async listVisible(user: User): Promise<Image[]> {
    const { items } = await this.store.list(Kinds.image, Keys.images());
    return items
      .map((i) => i.value)
      .filter((img) => visibleTo(user, img))
      .sort((a, b) => a.name.localeCompare(b.name) || a.owner.localeCompare(b.owner));
  }

  /** Like `find`, but only a ready image resolves: what a VM can be made from. */
  async resolve(user: User, ref: string): Promise<Image> {
    const img = await this.find(user, ref);
    if (img.status !== 'ready' || !img.volume) throw new UcloudError('IMAGE_NOT_READY', `image "${ref}" is ${img.status}`);
    return img;
  }

  /**
   * Imports a local file as a ready image in one go (used by `ucloud up` for the
   * test image). Idempotent: an image that is already ready is left as it is.
   */
  async importLocal(storeName: string, name: string, owner: string, isPublic: boolean, source: ImportSource): Promise<Image> {
    const existing = await this.get(owner, name);
    if (existing?.status === 'ready') return existing;
    const driver = await this.driverFor(storeName);
    const volume = await driver.importImage(volumeName(owner, name), source);
    const now = nowIso();
    const img: Image = { name, store: storeName, owner, public: isPublic, status: 'ready', volume, createdAt: existing?.createdAt ?? now, updatedAt: now };
    await this.write(owner, name, img);
    return img;
  }

  /**
   * Finds an image the user may see, whatever its status. Names are unique per
   * owner: "owner/name" is that owner's image (if it is the user's, public, or
   * the user is an admin); a bare "name" is the user's own image, else an
   * admin's public image of that name. Another user's public image never
   * answers to a bare name, so nobody can squat a name others resolve; and a
   * name nobody may see is IMAGE_NOT_FOUND, whoever holds it.
   */
  async find(user: User, ref: string): Promise<Image> {
    const slash = ref.indexOf('/');
    if (slash >= 0) {
      const img = await this.get(ref.slice(0, slash), ref.slice(slash + 1));
      if (!img || !visibleTo(user, img)) throw new UcloudError('IMAGE_NOT_FOUND', `no image "${ref}"`);
      return img;
    }
    const own = await this.get(user.name, ref);
    if (own) return own;
    // From the cache when there is one: reading every user per create cost more than the rest of it at 1,000 users.
    const adminNames = this.opts.admins?.() ?? (await this.store.list(Kinds.user, Keys.users())).items.map((u) => u.value).filter((u) => u.role === 'admin').map((u) => u.name);
    const admins = adminNames.filter((name) => name !== user.name);
    const found = (await Promise.all(admins.map((a) => this.get(a, ref)))).filter((img): img is Image => img?.public === true);
    if (found.length === 0) throw new UcloudError('IMAGE_NOT_FOUND', `no image "${ref}"`, { hint: 'see `ucloud image list`; another user\'s public image is "owner/name"' });
    if (found.length > 1) {
      throw new UcloudError('VALIDATION_FAILED', `several admins have a public image "${ref}"`, { hint: `name one: ${found.map((m) => `${m.owner}/${m.name}`).join(', ')}` });
    }
    return found[0]!;
  }

  /**
   * Puts image records written under the old `image/<store>/<name>` layout under
   * `image/<owner>/<name>` (each move one transaction; a name the owner already
   * holds there is left alone and reported). Run by `ucloud up` before the
   * daemons and by the imagescanner when it starts.
   */
  async migrateKeys(log: Pick<Logger, 'warn'>): Promise<string[]> {
    const stuck: string[] = [];
    for (const item of (await this.store.list(Kinds.image, Keys.images())).items) {
      const key = Keys.image(item.value.owner, item.value.name);
      if (item.key === key) continue;
      const moved = await this.store.txn().unchanged(item).absent(key).put(Kinds.image, key, item.value).delete(item.key).commit();
      if (!moved) stuck.push(item.key);
    }
    if (stuck.length) log.warn({ keys: stuck }, 'image records left under the old key layout: their owner has another image of that name');
    return stuck;
  }

  /** Records the wish for an image made from a user's file; the imagescanner does the work. */
  async requestFromFile(owner: string, name: string, storeName: string, file: UserFile, isPublic: boolean, limits?: Limits): Promise<Image> {
    if (!(await this.getStore(storeName))) throw new UcloudError('IMAGE_STORE_NOT_FOUND', `image store "${storeName}" does not exist`);
    const now = nowIso();
    const img: Image = {
      name,
      store: storeName,
      owner,
      public: isPublic,
      status: 'pending',
      progress: 0,
      source: { fileId: file.id, name: file.name, sha512: file.sha512 },
      createdAt: now,
      updatedAt: now,
    };
    // Unique per owner: the only name that can conflict is one of the caller's own.
    if (!(await this.write(owner, name, img, { create: true, limits }))) {
      throw new UcloudError('IMAGE_EXISTS', `you already have an image "${name}"`, { hint: 'pick another name, or delete yours first' });
    }
    return img;
  }

  /**
   * Puts (or deletes: `img` undefined) an image record with its owner's usage
   * changed in the same transaction when the record comes or goes. `create`:
   * false, writing nothing, when the name is taken.
   */
  private async write(owner: string, name: string, img: Image | undefined, opts: { create?: boolean; limits?: Limits | undefined } = {}): Promise<boolean> {
    const key = Keys.image(owner, name);
    for (let attempt = 0; attempt < 100; attempt++) {
      await backoff(attempt);
      const cur = await this.store.get(Kinds.image, key);
      if (cur && opts.create) return false;
      if (!cur && !img) return true;
      const t = this.store.txn();
      if (cur) t.unchanged(cur);
      else t.absent(key);
      if (!cur || !img) stageUsage(t, await readUsage(this.store, owner), { images: img ? 1 : -1 }, opts.limits);
      if (img) t.put(Kinds.image, key, img);
      else t.delete(key);
      // The witness: createdAt and updatedAt to the millisecond.
      if (await t.commit(img ? { witness: key } : {})) return true;
    }
    throw new UcloudError('CONFLICT', `image "${name}" kept changing; try again`);
  }

  /** Compare-and-swap change of an image record; `fn` returns undefined to leave it. */
  async update(owner: string, name: string, fn: (img: Image) => Image | undefined): Promise<Image | undefined> {
    return this.store.update(Kinds.image, Keys.image(owner, name), (cur) => {
      if (!cur) return undefined;
      const next = fn(cur);
      return next && { ...next, updatedAt: nowIso() };
    });
  }

  async removeRecord(owner: string, name: string): Promise<void> {
    await this.write(owner, name, undefined);
  }

  /**
   * VMs whose disks come from this image, as etcd has them: from the image
   * index once it is backfilled (image-vm-index.ts; the cost is the image's
   * VMs), before that from every VM (read in pages). A request's look.
   */
  async users(img: Pick<Image, 'store' | 'owner' | 'name'>): Promise<Pick<Vm, 'owner' | 'name'>[]> {
    return (await imageIndexComplete(this.store)) ? indexedUsersOf(this.store, img) : (await scannedUsersOf(this.store, [img]))[0]!;
  }

  /**
   * VMs whose disks come from this image, from every VM record (in pages),
   * whatever wrote them (a writer older than the index writes no entries):
   * the imagescanner's look before it removes the bytes. The entries missing
   * for the VMs found are written, so the next request's look sees them too.
   * The deletes that wait at once share one read (a tenant's loop of image
   * deletes is not a read of the fleet each).
   */
  async usersFromRecords(img: Pick<Image, 'store' | 'owner' | 'name'>): Promise<Pick<Vm, 'owner' | 'name'>[]> {
    return this.recordScan.ask(img);
  }

  /**
   * Marks the image for deletion (the imagescanner removes the bytes, then the
   * record). Refused while a VM uses it. A refusal may come from a cache (one
   * asked again and again then reads nothing from etcd); going ahead never
   * does: etcd is looked at first. Once marked, the image makes no more VMs
   * (a create compares its record, VmManager.create), and the imagescanner
   * looks again before it removes anything: a VM made between the look and
   * the mark keeps the image.
   */
  async requestDelete(img: Image, caller: User): Promise<Image | undefined> {
    const cached = this.opts.cachedUsers?.(img);
    if (cached?.length) throw inUseError(img, cached, caller);
    const inUse = await this.users(img);
    if (inUse.length) throw inUseError(img, inUse, caller);
    return this.update(img.owner, img.name, (cur) => ({ ...cur, status: 'deleting' }));
  }
}

/** A public image's users are other people: they are counted, and only the caller's own VMs are named (an admin sees all). */
function inUseError(img: Image, vms: Pick<Vm, 'owner' | 'name'>[], caller: User): UcloudError {
  const named = vms.filter((v) => caller.role === 'admin' || v.owner === caller.name).map((v) => (v.owner === caller.name ? v.name : `${v.owner}/${v.name}`));
  const others = vms.length - named.length;
  const which = [...named.slice(0, 5), ...(named.length > 5 ? ['…'] : []), ...(others ? [`${others} of other users`] : [])].join(', ');
  return new UcloudError('IMAGE_IN_USE', `image "${img.name}" is used by ${vms.length} VM(s): ${which}`);
}
