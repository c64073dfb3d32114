import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { readLivePid } from '../../src/common/proc.js';
import { processService } from '../../src/up/services.js';
import { Supervisor } from '../../src/up/supervisor.js';
import { until } from '../helpers/cluster.js';

interface Rec {
  level: number;
  msg: string;
  service?: string;
  crashes?: number;
  restartInMs?: number;
  lastLines?: string[];
}

// The supervisor `ucloud up` runs its daemons and etcd with, on real processes
// (sh scripts standing in for daemons that crash, recover or linger).
describe('Supervisor', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ucloud-supervisor-'));
  let sup: Supervisor | undefined;
  const records: Rec[] = [];
  const log = pino({ level: 'info' }, new Writable({ write: (c: Buffer, _e, cb) => (records.push(JSON.parse(c.toString()) as Rec), cb()) }));
  // healthyAfterMs far above what a crashing `sh` takes even on a loaded machine, far below the healthy run's 6 s.
  const opts = { healthyAfterMs: 3000, firstDelayMs: 50, maxDelayMs: 400, reportAfter: 3 };
  const crashes = (name: string) => records.filter((r) => r.service === name && r.restartInMs !== undefined);

  afterEach(async () => {
    await sup?.stopAll();
    records.length = 0;
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('backs off exponentially up to a cap, and from the third crash in a row reports the last lines', async () => {
    sup = new Supervisor(join(dir, 'pids1'), log, opts);
    await sup.add(processService('crashy', 'sh', ['-c', 'echo starting; echo "boom: cannot open /nonexistent" >&2; exit 3'], {}));
    await until('six crashes', () => crashes('crashy').length >= 6, 20_000);
    const seen = crashes('crashy').slice(0, 6);
    expect(seen.map((r) => [r.crashes, r.restartInMs])).toEqual([[1, 50], [2, 100], [3, 200], [4, 400], [5, 400], [6, 400]]);
    expect(seen.map((r) => r.level)).toEqual([40, 40, 50, 50, 50, 50]);
    expect(seen[2]!.lastLines).toEqual(['boom: cannot open /nonexistent']);
    expect(seen[2]!.msg).toContain('crashy keeps crashing (exited with code 3); its last lines:\n  | boom: cannot open /nonexistent');
  });

  it('starts the backoff over after a run that lasted healthyAfterMs', async () => {
    // Runs 1-3 crash at once; run 4 lasts 6 s (healthy), then crashes: that crash counts as the first again.
    const counter = join(dir, 'runs');
    writeFileSync(counter, '0');
    const script = `n=$(cat ${counter}); n=$((n+1)); echo $n > ${counter}; if [ $n -eq 4 ]; then sleep 6; fi; echo "run $n ends" >&2; exit 1`;
    sup = new Supervisor(join(dir, 'pids2'), log, opts);
    await sup.add(processService('flaky', 'sh', ['-c', script], {}));
    await until('the crash after the healthy run, and one more', () => crashes('flaky').length >= 5, 20_000);
    expect(crashes('flaky').slice(0, 5).map((r) => r.crashes)).toEqual([1, 2, 3, 1, 2]);
    expect(crashes('flaky')[2]!.lastLines).toEqual(['run 3 ends']);
    expect(Number(readFileSync(counter, 'utf8'))).toBeGreaterThanOrEqual(5);
  });

  it("records each run's pid and start time; a later supervisor stops what an earlier one left running", async () => {
    const pids = join(dir, 'pids3');
    sup = new Supervisor(pids, log, opts);
    await sup.add(processService('sleeper', 'sleep', ['600'], {}));
    const pid = sup.pid('sleeper')!;
    expect(await readLivePid(join(pids, 'sleeper.pid'))).toBe(pid);
    // As if the first supervisor had been killed: its child lives on (sleep does not watch the pipe).
    const next = new Supervisor(pids, log, opts);
    expect(await next.stopLeftovers()).toEqual(['sleeper']);
    expect(records.find((r) => r.msg === 'stopping what an earlier ucloud up left running')).toMatchObject({ service: 'sleeper' });
    await until('the first supervisor saw its child end', () => crashes('sleeper').length === 1, 5000);
    // The first one would start it again after its backoff (a new pid file): it is stopped for the next check.
    await sup.stopAll();
    // A pid file whose pid now names another process (its start time differs) is removed, the process untouched.
    writeFileSync(join(pids, 'other.pid'), `${process.pid} 1\n`);
    expect(await next.stopLeftovers()).toEqual([]);
    expect(() => process.kill(process.pid, 0)).not.toThrow();
  });

  it('stops every service on stopAll and restarts none', async () => {
    sup = new Supervisor(join(dir, 'pids4'), log, opts);
    await sup.add(processService('a', 'sleep', ['600'], {}));
    await sup.add(processService('b', 'sleep', ['600'], {}));
    const [a, b] = [sup.pid('a')!, sup.pid('b')!];
    await sup.stopAll();
    expect([await readLivePid(join(dir, 'pids4', 'a.pid')), await readLivePid(join(dir, 'pids4', 'b.pid'))]).toEqual([undefined, undefined]);
    expect(() => process.kill(a, 0)).toThrow();
    expect(() => process.kill(b, 0)).toThrow();
    expect(crashes('a')).toEqual([]);
  });
});
