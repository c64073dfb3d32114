import { UcloudError } from '../common/errors.js';
import { nowIso, type Image, type ImageStore, type User, type UserFile } from '../model/index.js';
import type { ImportSource } from '../storage/driver.js';
import { storageDriver } from '../storage/registry.js';
import { Keys, Kinds } from '../store/keys.js';
import { DELETE, type Store } from '../store/store.js';

/** Owns image-store and image records; the storage drivers do the bytes. */
export class ImageManager {
  constructor(private readonly store: Store) {}

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

  async get(store: string, name: string): Promise<Image | undefined> {
    return (await this.store.get(Kinds.image, Keys.image(store, name)))?.value;
  }

  /** Images the user may use: their own and the public ones (an admin sees all). */
  async listVisible(user: User): Promise<Image[]> {
    const { items } = await this.store.list(Kinds.image, Keys.images());
    return items
      .map((i) => i.value)
      .filter((img) => user.role === 'admin' || img.public || img.owner === user.name)
      .sort((a, b) => a.name.localeCompare(b.name) || a.store.localeCompare(b.store));
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
    const existing = await this.get(storeName, name);
    if (existing?.status === 'ready') return existing;
    const driver = await this.driverFor(storeName);
    const volume = await driver.importImage(name, source);
    const now = nowIso();
    const img: Image = { name, store: storeName, owner, public: isPublic, status: 'ready', volume, createdAt: existing?.createdAt ?? now, updatedAt: now };
    await this.store.put(Kinds.image, Keys.image(storeName, name), img);
    return img;
  }

  /** Finds an image the user may see by "name" or "store/name", whatever its status. */
  async find(user: User, ref: string): Promise<Image> {
    const [a, b] = ref.split('/', 2);
    const matches = (await this.listVisible(user)).filter((img) => (b === undefined ? img.name === a : img.store === a && img.name === b));
    if (matches.length === 0) throw new UcloudError('IMAGE_NOT_FOUND', `no image "${ref}"`);
    if (matches.length > 1) {
      throw new UcloudError('VALIDATION_FAILED', `several stores have an image "${ref}"`, { hint: `name one: ${matches.map((m) => `${m.store}/${m.name}`).join(', ')}` });
    }
    return matches[0]!;
  }

  /** Records the wish for an image made from a user's file; the imagescanner does the work. */
  async requestFromFile(owner: string, name: string, storeName: string, file: UserFile, isPublic: boolean): Promise<Image> {
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
    if (!(await this.store.create(Kinds.image, Keys.image(storeName, name), img))) {
      throw new UcloudError('IMAGE_EXISTS', `store "${storeName}" already has an image "${name}"`);
    }
    return img;
  }

  /** Compare-and-swap change of an image record; `fn` returns undefined to leave it. */
  async update(storeName: string, name: string, fn: (img: Image) => Image | undefined): Promise<Image | undefined> {
    return this.store.update(Kinds.image, Keys.image(storeName, name), (cur) => {
      if (!cur) return undefined;
      const next = fn(cur);
      return next && { ...next, updatedAt: nowIso() };
    });
  }

  async removeRecord(storeName: string, name: string): Promise<void> {
    await this.store.update(Kinds.image, Keys.image(storeName, name), () => DELETE);
  }

  /** VMs whose disks come from this image. */
  async users(img: Pick<Image, 'store' | 'name'>): Promise<string[]> {
    const { items } = await this.store.list(Kinds.vm, Keys.vms());
    return items.filter((v) => v.value.image.store === img.store && v.value.image.name === img.name).map((v) => v.value.name);
  }

  /**
   * Marks the image for deletion (the imagescanner removes the bytes, then the
   * record). Refused while a VM uses it. Marking first means no new VM can be
   * made from it while the check runs.
   */
  async requestDelete(img: Image): Promise<Image | undefined> {
    const inUse = await this.users(img);
    if (inUse.length) throw new UcloudError('IMAGE_IN_USE', `image "${img.name}" is used by ${inUse.length} VM(s): ${inUse.slice(0, 5).join(', ')}`);
    const marked = await this.update(img.store, img.name, (cur) => ({ ...cur, status: 'deleting' }));
    const raced = await this.users(img);
    if (raced.length) {
      await this.update(img.store, img.name, (cur) => ({ ...cur, status: img.status }));
      throw new UcloudError('IMAGE_IN_USE', `image "${img.name}" is used by ${raced.join(', ')}`);
    }
    return marked;
  }
}
