import { readdirSync, readFileSync } from 'node:fs';

/** One QEMU process of the probed VM: where (its run dir says which host), and when it was first and last seen. */
export interface QemuSighting {
  pid: number;
  host: string | undefined;
  firstSeen: number;
  lastSeen: number;
  /** Seen gone (once it was seen). */
  gone?: number;
}

/**
 * Records every QEMU of one VM id on this machine, every `everyMs`: the
 * evidence that two never ran at once (the HA tests). A QEMU carries its VM's
 * marker (`process=ucloud-vm=<id>`) and its host's run dir (its -pidfile).
 */
export class QemuProbe {
  readonly seen = new Map<number, QemuSighting>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly vmId: string,
    /** host name → its run dir. */
    private readonly runDirs: Record<string, string>,
    everyMs = 25,
  ) {
    this.look();
    this.timer = setInterval(() => this.look(), everyMs);
  }

  private look(): void {
    const now = Date.now();
    const live = new Set<number>();
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      let argv: string[];
      try {
        argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      } catch {
        continue;
      }
      if (!argv.some((a) => a.includes(`process=ucloud-vm=${this.vmId}`))) continue;
      const pid = Number(entry);
      live.add(pid);
      const pidFile = argv[argv.indexOf('-pidfile') + 1] ?? '';
      const host = Object.entries(this.runDirs).find(([, dir]) => pidFile.startsWith(`${dir}/`))?.[0];
      const s = this.seen.get(pid);
      if (s) s.lastSeen = now;
      else this.seen.set(pid, { pid, host, firstSeen: now, lastSeen: now });
    }
    for (const s of this.seen.values()) if (!live.has(s.pid) && s.gone === undefined) s.gone = now;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Pairs of sightings that overlapped in time (should be none). */
  overlaps(): [QemuSighting, QemuSighting][] {
    const all = [...this.seen.values()];
    const out: [QemuSighting, QemuSighting][] = [];
    for (let i = 0; i < all.length; i++) {
      for (let j = i + 1; j < all.length; j++) {
        const a = all[i]!;
        const b = all[j]!;
        const aEnd = a.gone ?? Infinity;
        const bEnd = b.gone ?? Infinity;
        if (a.firstSeen < bEnd && b.firstSeen < aEnd) out.push([a, b]);
      }
    }
    return out;
  }

  on(host: string): QemuSighting[] {
    return [...this.seen.values()].filter((s) => s.host === host);
  }
}
