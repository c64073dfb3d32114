import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/common/logger.js';
import { waitForWrites } from '../../src/api/read-your-writes.js';
import { closeWriteLog, openWriteLog, recordWrite, WRITE_LOG_MAX_KEYS } from '../../src/store/write-log.js';

const cache = (prefix: string) => {
  const waited: bigint[] = [];
  return { prefix, revision: '0', waited, waitFor: async (r: bigint) => (waited.push(r), true) };
};

describe('write log: the writes committed while a request is open', () => {
  it('records what is committed between open and close, and nothing else', () => {
    recordWrite('5', ['vm/before']);
    const log = openWriteLog();
    recordWrite('7', ['vm/a', 'vm-name/alice/a']);
    recordWrite('6', ['user/alice']);
    closeWriteLog(log);
    recordWrite('9', ['vm/after']);
    expect(log.revision).toBe(7n);
    expect([...log.keys].sort()).toEqual(['user/alice', 'vm-name/alice/a', 'vm/a']);
    expect(log.overflowed).toBe(false);
  });

  it('requests open at once each see their own writes (and, harmlessly, each other\'s)', () => {
    const a = openWriteLog();
    recordWrite('10', ['vm/a']);
    const b = openWriteLog();
    recordWrite('11', ['vm/b']);
    closeWriteLog(a);
    recordWrite('12', ['key/b']);
    closeWriteLog(b);
    expect(a.revision).toBe(11n);
    expect(a.keys.has('vm/a')).toBe(true);
    expect(b.revision).toBe(12n);
    expect([...b.keys].sort()).toEqual(['key/b', 'vm/b']);
  });

  it('a log past its key bound stands for everything: every cache waits for its last revision', async () => {
    const log = openWriteLog();
    for (let i = 0; i <= WRITE_LOG_MAX_KEYS; i++) recordWrite(String(100 + i), [`vm/${i}`]);
    recordWrite('99', ['user/x']);
    closeWriteLog(log);
    expect(log.overflowed).toBe(true);
    expect(log.keys.size).toBe(0);
    expect(log.revision).toBe(BigInt(100 + WRITE_LOG_MAX_KEYS));
    const vms = cache('vm/');
    const users = cache('user/');
    await waitForWrites([vms, users], log, silentLogger);
    expect(vms.waited).toEqual([log.revision]);
    expect(users.waited).toEqual([log.revision]);
  });

  it('only caches holding a written key wait; a request that wrote nothing waits for none', async () => {
    const log = openWriteLog();
    recordWrite('20', ['vm/a']);
    closeWriteLog(log);
    const vms = cache('vm/');
    const users = cache('user/');
    await waitForWrites([vms, users], log, silentLogger);
    expect(vms.waited).toEqual([20n]);
    expect(users.waited).toEqual([]);
    const none = openWriteLog();
    closeWriteLog(none);
    await waitForWrites([vms, users], none, silentLogger);
    expect(vms.waited).toEqual([20n]);
  });
});
