// One BIRD 2 per host (route_mode bgp): it announces a /128 for every running
// VM NIC on a routed network to the upstream peers (bgp_peers), and nothing
// else. ucloud writes its whole configuration and reloads it when the set of
// addresses changes, as it does radvd's. Files live under the host network's
// run directory: bird.conf, bird.ctl (its control socket), bird.pid, bird.log.
//
// How the announcement works (verified with bird2 2.0.12, /work/notes
// issue12-notes.md): the addresses are static routes `unreachable` in a table
// of their own (`vms`) that only the BGP sessions read (import none, export
// all), so BIRD never touches the kernel's tables: the kernel forwards to a
// VM by the connected /64 of its network's bridge, which only a host serving
// that network has. eBGP sets the next hop to the host's own address. A
// reconfigure reaches the upstream's kernel in about half a second; a fresh
// session is up in about 4 s.
//
// BIRD daemonizes: the parent exits once the config parsed and the daemon
// runs; the daemon writes the pid file (-P) and keeps it; SIGTERM ends it.

import { createHash } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { UcloudError } from '../../common/errors.js';
import { tailLines } from '../../common/file-tail.js';
import { canonicalIPv6 } from './addr.js';
import { daemonPid, isDaemonWith, readText, stopDaemon } from './daemon-pid.js';
import type { Ip } from './ip.js';

export interface BirdPaths {
  conf: string;
  ctl: string;
  pid: string;
  log: string;
}

export function birdPaths(runDir: string): BirdPaths {
  const dir = resolve(runDir);
  return { conf: join(dir, 'bird.conf'), ctl: join(dir, 'bird.ctl'), pid: join(dir, 'bird.pid'), log: join(dir, 'bird.log') };
}

export interface BgpPeerSpec {
  address: string;
  as: number;
}

export interface BirdConfig {
  /** BGP router id, dotted quad (see routerIdFor). */
  routerId: string;
  localAs: number;
  peers: readonly BgpPeerSpec[];
  /** The addresses announced, one /128 each. */
  addresses: readonly string[];
}

/**
 * A stable BGP router id from the host's name: BIRD needs one and cannot
 * pick it from an IPv4 address on an IPv6-only host. Hosts only speak to the
 * upstream, so a collision between two of them does no harm; one with the
 * upstream's own id would refuse the session (rename, or set an upstream id
 * outside 10.0.0.0/8 as the docs' example does).
 */
export function routerIdFor(hostName: string): string {
  const h = createHash('sha256').update(hostName).digest();
  return `10.${h[0]!}.${h[1]!}.${(h[2]! % 254) + 1}`;
}

function checkAs(as: number): number {
  if (!Number.isInteger(as) || as < 1 || as > 4294967295) throw new UcloudError('VALIDATION_FAILED', `an AS number is 1-4294967295, not ${as}`);
  return as;
}

export function renderBirdConf(cfg: BirdConfig, logFile?: string): string {
  if (!/^(\d{1,3}\.){3}\d{1,3}$/.test(cfg.routerId)) throw new UcloudError('VALIDATION_FAILED', `router id must be a dotted quad, not "${cfg.routerId}"`);
  const addresses = [...new Set(cfg.addresses.map(canonicalIPv6))].sort();
  const lines = [
    '# Written by ucloud; rewritten whenever the set of announced VM addresses changes. Do not edit.',
    `router id ${cfg.routerId};`,
    ...(logFile ? [`log "${logFile}" { info, remote, warning, error, auth, fatal, bug };`] : []),
    'ipv6 table vms;',
    'protocol device {}',
    'protocol static vm_nics {',
    '\tipv6 { table vms; };',
    ...addresses.map((a) => `\troute ${a}/128 unreachable;`),
    '}',
    ...cfg.peers.flatMap((p, i) => [
      `protocol bgp upstream${i} {`,
      `\tdescription "${canonicalIPv6(p.address)}";`,
      `\tlocal as ${checkAs(cfg.localAs)};`,
      `\tneighbor ${canonicalIPv6(p.address)} as ${checkAs(p.as)};`,
      '\tipv6 { table vms; import none; export all; };',
      '}',
    ]),
    '',
  ];
  return lines.join('\n');
}

/** The pid of this host's BIRD, or undefined. */
export async function birdPid(runDir: string): Promise<number | undefined> {
  const paths = birdPaths(runDir);
  return daemonPid(paths.pid, 'bird', '-c', paths.conf);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface BirdState {
  pid: number;
  /** What this call did: nothing, started BIRD, or reloaded its config. */
  action: 'none' | 'started' | 'reloaded';
  paths: BirdPaths;
}

async function failure(message: string, paths: BirdPaths, cause?: unknown): Promise<UcloudError> {
  return new UcloudError('COMMAND_FAILED', message, { details: { log: (await tailLines(paths.log, 8)).join('\n'), conf: paths.conf }, ...(cause ? { cause } : {}) });
}

/**
 * Makes this host's BIRD run with the wanted config: starts it when it is not
 * running, reloads it (`birdc configure`, sessions stay up) when the config
 * changed, and otherwise does nothing. A config BIRD refuses never replaces
 * the one it runs with (checked with `bird -p` first).
 */
export async function ensureBird(ip: Ip, opts: { runDir: string } & BirdConfig): Promise<BirdState> {
  const paths = birdPaths(opts.runDir);
  const want = renderBirdConf(opts, paths.log);
  const have = await readText(paths.conf);
  const running = await birdPid(opts.runDir);
  if (running !== undefined && have === want) return { pid: running, action: 'none', paths };

  await mkdir(resolve(opts.runDir), { recursive: true });
  const tmp = `${paths.conf}.new`;
  await writeFile(tmp, want);
  try {
    await ip.exec('bird', ['-p', '-c', tmp], { timeoutMs: 10_000 });
  } catch (err) {
    await rm(tmp, { force: true });
    throw await failure('BIRD refused the configuration ucloud wrote', paths, err);
  }
  await rename(tmp, paths.conf);
  if (running !== undefined) {
    try {
      await ip.exec('birdc', ['-s', paths.ctl, 'configure'], { timeoutMs: 10_000 });
    } catch (err) {
      throw await failure('birdc configure failed', paths, err);
    }
    return { pid: running, action: 'reloaded', paths };
  }
  await rm(paths.ctl, { force: true });
  try {
    await ip.exec('bird', ['-c', paths.conf, '-s', paths.ctl, '-P', paths.pid], { timeoutMs: 10_000 });
  } catch (err) {
    throw await failure('BIRD did not start', paths, err);
  }
  for (let i = 0; i < 40; i++) {
    const pid = await birdPid(opts.runDir);
    if (pid !== undefined) return { pid, action: 'started', paths };
    await sleep(50);
  }
  throw await failure('BIRD exited right after starting', paths);
}

/**
 * Stops this host's BIRD (SIGTERM, SIGKILL after 5 s): its sessions close and
 * the upstream drops every route it learnt from here. Returns whether one ran.
 */
export async function stopBird(runDir: string): Promise<boolean> {
  const paths = birdPaths(runDir);
  const pid = await birdPid(runDir);
  if (pid !== undefined) await stopDaemon(pid, () => isDaemonWith(pid, 'bird', '-c', paths.conf));
  await rm(paths.pid, { force: true });
  await rm(paths.ctl, { force: true });
  return pid !== undefined;
}
