import { spawn } from 'node:child_process';
import { UcloudError } from '../common/errors.js';

/**
 * An NBD server (qemu-nbd) writing into one volume, for as long as one client
 * stays connected: the sandboxed conversion (qemu-img.ts) writes through it
 * into a volume it could not open itself (an RBD image needs the Ceph keyring,
 * which never enters the sandbox). It exits once the client disconnects, after
 * flushing; `done` settles then.
 */
export interface NbdServer {
  done: Promise<void>;
  stop(): void;
}

/** `target` is a qemu filename ucloud built (e.g. `rbd:pool/image:…`), written as raw. */
export function serveNbd(target: string, socket: string): NbdServer {
  const child = spawn('qemu-nbd', ['--format=raw', '--cache=writeback', '--shared=1', `--socket=${socket}`, target], { stdio: ['ignore', 'ignore', 'pipe'] });
  const err: Buffer[] = [];
  child.stderr.on('data', (b: Buffer) => err.push(b));
  let stopped = false;
  const done = new Promise<void>((resolve, reject) => {
    child.on('error', (e) => reject(new UcloudError('STORAGE_FAILED', `cannot run qemu-nbd: ${e.message}`, { hint: 'apt-get install qemu-utils', cause: e })));
    child.on('close', (code, signal) => {
      const stderr = Buffer.concat(err).toString('utf8').trim();
      if (code === 0) resolve();
      else {
        const why = stopped ? 'stopped' : `exit ${code ?? signal}`;
        reject(new UcloudError('STORAGE_FAILED', `qemu-nbd failed (${why}): ${stderr.split('\n').pop() ?? ''}`, { details: { stderr: stderr.slice(-2000), stopped } }));
      }
    });
  });
  return {
    done,
    stop() {
      stopped = true;
      child.kill('SIGKILL');
    },
  };
}
