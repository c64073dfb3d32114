import { CheckFailed, type Check } from '../../common/preflight.js';
import { run } from '../../common/exec.js';

// etcd members whose clocks disagree complain and misjudge their peers, the
// migration TLS certificates have validity windows, and records carry times
// people compare across hosts: a cluster member keeps its clock synchronised.
// Whichever time daemon the host runs is asked; none answering is said plainly.

const FIX = 'run a time daemon: `apt-get install chrony` (or `systemctl enable --now systemd-timesyncd`), with the same NTP servers on every host';

type Answer = { synced: boolean; by: string; detail: string } | { unknown: string };

async function ask(cmd: string, args: string[], env: NodeJS.ProcessEnv | undefined): Promise<{ stdout: string; code: number } | string> {
  try {
    return await run(cmd, args, { timeoutMs: 5000, okCodes: [0, 1, 2], ...(env ? { env } : {}) });
  } catch (err) {
    return (err as Error).message;
  }
}

async function timedatectl(env?: NodeJS.ProcessEnv): Promise<Answer> {
  const r = await ask('timedatectl', ['show', '-p', 'NTPSynchronized', '--value'], env);
  if (typeof r === 'string') return { unknown: `timedatectl: ${r}` };
  const v = r.stdout.trim();
  if (r.code !== 0 || (v !== 'yes' && v !== 'no')) return { unknown: `timedatectl: exit ${r.code}${v ? `, "${v}"` : ''}` };
  return { synced: v === 'yes', by: 'timedatectl', detail: `NTPSynchronized=${v}` };
}

async function chronyc(env?: NodeJS.ProcessEnv): Promise<Answer> {
  const r = await ask('chronyc', ['-n', 'tracking'], env);
  if (typeof r === 'string') return { unknown: `chronyc: ${r}` };
  const leap = /^Leap status\s*:\s*(.+)$/m.exec(r.stdout)?.[1]?.trim();
  if (r.code !== 0 || !leap) return { unknown: `chronyc: exit ${r.code}, no leap status (is chronyd running?)` };
  return { synced: leap !== 'Not synchronised', by: 'chronyc', detail: `leap status ${leap}` };
}

async function ntpstat(env?: NodeJS.ProcessEnv): Promise<Answer> {
  const r = await ask('ntpstat', [], env);
  if (typeof r === 'string') return { unknown: `ntpstat: ${r}` };
  // 0: synchronised, 1: not, 2: ntpd cannot be asked.
  if (r.code === 2) return { unknown: 'ntpstat: ntpd cannot be asked (exit 2)' };
  return { synced: r.code === 0, by: 'ntpstat', detail: r.stdout.split('\n')[0]!.trim() };
}

/** The first time daemon that answers decides. `env` (its PATH) chooses which programs are found. */
export function clockSync(env?: NodeJS.ProcessEnv): Check {
  return {
    name: 'clock synchronised',
    async run() {
      const unknown: string[] = [];
      for (const probe of [timedatectl, chronyc, ntpstat]) {
        const a = await probe(env);
        if ('unknown' in a) {
          unknown.push(a.unknown);
          continue;
        }
        if (!a.synced) throw new CheckFailed(`${a.by} says the clock is not synchronised (${a.detail})`, FIX);
        return `${a.by}: ${a.detail}`;
      }
      throw new CheckFailed(`cannot tell whether the clock is synchronised: no time daemon answered (${unknown.join('; ')})`, FIX);
    },
  };
}
