import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { daemonPid } from '../../src/host/network/daemon-pid.js';

describe('daemonPid', () => {
  it('reads the leading pid, as the daemon does: a shorter pid written over a stale longer one without truncating still counts; anything else is no pid', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ucloud-daemon-pid-'));
    // A live process whose command line has a "conf flag" as radvd's and BIRD's have (two commands: bash does not exec the one).
    const child = spawn('bash', ['-c', 'sleep 60; exit', '-C', join(dir, 'x.conf')], { stdio: 'ignore' });
    try {
      await new Promise((r) => child.once('spawn', r));
      const pid = child.pid!;
      const file = join(dir, 'x.pid');
      const found = async (text: string) => (await writeFile(file, text), daemonPid(file, 'bash', '-C', join(dir, 'x.conf')));
      expect(await found(`${pid}\n`)).toBe(pid);
      // radvd opens its pid file without O_TRUNC: "675\n" over "32328\n".
      expect(await found(`${pid}\n${'9'.repeat(4)}\n`)).toBe(pid);
      expect(await found('')).toBeUndefined();
      expect(await found('x1\n')).toBeUndefined();
      // The same pid with another config is not this daemon.
      expect(await daemonPid(file, 'bash', '-C', join(dir, 'other.conf'))).toBeUndefined();
    } finally {
      child.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    }
  });
});
