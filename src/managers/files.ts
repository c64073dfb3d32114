import type { UserFile } from '../model/index.js';
import { Keys, Kinds } from '../store/keys.js';
import type { Store } from '../store/store.js';

/** Owns the records of users' files; the filescanner is their only writer. */
export class FileManager {
  constructor(private readonly store: Store) {}

  async list(owner?: string): Promise<UserFile[]> {
    const { items } = await this.store.list(Kinds.file, Keys.files());
    return items
      .map((i) => i.value)
      .filter((f) => owner === undefined || f.owner === owner)
      .sort((a, b) => a.owner.localeCompare(b.owner) || a.name.localeCompare(b.name));
  }

  async get(id: string): Promise<UserFile | undefined> {
    return (await this.store.get(Kinds.file, Keys.file(id)))?.value;
  }

  async put(file: UserFile): Promise<void> {
    await this.store.put(Kinds.file, Keys.file(file.id), file);
  }

  async remove(id: string): Promise<void> {
    await this.store.delete(Keys.file(id));
  }
}
