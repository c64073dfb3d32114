import { loadConfig, parseOverrides } from '../../common/config.js';
import type { DaemonFlags } from '../../store/daemon.js';
import { toUcloudError } from '../../common/errors.js';
import { createLogger } from '../../common/logger.js';
import { FenceWatchdog } from './watchdog.js';

/**
 * `ucloud host fence`: the fence watchdog of this host. It needs no etcd and no
 * agent (it must act exactly when they are gone), only run_dir and log_dir.
 */
export function runFenceWatchdog(flags: DaemonFlags): void {
  try {
    const { config } = loadConfig({ ...(flags.config ? { file: flags.config } : {}), overrides: parseOverrides(flags.set ?? []) });
    const log = createLogger({ component: 'fence', logDir: config.logDir, level: config.logLevel });
    const w = new FenceWatchdog({ runDir: config.runDir }, log);
    w.start();
    log.info({ runDir: config.runDir }, 'fence watchdog ready');
    const stop = (signal: string) => {
      log.info({ signal }, 'stopping');
      w.stop();
      process.exit(0);
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
  } catch (err) {
    const e = toUcloudError(err);
    process.stderr.write(`fence: ${e.code}: ${e.message}\n`);
    process.exit(1);
  }
}
