// An advisory lock shared by every process on this machine, held by a small
// `flock` child (util-linux) for as long as `fn` runs: Node has no flock(2) of
// its own, and the kernel drops the lock by itself if this process dies, so a
// crash never leaves it stuck (unlike a lock file created exclusively).
import { spawn } from 'node:child_process';
import { UcloudError } from './errors.js';

export async function withFileLock<T>(path: string, fn: () => Promise<T>, timeoutSeconds = 60): Promise<T> {
  const holder = spawn('flock', ['-o', '-w', String(timeoutSeconds), path, 'sh', '-c', 'echo locked; read _'], { stdio: ['pipe', 'pipe', 'pipe'] });
  try {
    await new Promise<void>((resolve, reject) => {
      let err = '';
      holder.stderr.on('data', (b: Buffer) => (err += b.toString()));
      holder.stdout.once('data', () => resolve());
      holder.once('error', (e) => reject(new UcloudError('INTERNAL', `cannot run flock: ${e.message}`, { cause: e })));
      holder.once('exit', (code) => reject(new UcloudError('CONFLICT', `could not lock ${path} within ${timeoutSeconds} s (flock exit ${code}): ${err.trim()}`)));
    });
    return await fn();
  } finally {
    holder.stdin.end();
    holder.kill();
  }
}
