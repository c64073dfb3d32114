import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Client } from '../../src/client/client.js';
import { describeMigration, followMigration } from '../../src/cli/migrate.js';
import { FailedState } from '../../src/cli/wait.js';
import type { Vm, VmMigration } from '../../src/model/index.js';

// `vm migrate --wait` off a terminal: one line per phase, one per quarter of
// the RAM copied, then the time and the downtime QEMU reported.

const MiB = 2 ** 20;
const base: VmMigration = { id: 'm1', source: 'hv1', destination: 'hv2', phase: 'requested', mode: 'shared', requestedBy: 'admin', startedAt: 't', updatedAt: 't' };
const vmWith = (m: Partial<VmMigration> | undefined, last?: Partial<VmMigration>): Vm =>
  ({ id: 'v1', name: 'web1', ...(m ? { migration: { ...base, ...m } } : {}), ...(last ? { lastMigration: { ...base, ...last } } : {}) }) as Vm;

/** A client whose `vms.get` answers each of `steps` in turn (the last one from then on). */
const clientOf = (steps: Vm[]) => {
  let i = 0;
  return { vms: { get: async () => steps[Math.min(i++, steps.length - 1)]! } } as unknown as Client;
};

describe('vm migrate --wait progress (not a terminal)', () => {
  let lines: string[];
  beforeEach(() => {
    lines = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => {
      lines.push(...String(s).split('\n').filter(Boolean));
      return true;
    });
    vi.useFakeTimers({ toFake: ['setTimeout'] });
  });
  afterEach(() => {
    vi.useRealTimers();
    vi.restoreAllMocks();
  });

  const run = async (p: Promise<unknown>) => {
    const settled = p.then(
      (v) => v,
      (e: unknown) => e,
    );
    await vi.runAllTimersAsync();
    return settled;
  };

  it('prints each phase once, RAM by quarters with the rate, then the downtime', async () => {
    const progress = (ramBytes: number, mbps: number) => vmWith({ phase: 'transferring', progress: { ramBytes, ramTotalBytes: 256 * MiB, mbps } });
    const steps = [
      vmWith({ phase: 'requested' }),
      vmWith({ phase: 'preparing' }),
      vmWith({ phase: 'listening' }),
      progress(0, 0),
      progress(10 * MiB, 500),
      progress(140 * MiB, 812),
      progress(200 * MiB, 790),
      vmWith(undefined, { phase: 'completed', figures: { totalMs: 3100, downtimeMs: 41, ramBytes: 256 * MiB, mbps: 812.4 } }),
    ];
    const vm = await run(followMigration(clientOf(steps), 'v1', 'm1', 60_000));
    expect((vm as Vm).lastMigration?.phase).toBe('completed');
    expect(lines).toEqual([
      'web1: requested hv1 → hv2',
      'web1: preparing hv1 → hv2',
      'web1: listening hv1 → hv2',
      'web1: transferring hv1 → hv2',
      'web1: RAM   0% 0B/256MiB 0 Mbit/s',
      'web1: RAM  54% 140MiB/256MiB 812 Mbit/s',
      'web1: RAM  78% 200MiB/256MiB 790 Mbit/s',
      'web1: migrated hv1 → hv2 in 3.1 s, downtime 41 ms, 256MiB RAM at 812 Mbit/s',
    ]);
  });

  it('a failed migration: FailedState with the recorded error; a cancel that was asked for ends well', async () => {
    const failed = vmWith(undefined, { phase: 'failed', error: { code: 'MIGRATION_DESTINATION_LOST', message: 'hv2 went away', at: 't' } });
    const err = await run(followMigration(clientOf([vmWith({ phase: 'preparing' }), failed]), 'v1', 'm1', 60_000));
    expect(err).toBeInstanceOf(FailedState);
    expect((err as Error).message).toContain('MIGRATION_DESTINATION_LOST hv2 went away');
    expect(lines.at(-1)).toBe('web1: migration hv1 → hv2 failed: MIGRATION_DESTINATION_LOST hv2 went away; the VM runs on hv1');
    const cancelled = vmWith(undefined, { phase: 'cancelled', cancel: true });
    expect(((await run(followMigration(clientOf([cancelled]), 'v1', 'm1', 60_000, { cancelled: true }))) as Vm).lastMigration?.phase).toBe('cancelled');
  });

  it('another migration than the one followed: NO_MIGRATION, never taken for it', async () => {
    const other = vmWith({ id: 'm2' });
    expect(await run(followMigration(clientOf([other]), 'v1', 'm1', 60_000))).toMatchObject({ code: 'NO_MIGRATION' });
    expect(describeMigration('web1', { ...base, destination: undefined, mode: 'copy', cancel: true })).toBe('web1: requested hv1 → ? (disks copied), cancelling');
  });
});
