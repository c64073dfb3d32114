// Who used the CPU during a window: /proc sampled every few tens of
// milliseconds (processes; QEMU's threads one by one, named by
// debug-threads=on), so a benchmark can say what ran beside the job it timed.
import { readdirSync, readFileSync } from 'node:fs';

const TICK_MS = 1000 / 100; // USER_HZ on Linux

interface Sample {
  at: number;
  ticks: Map<string, number>;
}

function statTicks(path: string): { comm: string; ticks: number } | undefined {
  try {
    const s = readFileSync(path, 'utf8');
    const close = s.lastIndexOf(')');
    const comm = s.slice(s.indexOf('(') + 1, close);
    const f = s.slice(close + 2).split(' ');
    // Fields 14 and 15 (utime, stime), counted from after the comm.
    return { comm, ticks: Number(f[11]) + Number(f[12]) };
  } catch {
    return undefined;
  }
}

function snapshot(): Sample {
  const ticks = new Map<string, number>();
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const p = statTicks(`/proc/${pid}/stat`);
    if (!p) continue;
    if (p.comm.startsWith('qemu-system') || p.comm.startsWith('ucloud-vm')) {
      let tasks: string[] = [];
      try {
        tasks = readdirSync(`/proc/${pid}/task`);
      } catch {
        continue;
      }
      for (const tid of tasks) {
        const t = statTicks(`/proc/${pid}/task/${tid}/stat`);
        if (t) ticks.set(`qemu ${pid}/${t.comm}`, (ticks.get(`qemu ${pid}/${t.comm}`) ?? 0) + t.ticks);
      }
    } else {
      ticks.set(`${p.comm} ${pid}`, p.ticks);
    }
  }
  return { at: Date.now(), ticks };
}

export class CpuSampler {
  private readonly samples: Sample[] = [];
  private readonly timer: NodeJS.Timeout;

  constructor(everyMs = 50) {
    this.samples.push(snapshot());
    this.timer = setInterval(() => this.samples.push(snapshot()), everyMs);
  }

  stop(): void {
    clearInterval(this.timer);
    this.samples.push(snapshot());
  }

  /** CPU milliseconds each process (QEMU: each thread) used between the samples around [from, to] (epoch ms), the largest first. */
  between(from: number, to: number, top = 10): { who: string; ms: number }[] {
    const a = [...this.samples].reverse().find((s) => s.at <= from) ?? this.samples[0]!;
    const b = this.samples.find((s) => s.at >= to) ?? this.samples.at(-1)!;
    const out: { who: string; ms: number }[] = [];
    for (const [k, v] of b.ticks) {
      const ms = (v - (a.ticks.get(k) ?? 0)) * TICK_MS;
      if (ms > 0) out.push({ who: k, ms });
    }
    out.push({ who: `(window ${b.at - a.at} ms)`, ms: 0 });
    return out.sort((x, y) => y.ms - x.ms).slice(0, top + 1);
  }
}
