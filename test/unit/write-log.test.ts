import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/common/logger.js';
import { waitForWrites } from '../../src/api/read-your-writes.js';
import { topLevelPrefix, WriteJournal } from '../../src/store/write-log.js';

const cache = (prefix: string) => {
  const waited: bigint[] = [];
  return { prefix, revision: '0', waited, waitFor: async (r: bigint) => (waited.push(r), true) };
};

describe('write log: per top-level prefix, what is committed while a request is open', () => {
  it('records what is committed between open and close, and nothing else', () => {
    const j = new WriteJournal();
    j.record('5', ['vm/before']);
    const log = j.open();
    j.record('7', ['vm/a', 'vm-name/alice/a']);
    j.record('6', ['vm/b', 'user/alice']);
    j.close(log);
    j.record('9', ['vm/after']);
    expect(Object.fromEntries(log.revisions)).toEqual({ 'vm/': 7n, 'vm-name/': 7n, 'user/': 6n });
  });

  it('requests open at once each see their own writes (and those of each other)', () => {
    const j = new WriteJournal();
    const a = j.open();
    j.record('10', ['vm/a']);
    const b = j.open();
    j.record('11', ['key/b']);
    j.close(a);
    j.record('12', ['vm/b']);
    j.close(b);
    expect(Object.fromEntries(a.revisions)).toEqual({ 'vm/': 10n, 'key/': 11n });
    expect(Object.fromEntries(b.revisions)).toEqual({ 'key/': 11n, 'vm/': 12n });
  });

  it('a cache waits for the last write under its own prefix, not a later one elsewhere it will never see', async () => {
    const j = new WriteJournal();
    const log = j.open();
    j.record('20', ['vm/a', 'vm-name/alice/a']);
    // The request's audit event (and any other write) lands after, under a prefix no cache follows.
    j.record('25', ['event/x']);
    j.record('22', ['quota/alice']);
    j.close(log);
    const vms = cache('vm/');
    const quotas = cache('quota/');
    const users = cache('user/');
    await waitForWrites([vms, quotas, users], log, silentLogger);
    expect(vms.waited).toEqual([20n]);
    expect(quotas.waited).toEqual([22n]);
    expect(users.waited).toEqual([]);
  });

  it('a request during which nothing was written waits for no cache', async () => {
    const j = new WriteJournal();
    j.record('29', ['vm/before']);
    const log = j.open();
    j.close(log);
    j.record('30', ['vm/after']);
    const vms = cache('vm/');
    await waitForWrites([vms], log, silentLogger);
    expect(log.revisions.size).toBe(0);
    expect(vms.waited).toEqual([]);
  });

  it('top-level prefixes', () => {
    expect(topLevelPrefix('vm/abc')).toBe('vm/');
    expect(topLevelPrefix('vm-name/alice/web')).toBe('vm-name/');
    expect(topLevelPrefix('host-alive/')).toBe('host-alive/');
    expect(topLevelPrefix('meta')).toBe('meta');
  });
});
