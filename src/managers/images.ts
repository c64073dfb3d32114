import { UcloudError } from '../common/errors.js';
import { nowIso, type Image, type ImageStore, type User } from '../model/index.js';
import type { ImportSource } from '../storage/driver.js';
import { storageDriver } from '../storage/registry.js';
import { Keys, Kinds } from '../store/keys.js';
import type { Store } from '../store/store.js';

/** Owns image-store and image records; the storage drivers do the bytes. */
export class ImageManager {
  constructor(private readonly store: Store) {}

  /** Idempotent: an existing store with the same driver and settings is returned as it is. */
  async ensureStore(name: string, driver: string, settings: Record<string, unknown>): Promise<ImageStore> {
    await (await storageDriver(driver, settings)).check();
    const rec: ImageStore = { name, driver, settings, createdAt: nowIso() };
    if (await this.store.create(Kinds.imageStore, Keys.imageStore(name), rec)) return rec;
    const existing = (await this.getStore(name))!;
    if (existing.driver !== driver || JSON.stringify(existing.settings) !== JSON.stringify(settings)) {
      throw new UcloudError('IMAGE_STORE_EXISTS', `image store "${name}" exists with other settings`, {
        details: { driver: existing.driver, settings: existing.settings },
      });
    }
    return existing;
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

  /** Finds an image by "name" or "store/name" among those the user may use; only ready images resolve. */
  async resolve(user: User, ref: string): Promise<Image> {
    const [a, b] = ref.split('/', 2);
    const matches = (await this.listVisible(user)).filter((img) => (b === undefined ? img.name === a : img.store === a && img.name === b));
    if (matches.length === 0) throw new UcloudError('IMAGE_NOT_FOUND', `no image "${ref}" that you can use`);
    if (matches.length > 1) {
      throw new UcloudError('VALIDATION_FAILED', `several stores have an image "${ref}"`, { hint: `name one: ${matches.map((m) => `${m.store}/${m.name}`).join(', ')}` });
    }
    const img = matches[0]!;
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
}
