// The daemons ucloud starts per host (radvd, BIRD) fork and write a pid file;
// a pid in a file is trusted only while /proc says it is that daemon with
// that config, so a stale file never makes us signal an unrelated process.

import { readFile } from 'node:fs/promises';

/** A file's text, or undefined when it does not exist. */
export async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** True when `pid` is a live (not zombie) `binary` started with `confFlag conf`. */
export async function isDaemonWith(pid: number, binary: string, confFlag: string, conf: string): Promise<boolean> {
  const cmdline = await readText(`/proc/${pid}/cmdline`);
  if (!cmdline) return false; // gone, or a zombie (empty cmdline)
  const argv = cmdline.split('\0');
  const c = argv.indexOf(confFlag);
  return (argv[0] ?? '').split('/').pop() === binary && c >= 0 && argv[c + 1] === conf;
}

/**
 * The pid in `pidFile` if it is that daemon (isDaemonWith), else undefined.
 * Only the leading number counts, as the daemons read it themselves (fscanf
 * "%d"): radvd writes its pid over the file without truncating it, so a
 * shorter pid over a stale longer one (pids wrapped: 675 over 32328) leaves
 * "675\n8\n" behind, and its radvd was taken for dead though it ran.
 */
export async function daemonPid(pidFile: string, binary: string, confFlag: string, conf: string): Promise<number | undefined> {
  const pid = Number(/^\s*(\d+)/.exec((await readText(pidFile)) ?? '')?.[1]);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  return (await isDaemonWith(pid, binary, confFlag, conf)) ? pid : undefined;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * SIGTERM, then SIGKILL after `termMs`, for a pid that `stillOurs` vouches
 * for on every check (never a pid that was reused meanwhile).
 */
export async function stopDaemon(pid: number, stillOurs: () => Promise<boolean>, termMs = 5000): Promise<void> {
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(pid, sig);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  };
  const exited = async (ms: number) => {
    for (let waited = 0; waited < ms; waited += 50) {
      if (!(await stillOurs())) return true;
      await sleep(50);
    }
    return !(await stillOurs());
  };
  signal('SIGTERM');
  if (!(await exited(termMs))) {
    signal('SIGKILL');
    await exited(2000);
  }
}
