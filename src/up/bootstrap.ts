import { mkdir, open, readFile, statfs, writeFile, rename, stat } from 'node:fs/promises';
import { availableParallelism, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import type { Config } from '../common/config.js';
import { run } from '../common/exec.js';
import type { Logger } from '../common/logger.js';
import { apiUrlFor, cliConfigPath, packageRoot } from '../common/paths.js';
import { parseSize } from '../common/units.js';
import { HostManager } from '../managers/hosts.js';
import { ImageManager } from '../managers/images.js';
import { ensureUserFolder } from '../managers/user-folder.js';
import { UserManager } from '../managers/users.js';
import * as qemuImg from '../storage/qemu-img.js';
import type { Store } from '../store/store.js';

export const ADMIN = 'admin';
export const LOCAL_STORE = 'local';
export const TEST_IMAGE = 'ucloud-test';

/**
 * What `ucloud up` makes sure of before starting the daemons, each step
 * idempotent so every later start finds the same admin, host, store and image.
 */
export async function bootstrap(config: Config, store: Store, log: Logger): Promise<void> {
  await ensureAdminAndCliConfig(config, store, log);
  // The filescanner makes every user's folder; the admin's is there before anything starts.
  await ensureUserFolder(config.filesPath, ADMIN);
  await ensureHost(config, store, log);
  const images = new ImageManager(store);
  await images.ensureStore(LOCAL_STORE, 'fs', { path: config.imagePath });
  await images.migrateKeys(log);
  // The admin's public image: every user gets it by its bare name unless they have one of that name.
  if ((await images.get(ADMIN, TEST_IMAGE))?.status !== 'ready') {
    const file = await buildTestImage(config, log);
    const info = await qemuImg.info(file);
    // Drivers read an open descriptor, never a path (storage/driver.ts ImportSource).
    const fh = await open(file, 'r');
    try {
      await images.importLocal(LOCAL_STORE, TEST_IMAGE, ADMIN, true, { fd: fh.fd, format: 'qcow2', virtualSize: info.virtualSize });
    } finally {
      await fh.close();
    }
    log.info({ image: TEST_IMAGE }, 'test image registered');
  }
}

async function ensureAdminAndCliConfig(config: Config, store: Store, log: Logger): Promise<void> {
  const users = new UserManager(store);
  const file = cliConfigPath();
  const url = apiUrlFor(config.apiListen);
  let token: string | undefined;
  if (!(await users.get(ADMIN))) {
    token = (await users.create(ADMIN, 'admin')).token;
    log.info('admin user created');
  } else {
    const existing = await readFile(file, 'utf8').then((t) => JSON.parse(t) as { token?: string }, () => undefined);
    const valid = existing?.token && (await users.authenticate(existing.token).then((u) => u.name === ADMIN, () => false));
    token = valid ? existing.token : await users.issueToken(ADMIN, `ucloud up on ${config.hostName}`);
  }
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp`;
  await writeFile(tmp, `${JSON.stringify({ url, token }, null, 2)}\n`, { mode: 0o600 });
  await rename(tmp, file);
  log.info({ file }, 'CLI config written');
}

async function ensureHost(config: Config, store: Store, log: Logger): Promise<void> {
  const hosts = new HostManager(store);
  if (await hosts.get(config.hostName)) return;
  await mkdir(config.imagePath, { recursive: true });
  const fs = await statfs(config.imagePath);
  const capacity = {
    cpu: config.capacityCpu || availableParallelism(),
    ramBytes: config.capacityRam ? parseSize(config.capacityRam) : Math.max(0, totalmem() - parseSize(config.reservedRam)),
    diskBytes: config.capacityDisk ? parseSize(config.capacityDisk) : fs.blocks * fs.bsize,
  };
  await hosts.add(config.hostName, config.hostAddress, capacity);
  log.info({ host: config.hostName, ...capacity }, 'host registered');
}

/** Builds the tiny test guest from Debian packages once; later starts reuse the file. */
export async function buildTestImage(config: Config, log: Logger): Promise<string> {
  const out = join(config.stateDir, 'guest', `${TEST_IMAGE}.qcow2`);
  if (await stat(out).then(() => true, () => false)) return out;
  await mkdir(dirname(out), { recursive: true });
  log.info('building the test guest image (once)');
  await run('bash', [join(packageRoot(), 'guest', 'build-image.sh'), out], { timeoutMs: 600_000 });
  return out;
}
