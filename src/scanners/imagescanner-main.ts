import { runDaemon, type DaemonFlags } from '../common/daemon.js';
import { FileManager } from '../managers/files.js';
import { ImageManager } from '../managers/images.js';
import { ImageScanner } from './imagescanner.js';

export function runImageScanner(flags: DaemonFlags): Promise<void> {
  return runDaemon('imagescanner', flags, ['qemuImg', 'bwrap'], async ({ config, log, store }) => {
    const s = new ImageScanner(store, new ImageManager(store), new FileManager(store), { filesPath: config.filesPath, importConcurrency: config.importConcurrency }, log);
    await s.start();
    log.info('imagescanner ready');
    return () => s.stop();
  });
}
