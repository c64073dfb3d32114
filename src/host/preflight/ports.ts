import { readdir, readFile, readlink } from 'node:fs/promises';
import { CheckFailed, type Check } from '../../common/preflight.js';

// An incoming migration's QEMU listens on a port of migration_ports: another
// service holding one makes migrations to this host fail now and then, which
// is hard to trace back. QEMUs listening there are ucloud's own migrations.

interface Listener {
  port: number;
  inode: string;
}

/** TCP sockets in LISTEN state in this network namespace, IPv4 and IPv6. */
async function listeners(): Promise<Listener[]> {
  const out: Listener[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = await readFile(file, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // local_address is ADDR:PORT in hex; state 0A is LISTEN.
      if (f.length > 9 && f[3] === '0A') out.push({ port: parseInt(f[1]!.split(':')[1]!, 16), inode: f[9]! });
    }
  }
  return out;
}

/** The processes holding these socket inodes: inode → "comm (pid N)". */
async function owners(inodes: Set<string>): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  const pids = (await readdir('/proc').catch(() => [])).filter((p) => /^\d+$/.test(p));
  for (const pid of pids) {
    const fds = await readdir(`/proc/${pid}/fd`).catch(() => []);
    for (const fd of fds) {
      const m = /^socket:\[(\d+)\]$/.exec(await readlink(`/proc/${pid}/fd/${fd}`).catch(() => ''));
      if (!m || !inodes.has(m[1]!) || found.has(m[1]!)) continue;
      const comm = (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '?')).trim();
      found.set(m[1]!, `${comm} (pid ${pid})`);
    }
    if (found.size === inodes.size) break;
  }
  return found;
}

/** No process but an incoming migration's QEMU listens on a port of migration_ports. */
export const migrationPorts: Check = {
  name: 'migration ports free',
  async run(c) {
    const { first, last } = c.migrationPorts;
    const inRange = (await listeners()).filter((l) => l.port >= first && l.port <= last);
    const who = await owners(new Set(inRange.map((l) => l.inode)));
    const byPort = new Map(inRange.map((l) => [l.port, who.get(l.inode) ?? 'a process of another user or namespace']));
    const taken = [...byPort].filter(([, owner]) => !owner.startsWith('qemu-system'));
    if (taken.length) {
      throw new CheckFailed(
        `migration_ports ${first}-${last}: ${taken.slice(0, 5).map(([p, o]) => `${p} is held by ${o}`).join(', ')}${taken.length > 5 ? ` and ${taken.length - 5} more` : ''}`,
        'stop that service or move it off these ports, or set migration_ports (alike on every host) to a range nothing else uses',
      );
    }
    const migrating = byPort.size - taken.length;
    return `${last - first + 1} ports${migrating ? `, ${migrating} in use by incoming migrations` : ', none in use'}`;
  },
};
