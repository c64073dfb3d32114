// Starting, finding and stopping a VM's console keeper. Like QEMU, the keeper
// is nobody's child once its agent is gone, so it is found again through a pid
// file that also holds its start time (a pid alone may have been reused) and
// its command line (which names the VM's run directory).

import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { UcloudError } from '../../common/errors.js';
import { packageRoot } from '../../common/paths.js';
import { readArgv, readLivePid, terminate, writePidFile } from '../../common/proc.js';

export interface KeeperPaths {
  /** The VM's run directory. */
  dir: string;
  /** QEMU's serial socket. */
  socket: string;
  log: string;
  pidFile: string;
  /** The keeper's own stderr: a crash's last words, truncated at each start. */
  errFile: string;
  /** Where interactive consoles attach to the keeper. */
  attach?: string;
}

// A keeper holds one socket and one file descriptor and never buffers the
// stream; these caps keep V8 from growing its heap for nothing.
const KEEPER_NODE_FLAGS = ['--max-old-space-size=16', '--max-semi-space-size=1'];

export const KEEPER_COMMAND = 'console-keeper';

/** Keepers this process started that take interactive consoles over IPC (handover.ts), by attach socket. */
const children = new Map<string, ChildProcess>();

/** The keeper this process started for that attach socket, while its IPC channel is open. */
export function keeperChild(attach: string): ChildProcess | undefined {
  const child = children.get(attach);
  return child?.connected ? child : undefined;
}

/** Starts a detached keeper (its own session) and records its pid and start time. */
export async function startKeeper(p: KeeperPaths, capBytes: number): Promise<number> {
  const err = openSync(p.errFile, 'w', 0o640);
  let pid: number | undefined;
  try {
    const child = spawn(
      process.execPath,
      [...KEEPER_NODE_FLAGS, join(packageRoot(), 'bin', 'ucloud'), KEEPER_COMMAND, '--dir', p.dir, '--socket', p.socket, '--log', p.log, '--size', String(capBytes), ...(p.attach ? ['--attach', p.attach] : [])],
      // An IPC channel when consoles attach: the agent hands their connections over (handover.ts).
      { detached: true, stdio: ['ignore', 'ignore', err, ...(p.attach ? (['ipc'] as const) : [])] },
    );
    child.on('error', () => undefined);
    child.unref();
    if (p.attach && child.channel) {
      const attach = p.attach;
      // Neither the channel nor the keeper holds the agent: keepers outlive it.
      child.channel.unref();
      children.set(attach, child);
      child.once('exit', () => children.get(attach) === child && children.delete(attach));
      child.once('disconnect', () => children.get(attach) === child && children.delete(attach));
    }
    pid = child.pid;
  } finally {
    closeSync(err);
  }
  const started = pid === undefined ? Promise.reject(new Error('no pid')) : writePidFile(p.pidFile, pid);
  await started.catch((err: unknown) => {
    throw new UcloudError('COMMAND_FAILED', `the console keeper for ${p.dir} did not start`, { details: { errFile: p.errFile }, cause: err });
  });
  return pid!;
}

/** The pid of the VM's keeper when it is alive: same pid, same start time, our command line. */
export async function keeperPid(p: Pick<KeeperPaths, 'dir' | 'pidFile'>): Promise<number | undefined> {
  const pid = await readLivePid(p.pidFile);
  if (pid === undefined) return undefined;
  const argv = readArgv(pid);
  const at = argv?.indexOf(KEEPER_COMMAND) ?? -1;
  if (at < 0 || argv![argv!.indexOf('--dir', at) + 1] !== p.dir) return undefined;
  return pid;
}

/** Stops the keeper (SIGTERM, then SIGKILL); a no-op when none runs. */
export async function stopKeeper(p: Pick<KeeperPaths, 'dir' | 'pidFile'>): Promise<void> {
  const pid = await keeperPid(p);
  if (pid === undefined) return;
  await terminate(pid, 2000);
}
