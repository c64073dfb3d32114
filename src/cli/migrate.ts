import { UcloudError } from '../common/errors.js';
import { formatSize } from '../common/units.js';
import type { Client } from '../client/client.js';
import type { Vm, VmMigration } from '../model/index.js';
import { note } from './output.js';
import { FailedState, vmEvents, Waker } from './wait.js';

// `vm migrate --wait`: follows one migration (by its id, so an older or a later
// one is never taken for it) until it settles, on stderr: a bar redrawn in place
// on a terminal, else one line per phase and per quarter of the RAM copied.

const BAR = 30;
/** Between reads of the progress (RAM copied) while a transfer runs; the end comes as an event. */
const PROGRESS_MS = 1000;

/** "1.2 s" / "37 ms". */
const ms = (n: number) => (n >= 1000 ? `${(n / 1000).toFixed(1)} s` : `${n} ms`);

/** "web1: migrated hv1 → hv2 in 4.2 s, downtime 37 ms, 256MiB RAM at 812 Mbit/s". */
export function describeMigration(name: string, m: VmMigration): string {
  const route = `${m.source} → ${m.destination ?? '?'}`;
  if (m.phase === 'completed') {
    const f = m.figures;
    if (!f) return `${name}: migrated ${route}`;
    const disk = f.diskBytes ? `, ${formatSize(f.diskBytes)} disk` : '';
    const rate = f.mbps !== undefined ? ` at ${Math.round(f.mbps)} Mbit/s` : '';
    return `${name}: migrated ${route} in ${ms(f.totalMs)}, downtime ${ms(f.downtimeMs)}, ${formatSize(f.ramBytes)} RAM${disk}${rate}`;
  }
  const err = m.error ? `: ${m.error.code} ${m.error.message}` : '';
  if (m.phase === 'failed' || m.phase === 'cancelled') return `${name}: migration ${route} ${m.phase}${err}; the VM runs on ${m.source}`;
  return `${name}: ${m.phase} ${route}${m.mode === 'copy' ? ' (disks copied)' : ''}${m.cancel ? ', cancelling' : ''}`;
}

/** The RAM copied so far: "45% 120MiB/256MiB 812 Mbit/s"; with a disk copy, its bytes first ("disks 40MiB/128MiB, "). */
function progressText(p: NonNullable<VmMigration['progress']>): string {
  const pct = p.ramTotalBytes > 0 ? Math.min(100, Math.floor((p.ramBytes / p.ramTotalBytes) * 100)) : 0;
  const disks = p.diskTotalBytes ? `disks ${formatSize(p.diskBytes ?? 0)}/${formatSize(p.diskTotalBytes)}, ` : '';
  return `${disks}${String(pct).padStart(3)}% ${formatSize(p.ramBytes)}/${formatSize(p.ramTotalBytes)} ${Math.round(p.mbps)} Mbit/s`;
}

/**
 * Polls the VM until migration `id` ends. Completed: the VM. Failed: FailedState
 * (exit code 7) with the recorded error; cancelled counts as done when `cancelled`
 * is what was asked. WAIT_TIMEOUT when time runs out (the migration goes on).
 */
export async function followMigration(client: Client, ref: string, id: string, timeoutMs: number, opts: { cancelled?: boolean } = {}): Promise<Vm> {
  const tty = process.stderr.isTTY === true;
  const deadline = Date.now() + timeoutMs;
  let lastLine = '';
  let quarter = 0;
  let drawn = false;
  const endBar = () => {
    if (drawn) process.stderr.write('\n');
    drawn = false;
  };
  let waker: Waker | undefined;
  try {
    for (;;) {
      const vm = await client.vms.get(ref);
      waker ??= new Waker(client, vmEvents(vm));
      const m = vm.migration?.id === id ? vm.migration : undefined;
      const ended = !m && vm.lastMigration?.id === id ? vm.lastMigration : undefined;
      if (!m && !ended) throw new UcloudError('NO_MIGRATION', `VM "${vm.name}" has no migration ${id} (another one replaced it)`);
      const cur = (m ?? ended)!;
      const line = describeMigration(vm.name, cur);
      if (line !== lastLine) {
        endBar();
        note(line);
        lastLine = line;
      }
      if (cur.phase === 'transferring' && cur.progress) {
        const p = cur.progress;
        if (tty) {
          const frac = p.ramTotalBytes > 0 ? Math.min(1, p.ramBytes / p.ramTotalBytes) : 0;
          const filled = Math.round(frac * BAR);
          process.stderr.write(`\r${vm.name}: [${'='.repeat(filled)}${' '.repeat(BAR - filled)}] ${progressText(p)}\x1b[K`);
          drawn = true;
        } else {
          // One line per quarter crossed: logs and CI stay short.
          const q = p.ramTotalBytes > 0 ? Math.floor((p.ramBytes / p.ramTotalBytes) * 4) : 0;
          if (q >= quarter) {
            note(`${vm.name}: RAM ${progressText(p)}`);
            quarter = Math.min(4, q) + 1;
          }
        }
      }
      if (ended) {
        endBar();
        if (ended.phase === 'completed' || (ended.phase === 'cancelled' && opts.cancelled)) return vm;
        throw new FailedState(`VM "${vm.name}": migration ${ended.phase}${ended.error ? `: ${ended.error.code} ${ended.error.message}` : ''}`);
      }
      if (Date.now() > deadline) {
        endBar();
        throw new UcloudError('WAIT_TIMEOUT', `VM "${vm.name}" is still migrating after ${Math.round(timeoutMs / 1000)} s`, { hint: 'the migration goes on: follow it with `ucloud vm migrate <name> --wait`, or stop it with `--cancel`' });
      }
      await waker.next(PROGRESS_MS);
    }
  } finally {
    waker?.close();
  }
}

/**
 * `vm migrate NAME [--to HOST] [--cancel] [--wait]`. With --wait and neither
 * --to nor --cancel on a VM already migrating, follows that migration instead
 * of asking for another.
 */
export async function migrateVm(client: Client, name: string, o: { to?: string; cancel?: boolean; wait?: boolean; timeoutMs: number }): Promise<Vm> {
  let vm: Vm;
  if (o.cancel) vm = await client.vms.migrate(name, { cancel: true });
  else {
    const cur = o.wait && o.to === undefined ? await client.vms.get(name) : undefined;
    vm = cur?.migration ? cur : await client.vms.migrate(name, o.to === undefined ? {} : { to: o.to });
  }
  const m = vm.migration;
  if (!m) return vm;
  if (!o.wait) {
    note(describeMigration(vm.name, m));
    return vm;
  }
  return followMigration(client, vm.id, m.id, o.timeoutMs, { cancelled: o.cancel === true });
}
