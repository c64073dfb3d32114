import { mkdir } from 'node:fs/promises';
import { runDaemon, type DaemonFlags } from '../store/daemon.js';
import { FileManager } from '../managers/files.js';
import { UserManager } from '../managers/users.js';
import { FileScanner } from './filescanner.js';

export function runFileScanner(flags: DaemonFlags): Promise<void> {
  return runDaemon('filescanner', flags, [], async ({ config, log, store }) => {
    await mkdir(config.filesPath, { recursive: true });
    const s = new FileScanner(new FileManager(store), new UserManager(store), { basePath: config.filesPath, intervalMs: config.filescannerIntervalMs, partMaxAgeMs: config.uploadIdleMs }, log);
    await s.start();
    log.info({ path: config.filesPath, intervalMs: config.filescannerIntervalMs }, 'filescanner ready');
    return () => s.stop();
  });
}
