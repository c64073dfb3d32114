import { describe, expect, it } from 'vitest';
import { outcomeAfterMigrate, type MigrateOutcome } from '../../src/host/migration/source.js';
import type { MigrationInfo, StatusInfo } from '../../src/host/qemu/index.js';

const info = (status?: string): MigrationInfo => (status === undefined ? {} : { status });
const state = (status: string): StatusInfo => ({ status, running: status === 'running' });

// After `migrate` was issued, only QEMU's positive word keeps the VM on the source: anything in doubt must not free the destination.
describe('outcomeAfterMigrate', () => {
  const table: [string, MigrationInfo | undefined, StatusInfo | undefined, MigrateOutcome][] = [
    ['completed and postmigrate', info('completed'), state('postmigrate'), 'completed'],
    ['completed before postmigrate', info('completed'), state('finish-migrate'), 'completed'],
    ['completed, run state unknown', info('completed'), undefined, 'completed'],
    ['postmigrate, query-migrate lost', undefined, state('postmigrate'), 'completed'],
    ['failed, guest resumed here', info('failed'), state('running'), 'failed'],
    ['failed, run state unknown', info('failed'), undefined, 'failed'],
    ['cancelled', info('cancelled'), state('running'), 'cancelled'],
    ['never began, guest runs here', info('none'), state('running'), 'failed'],
    ['no migration at all, guest runs here', info(), state('running'), 'failed'],
    ['still active', info('active'), state('running'), 'active'],
    ['in setup', info('setup'), state('running'), 'active'],
    ['cancelling', info('cancelling'), state('running'), 'active'],
    ['QMP unreachable', undefined, undefined, 'unknown'],
    ['query-migrate lost, guest runs', undefined, state('running'), 'unknown'],
    ['never began, guest paused', info('none'), state('paused'), 'unknown'],
  ];
  it.each(table)('%s', (_name, i, s, want) => {
    expect(outcomeAfterMigrate(i, s)).toBe(want);
  });
});
