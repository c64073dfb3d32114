import { mkdir, open, readFile, statfs, writeFile, rename, stat } from 'node:fs/promises';
import { availableParallelism, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { LEGACY_PROFILE, readCliConfig, writeCliConfig, type CliConfig } from '../common/cli-config.js';
import type { Config } from '../common/config.js';
import { UcloudError } from '../common/errors.js';
import { run } from '../common/exec.js';
import type { Logger } from '../common/logger.js';
import { apiUrlFor, cliConfigPath, packageRoot } from '../common/paths.js';
import { parseSize } from '../common/units.js';
import { HostManager } from '../managers/hosts.js';
import { ImageManager } from '../managers/images.js';
import { ensureUserFolder } from '../managers/user-folder.js';
import { UserManager } from '../managers/users.js';
import type { Host } from '../model/index.js';
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

/** The CLI profile `ucloud up` keeps for the cloud it runs. */
export const UP_PROFILE = 'local';

/**
 * The admin and a CLI profile ("local") holding an admin token. `up` keeps its
 * own copy of that token in <state_dir>/admin-token (0600), so a lost or broken
 * CLI config is rewritten from it instead of minting another admin token at
 * every start. Only when neither holds a token that still works does it mint
 * one, named up-<host> and replacing the last token of that name: one per host,
 * ever. Other profiles, and the one chosen, are left alone.
 */
export async function ensureAdminAndCliConfig(config: Config, store: Store, log: Logger, file = cliConfigPath()): Promise<void> {
  const users = new UserManager(store);
  const stateFile = join(config.stateDir, 'admin-token');
  const url = apiUrlFor(config.apiListen);
  const tokenName = upTokenName(config.hostName);
  let cli: CliConfig;
  try {
    cli = readCliConfig(file);
  } catch (err) {
    // Unreadable is one more file to rewrite, not a reason to stop.
    log.warn({ file, err: (err as Error).message }, 'the CLI config is unreadable: writing it anew');
    cli = { profiles: {} };
  }
  // A file from before profiles reads as "default"; when that is this cloud it becomes "local", else it stays beside it.
  const legacy = cli.profiles[LEGACY_PROFILE];
  if (!cli.profiles[UP_PROFILE] && legacy?.url === url) {
    cli.profiles[UP_PROFILE] = legacy;
    delete cli.profiles[LEGACY_PROFILE];
    if (cli.current === LEGACY_PROFILE) cli.current = UP_PROFILE;
  }
  let token: string | undefined;
  if (!(await users.get(ADMIN))) {
    token = (await users.create(ADMIN, 'admin', tokenName)).token;
    log.info('admin user created');
  } else {
    const fromState = await readFile(stateFile, 'utf8').then((t) => t.trim(), () => undefined);
    for (const t of [cli.profiles[UP_PROFILE]?.token, fromState]) {
      if (typeof t === 'string' && t && !token && (await users.tokenValidFor(t, ADMIN))) token = t;
    }
    if (!token) {
      token = (await users.issueToken(ADMIN, { name: tokenName, description: `ucloud up on ${config.hostName}`, replace: true })).token;
      log.warn({ token: tokenName }, 'neither the CLI config nor the state dir held a working admin token: made a new one, replacing the last one of that name');
    }
  }
  await writePrivate(stateFile, `${token}\n`);
  cli.profiles[UP_PROFILE] = { url, token };
  // Someone who chose another cloud keeps it; a fresh machine uses this one.
  if (cli.current === undefined || !cli.profiles[cli.current]) cli.current = UP_PROFILE;
  writeCliConfig(cli, file);
  log.info({ file, profile: UP_PROFILE, current: cli.current }, 'CLI config written');
}

/** `up`'s token name for this host: a valid token name whatever the host name looks like. */
export function upTokenName(hostName: string): string {
  const s = `up-${hostName.toLowerCase().replace(/[^a-z0-9-]+/g, '-')}`.slice(0, 63).replace(/-+$/, '');
  return s;
}

async function writePrivate(file: string, text: string): Promise<void> {
  const tmp = `${file}.tmp`;
  await writeFile(tmp, text, { mode: 0o600 });
  await rename(tmp, file);
}

/**
 * Registers this machine with its physical capacity and the configured
 * allocation ratios, once; afterwards the record rules (`ucloud host set`), like
 * nova's initial_*_allocation_ratio.
 */
async function ensureHost(config: Config, store: Store, log: Logger): Promise<void> {
  const hosts = new HostManager(store, { allocationRatio: config.allocationRatio });
  const existing = await hosts.get(config.hostName);
  if (existing) {
    if (!existing.allocationRatio) await adoptConfiguredRatio(hosts, config, existing, log);
    return;
  }
  await mkdir(config.imagePath, { recursive: true });
  const fs = await statfs(config.imagePath);
  const capacity = {
    cpu: config.capacityCpu || availableParallelism(),
    ramBytes: config.capacityRam ? parseSize(config.capacityRam) : Math.max(0, totalmem() - parseSize(config.reservedRam)),
    diskBytes: config.capacityDisk ? parseSize(config.capacityDisk) : fs.blocks * fs.bsize,
  };
  await hosts.add(config.hostName, config.hostAddress, capacity);
  log.info({ host: config.hostName, ...capacity, allocationRatio: config.allocationRatio }, 'host registered');
}

/**
 * A record `up` wrote before ratios existed counts 1:1, as its capacity.cpu was
 * meant. When that number is the detected core count it was detected, not
 * stated, so the configured ratios are what the operator gets on a new machine
 * and are written in, once, through `host set`'s check. A stated capacity_cpu
 * (the old way to overcommit) is already the vCPUs wanted: multiplying it again
 * would overbook, so that record stays 1:1 and the log says how to change it.
 */
async function adoptConfiguredRatio(hosts: HostManager, config: Config, existing: Host, log: Logger): Promise<void> {
  const name = config.hostName;
  const cores = availableParallelism();
  if (existing.capacity.cpu !== cores || config.capacityCpu !== 0) {
    const hint = `ucloud host set ${name} --cpu ${cores} --cpu-ratio ${config.allocationRatio.cpu}`;
    log.warn({ host: name, cpu: existing.capacity.cpu, cores, hint }, 'host recorded before allocation ratios with a stated CPU capacity keeps counting it 1:1 as vCPUs; to give it physical cores and a ratio, use `ucloud host set`');
    return;
  }
  try {
    // Checked again in the write itself: someone may have set the record meanwhile.
    const unchanged = (h: Host) => !h.allocationRatio && h.capacity.cpu === existing.capacity.cpu;
    const written = await hosts.set(name, { allocationRatio: config.allocationRatio }, unchanged);
    if (written) log.info({ host: name, allocationRatio: written.allocationRatio }, 'host recorded before allocation ratios given the configured ones');
  } catch (e) {
    if (!(e instanceof UcloudError && e.code === 'CAPACITY_BELOW_BOOKED')) throw e;
    const hint = `ucloud host set ${name} --cpu-ratio X --ram-ratio X --disk-ratio X`;
    log.warn({ host: name, err: e.message, hint }, 'host recorded before allocation ratios kept at 1:1: the configured ratios would allow less than is booked on it');
  }
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
