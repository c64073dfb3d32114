import { join } from 'node:path';
import { toUcloudError, UcloudError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import type { FileManager } from '../managers/files.js';
import { volumeName, type ImageManager } from '../managers/images.js';
import { nowIso, type Image } from '../model/index.js';
import { Informer, Reconciler } from '../store/informer.js';
import { Keys, Kinds } from '../store/keys.js';
import type { EventLog } from '../store/event-log.js';
import type { Store } from '../store/store.js';
import { importUserFile } from './image-source.js';
import type { ImportMetrics } from './import-metrics.js';

/**
 * Turns image requests into images: inspects the user's file, converts and
 * imports it through the store's driver, and marks the image ready or error.
 * Also removes images marked for deletion. One imagescanner works per cluster,
 * the leader of its election (imagescanner-main.ts): the claim of a request is
 * not exclusive. An import it was doing when it died is started again from scratch.
 */
export class ImageScanner {
  private readonly informer;
  private readonly reconciler: Reconciler;
  private readonly active = new Set<string>();
  private importing = 0;

  constructor(
    store: Store,
    private readonly images: ImageManager,
    private readonly files: FileManager,
    private readonly opts: {
      filesPath: string;
      /** Imports run at once (config import_concurrency); more wait their turn, oldest first. Default 2. */
      importConcurrency?: number;
      /** TEST ONLY: called between a file's inspection and its conversion (see ImportHooks); daemons never set it. */
      afterInspect?: (img: Image) => Promise<void>;
      /** The audit log: each import's end ('image.ready' or 'image.error') is recorded there. */
      events?: EventLog;
      /** The daemon's import metrics (src/scanners/import-metrics.ts). */
      metrics?: ImportMetrics;
    },
    private readonly log: Logger,
  ) {
    this.informer = new Informer(store, Kinds.image, Keys.images(), log);
    this.reconciler = new Reconciler(async () => this.pass(), log, 30_000);
  }

  async start(): Promise<void> {
    // Clusters not started by `ucloud up` get their image keys moved here (one imagescanner per cluster).
    await this.images.migrateKeys(this.log);
    this.informer.on('change', () => this.reconciler.trigger());
    await this.informer.start();
    this.reconciler.start();
  }

  async stop(): Promise<void> {
    this.reconciler.stop();
    await this.informer.stop();
  }

  /**
   * Starts the work images wait for. Each import is a sandboxed qemu-img reading
   * and writing whole disks: however many requests arrive, at most
   * importConcurrency run at once (each one's end starts the next pass).
   */
  private pass(): void {
    const limit = this.opts.importConcurrency ?? 2;
    const waiting = [...this.informer.values()].sort((a, b) => a.createdAt.localeCompare(b.createdAt));
    for (const img of waiting) {
      const key = Keys.image(img.owner, img.name);
      if (this.active.has(key)) continue;
      const isImport = img.status === 'pending' || img.status === 'importing';
      if (isImport && this.importing >= limit) continue;
      const work = isImport ? () => this.importImage(img) : img.status === 'deleting' ? () => this.deleteImage(img) : undefined;
      if (!work) continue;
      this.active.add(key);
      if (isImport) this.importing++;
      void work()
        .catch((err: unknown) => this.log.error({ err, image: key }, 'image work failed'))
        .finally(() => {
          this.active.delete(key);
          if (isImport) this.importing--;
          this.reconciler.trigger();
        });
    }
  }

  private async importImage(img: Image): Promise<void> {
    const claimed = await this.images.update(img.owner, img.name, (cur) => (cur.status === 'pending' || cur.status === 'importing' ? { ...cur, status: 'importing', progress: 0 } : undefined));
    if (claimed?.status !== 'importing') return;
    const started = Date.now();
    const m = this.opts.metrics;
    m?.inProgress.inc();
    const end = m?.duration.startTimer();
    try {
      const file = img.source && (await this.files.get(img.source.fileId));
      if (!file || file.owner !== img.owner) throw new UcloudError('FILE_NOT_FOUND', `the file "${img.source?.name ?? '?'}" is gone`);
      const driver = await this.images.driverFor(img.store);
      let lastWrite = 0;
      const progress = (done: number, total: number) => {
        if (Date.now() - lastWrite < 500) return;
        lastWrite = Date.now();
        void this.images.update(img.owner, img.name, (cur) => (cur.status === 'importing' ? { ...cur, progress: Math.min(0.99, done / Math.max(1, total)) } : undefined)).catch(() => undefined);
      };
      const afterInspect = this.opts.afterInspect;
      const volume = await importUserFile({ ownerDir: join(this.opts.filesPath, file.owner), name: file.name }, driver, volumeName(img.owner, img.name), progress, {
        ...(afterInspect ? { afterInspect: () => afterInspect(img) } : {}),
      });
      const done = await this.images.update(img.owner, img.name, (cur) => {
        if (cur.status !== 'importing') return undefined;
        const next: Image = { ...cur, status: 'ready', volume, progress: 1 };
        delete next.error;
        return next;
      });
      // Deleted while importing: the bytes have no record to belong to.
      if (done?.status !== 'ready') await driver.deleteImage(volume);
      this.log.info({ image: `${img.owner}/${img.name}`, ms: Date.now() - started, bytes: volume.virtualSize }, 'image imported');
      if (done?.status === 'ready') this.record(img, 'ok');
      m?.imports.inc({ result: 'ok' });
      m?.bytes.inc(file.sizeBytes);
      end?.({ result: 'ok' });
    } catch (err) {
      m?.imports.inc({ result: 'error' });
      end?.({ result: 'error' });
      const e = toUcloudError(err);
      this.log.warn({ err, image: `${img.owner}/${img.name}` }, 'image import failed');
      await this.images.update(img.owner, img.name, (cur) =>
        cur.status === 'importing' ? { ...cur, status: 'error', error: { code: e.code, message: e.message, at: nowIso() } } : undefined,
      );
      this.record(img, 'error', e.code, e.message);
    } finally {
      m?.inProgress.dec();
    }
  }

  private record(img: Image, result: 'ok' | 'error', code?: string, message?: string): void {
    void this.opts.events?.record({
      actor: { kind: 'imagescanner', name: 'imagescanner' },
      action: result === 'ok' ? 'image.ready' : 'image.error',
      object: { kind: 'image', name: img.name, owner: img.owner },
      result,
      ...(code ? { code } : {}),
      ...(message ? { message: message.slice(0, 1000) } : {}),
    });
  }

  private async deleteImage(img: Image): Promise<void> {
    try {
      // Marked, it makes no more VMs; one made before the mark that the API's look missed keeps it (ready again, with this error).
      // Every VM record is read, not the index: a writer older than the index (a rolling upgrade) leaves VMs out of it.
      const users = await this.images.usersFromRecords(img);
      if (users.length) throw new UcloudError('IMAGE_IN_USE', `image "${img.name}" is used by ${users.length} VM(s)`);
      if (img.volume) await (await this.images.driverFor(img.store)).deleteImage(img.volume);
      await this.images.removeRecord(img.owner, img.name);
      this.log.info({ image: `${img.owner}/${img.name}` }, 'image deleted');
    } catch (err) {
      const e = toUcloudError(err);
      await this.images.update(img.owner, img.name, (cur) => ({ ...cur, status: img.volume ? 'ready' : 'error', error: { code: e.code, message: `delete failed: ${e.message}`, at: nowIso() } }));
    }
  }
}
