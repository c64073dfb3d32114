import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

// A "guest" for metadata tests: a network namespace whose eth0 is the far end
// of a veth pair, with a VM's MAC and SLAAC addresses; the near end is a port
// of the VM's bridge (or of nothing).

export const IP = ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip'].find((p) => existsSync(p));

export const ip = (...args: string[]) => execFileSync(IP!, args, { stdio: 'pipe' }).toString();

/** A namespace whose eth0 is the far end of a veth; the near end joins `master` when given. */
export function guestNs(name: string, near: string, mac: string, master: string | undefined, addrs: string[]): void {
  ip('netns', 'add', name);
  ip('link', 'add', near, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', name);
  ip('link', 'set', near, 'addrgenmode', 'none');
  if (master) ip('link', 'set', near, 'master', master);
  ip('link', 'set', near, 'up');
  ip('-n', name, 'link', 'set', 'lo', 'up');
  ip('-n', name, 'link', 'set', 'eth0', 'address', mac, 'addrgenmode', 'none');
  for (const a of addrs) ip('-n', name, 'addr', 'add', `${a}/64`, 'dev', 'eth0', 'nodad');
  ip('-n', name, 'link', 'set', 'eth0', 'up');
}

/** Removes a namespace (its veth goes with it); quiet when it was never made. */
export function removeNs(name: string): void {
  try {
    ip('netns', 'del', name);
  } catch {
    /* not made */
  }
}
