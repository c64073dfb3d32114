// One radvd per network on each host, advertising the network's /64 on its
// bridge so guests configure EUI-64 SLAAC addresses. Files live under the run
// directory: radvd-<vni>.conf, radvd-<vni>.pid, radvd-<vni>.log.
//
// How radvd 2.19 behaves (verified): it forks a daemon and the parent exits
// once the daemon has written and flock()ed the pid file; a second radvd on
// the same pid file exits 255 ("unable to lock pid file"); SIGTERM makes the
// daemon remove its pid file; a stale pid file (dead pid) is simply
// overwritten. The daemon closes our stdio, so starting it does not hang.

import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { UcloudError } from '../../common/errors.js';
import { tailLines } from '../../common/file-tail.js';
import { checkResolvers } from '../../common/resolvers.js';
import { checkIfname, checkVni, parsePrefix64 } from './addr.js';
import { METADATA_LINK_LOCAL } from './bridge.js';
import { daemonPid, isDaemonWith, readText, stopDaemon } from './daemon-pid.js';
import type { Ip } from './ip.js';

export interface RadvdPaths {
  conf: string;
  pid: string;
  log: string;
}

export function radvdPaths(runDir: string, vni: number): RadvdPaths {
  const dir = resolve(runDir); // radvd chdirs to / when it daemonizes
  return {
    conf: join(dir, `radvd-${checkVni(vni)}.conf`),
    pid: join(dir, `radvd-${vni}.pid`),
    log: join(dir, `radvd-${vni}.log`),
  };
}

export interface RadvdConfig {
  /** The bridge. */
  interface: string;
  /** The network's /64. */
  prefix: string;
  /** Advertised link MTU (the overlay's, so guests never send what VXLAN cannot carry). */
  mtu?: number;
  /** DNS resolvers advertised as RDNSS (RFC 8106); none: no RDNSS option. */
  resolvers?: readonly string[];
  /** A routed network: advertise this host as the default router (router lifetime ROUTER_LIFETIME_S). */
  routed?: boolean;
}

/**
 * Router lifetime on a routed network: 3 × MaxRtrAdvInterval, as radvd's own
 * default, so a guest that misses two RAs keeps its default route, and one
 * whose host is gone drops it within half a minute.
 */
export const ROUTER_LIFETIME_S = 30;

/**
 * RFC 8106 asks for at least 3 × MaxRtrAdvInterval (10 s), so a guest that
 * misses two RAs (a TCG guest busy booting, a migration's pause) keeps its
 * resolvers. radvd's manual suggests at most 2 × and only warns about more;
 * stale entries do not linger anyway: on a restart with a new list radvd first
 * withdraws the old one (FlushRDNSS, on by default).
 */
export const RDNSS_LIFETIME_S = 30;

/**
 * The settings measured to work (FIELD-NOTES): frequent RAs, router lifetime 0
 * on an isolated network (we are no default router: the prefix is on-link
 * only) and ROUTER_LIFETIME_S on a routed one, on-link + autonomous prefix. RDNSS only when the network has
 * resolvers (its own or the cluster's; ucloud runs none itself). RAs come from
 * fe80::1, the address VMs know as the metadata server.
 */
export function renderRadvdConf(cfg: RadvdConfig): string {
  checkIfname(cfg.interface);
  const prefix = parsePrefix64(cfg.prefix).cidr;
  // Checked again here: the list goes into a file radvd parses.
  const resolvers = checkResolvers(cfg.resolvers ?? [], 'INVALID_RESOLVER');
  const lines = [
    '# Written by ucloud; rewritten whenever the network changes. Do not edit.',
    `interface ${cfg.interface}`,
    '{',
    '\tAdvSendAdvert on;',
    '\tMinRtrAdvInterval 3;',
    '\tMaxRtrAdvInterval 10;',
    `\tAdvDefaultLifetime ${cfg.routed ? ROUTER_LIFETIME_S : 0};`,
    ...(cfg.mtu ? [`\tAdvLinkMTU ${cfg.mtu};`] : []),
    `\tAdvRASrcAddress { ${METADATA_LINK_LOCAL}; };`,
    `\tprefix ${prefix}`,
    '\t{',
    '\t\tAdvOnLink on;',
    '\t\tAdvAutonomous on;',
    '\t};',
    ...(resolvers.length ? [`\tRDNSS ${resolvers.join(' ')}`, '\t{', `\t\tAdvRDNSSLifetime ${RDNSS_LIFETIME_S};`, '\t};'] : []),
    '};',
    '',
  ];
  return lines.join('\n');
}

/** The pid of this network's running radvd, or undefined. */
export async function radvdPid(runDir: string, vni: number): Promise<number | undefined> {
  const paths = radvdPaths(runDir, vni);
  return daemonPid(paths.pid, 'radvd', '-C', paths.conf);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface RadvdState {
  pid: number;
  /** True when radvd was (re)started by this call. */
  started: boolean;
  paths: RadvdPaths;
}

/**
 * Makes sure this network's radvd runs with the wanted config: starts it when
 * it is not running, restarts it only when the config file changed, and
 * otherwise leaves the running daemon alone (VMs keep hearing RAs).
 */
export async function ensureRadvd(ip: Ip, opts: { runDir: string; vni: number } & RadvdConfig): Promise<RadvdState> {
  const paths = radvdPaths(opts.runDir, opts.vni);
  const want = renderRadvdConf(opts);
  const have = await readText(paths.conf);
  const running = await radvdPid(opts.runDir, opts.vni);
  if (running !== undefined && have === want) return { pid: running, started: false, paths };

  await mkdir(resolve(opts.runDir), { recursive: true });
  if (have !== want) {
    const tmp = `${paths.conf}.tmp`;
    await writeFile(tmp, want);
    await rename(tmp, paths.conf);
  }
  // Also when none runs: a stale pid file goes, so the new daemon's is all the file holds.
  await stopRadvd(opts.runDir, opts.vni);
  try {
    await ip.exec('radvd', ['-C', paths.conf, '-p', paths.pid, '-m', 'logfile', '-l', paths.log], { timeoutMs: 10_000 });
  } catch (err) {
    throw new UcloudError('COMMAND_FAILED', `radvd for VNI ${opts.vni} did not start`, {
      details: { log: (await tailLines(paths.log, 8)).join('\n'), conf: paths.conf },
      cause: err,
    });
  }
  // The parent exits after the daemon wrote its pid; poll briefly anyway.
  for (let i = 0; i < 40; i++) {
    const pid = await radvdPid(opts.runDir, opts.vni);
    if (pid !== undefined) return { pid, started: true, paths };
    await sleep(50);
  }
  throw new UcloudError('COMMAND_FAILED', `radvd for VNI ${opts.vni} exited right after starting`, {
    details: { log: (await tailLines(paths.log, 8)).join('\n'), conf: paths.conf },
  });
}

/**
 * Stops this network's radvd (SIGTERM, then SIGKILL after 5 s) and removes its
 * pid file. Returns whether one was running. Never signals a pid whose
 * cmdline is not this network's radvd.
 */
export async function stopRadvd(runDir: string, vni: number, opts: { removeFiles?: boolean } = {}): Promise<boolean> {
  const paths = radvdPaths(runDir, vni);
  const pid = await radvdPid(runDir, vni);
  if (pid !== undefined) await stopDaemon(pid, () => isDaemonWith(pid, 'radvd', '-C', paths.conf));
  await rm(paths.pid, { force: true });
  if (opts.removeFiles) {
    await rm(paths.conf, { force: true });
    await rm(paths.log, { force: true });
  }
  return pid !== undefined;
}
