// The `ip` tool (iproute2), optionally aimed at a network namespace, plus the
// way every other wrapper runs its tool (bridge, nft, radvd) in the same place.
// State is always read with `-j` JSON; nothing parses human output.

import { writeFile } from 'node:fs/promises';
import { UcloudError } from '../../common/errors.js';
import { run, type RunOptions, type RunResult } from '../../common/exec.js';
import { canonicalIPv6 } from './addr.js';

const TIMEOUT_MS = 15_000;

/** One entry of `ip -j -d link show`. Only the fields the wrappers read. */
export interface IpLink {
  ifindex: number;
  ifname: string;
  flags: string[];
  mtu: number;
  operstate?: string;
  address?: string;
  /** Name of the bridge this link is a port of. */
  master?: string;
  link_type?: string;
  inet6_addr_gen_mode?: string;
  linkinfo?: {
    info_kind?: string;
    info_data?: Record<string, unknown>;
    info_slave_kind?: string;
    info_slave_data?: Record<string, unknown>;
  };
}

export interface IpAddr {
  family: 'inet' | 'inet6';
  local: string;
  prefixlen: number;
  scope: string;
  tentative?: boolean;
  dadfailed?: boolean;
  nodad?: boolean;
}

function isMissingDevice(err: unknown): boolean {
  if (!(err instanceof UcloudError) || err.code !== 'COMMAND_FAILED') return false;
  // The tool boundary: iproute2 says so only in text ("Device "x" does not exist.",
  // "Cannot find device "x"").
  const stderr = String(err.details?.stderr ?? '');
  return /does not exist|Cannot find device/i.test(stderr);
}

/**
 * Runs iproute2 and friends in the host's network namespace, or with
 * `netns` set, inside that named namespace (`ip -n`, `bridge -n`,
 * `ip netns exec` for the rest). Tests give each fake host its own namespace.
 */
export class Ip {
  constructor(readonly netns?: string) {}

  /** `ip [-n ns] <args>`. */
  ip(args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    return run('ip', this.netns ? ['-n', this.netns, ...args] : args, { timeoutMs: TIMEOUT_MS, ...opts });
  }

  /** `bridge [-n ns] <args>`. */
  bridge(args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    return run('bridge', this.netns ? ['-n', this.netns, ...args] : args, { timeoutMs: TIMEOUT_MS, ...opts });
  }

  /** Any program, inside the namespace when there is one (`ip netns exec`). */
  exec(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    if (!this.netns) return run(cmd, args, { timeoutMs: TIMEOUT_MS, ...opts });
    return run('ip', ['netns', 'exec', this.netns, cmd, ...args], { timeoutMs: TIMEOUT_MS, ...opts });
  }

  async json<T>(args: readonly string[]): Promise<T> {
    const { stdout } = await this.ip(['-j', ...args]);
    return (stdout.trim() ? JSON.parse(stdout) : []) as T;
  }

  /** Details of one link, or undefined when there is no such link. */
  async linkShow(name: string): Promise<IpLink | undefined> {
    try {
      const links = await this.json<IpLink[]>(['-d', 'link', 'show', 'dev', name]);
      return links[0];
    } catch (err) {
      if (isMissingDevice(err)) return undefined;
      throw err;
    }
  }

  async linkExists(name: string): Promise<boolean> {
    return (await this.linkShow(name)) !== undefined;
  }

  /** All links, optionally only those of one kind (`type bridge`, `type vxlan`…). */
  async links(type?: string): Promise<IpLink[]> {
    return this.json<IpLink[]>(['-d', 'link', 'show', ...(type ? ['type', type] : [])]);
  }

  async linkSetUp(name: string): Promise<void> {
    await this.ip(['link', 'set', 'dev', name, 'up']);
  }

  async linkSet(name: string, args: readonly string[]): Promise<void> {
    await this.ip(['link', 'set', 'dev', name, ...args]);
  }

  /** Deletes a link; a link that is already gone is fine. Returns whether it existed. */
  async linkDel(name: string): Promise<boolean> {
    try {
      await this.ip(['link', 'del', 'dev', name]);
      return true;
    } catch (err) {
      if (isMissingDevice(err)) return false;
      throw err;
    }
  }

  async addrList(dev: string): Promise<IpAddr[]> {
    const rows = await this.json<{ addr_info?: IpAddr[] }[]>(['addr', 'show', 'dev', dev]);
    return rows[0]?.addr_info ?? [];
  }

  /**
   * Adds `cidr` to `dev` unless it is already there (same address and length).
   * Returns whether it was added.
   */
  async addrAdd(dev: string, cidr: string, opts: { nodad?: boolean } = {}): Promise<boolean> {
    const [addr, len] = cidr.split('/') as [string, string | undefined];
    const v6 = addr.includes(':');
    const want = v6 ? canonicalIPv6(addr) : addr;
    const have = await this.addrList(dev);
    if (have.some((a) => (v6 ? a.family === 'inet6' && canonicalIPv6(a.local) === want : a.local === want) && String(a.prefixlen) === len)) {
      return false;
    }
    await this.ip(['addr', 'add', cidr, 'dev', dev, ...(opts.nodad && v6 ? ['nodad'] : [])]);
    return true;
  }

  /**
   * Writes a sysctl (`net/ipv6/conf/br1/accept_ra` or the dotted form without
   * interface names) in this namespace. /proc/sys/net is per namespace, so it
   * is written by a process that runs inside it.
   */
  async setSysctl(key: string, value: string | number): Promise<void> {
    const path = `/proc/sys/${key.includes('/') ? key : key.replace(/\./g, '/')}`;
    if (!this.netns) {
      await writeFile(path, String(value));
      return;
    }
    await this.exec('sh', ['-c', 'printf "%s\\n" "$1" > "$2"', 'sh', String(value), path]);
  }

  async getSysctl(key: string): Promise<string> {
    const path = `/proc/sys/${key.includes('/') ? key : key.replace(/\./g, '/')}`;
    const { stdout } = await this.exec('cat', [path]);
    return stdout.trim();
  }
}
