import { spawn } from 'node:child_process';

export interface SshOptions {
  /** Guest user (default root). */
  user?: string;
  /** Network namespace to run ssh in (where the VM's bridge is). */
  netns?: string;
  /** Kills ssh after this long (default 30 s). */
  timeoutMs?: number;
  /** Seconds for TCP connect and, in OpenSSH, the banner exchange too (default 5). */
  connectTimeoutS?: number;
  /** Written to the command's stdin. */
  input?: Buffer | string;
}

export interface SshResult {
  code: number;
  out: string;
}

/** The command line (program first) of one ssh command with only the given key, in `o.netns` if given. */
export function sshArgv(key: string, address: string, command: string, o: Pick<SshOptions, 'user' | 'netns' | 'connectTimeoutS'> = {}): [string, ...string[]] {
  const args = [
    '-i', key, '-o', 'IdentitiesOnly=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes',
    '-o', `ConnectTimeout=${o.connectTimeoutS ?? 5}`, '-o', 'LogLevel=ERROR', `${o.user ?? 'root'}@${address}`, command,
  ];
  return o.netns ? ['ip', 'netns', 'exec', o.netns, 'ssh', ...args] : ['ssh', ...args];
}

/** Runs one command over ssh with only the given key; resolves with its exit code and stdout+stderr. */
export function ssh(key: string, address: string, command: string, o: SshOptions = {}): Promise<SshResult> {
  const [cmd, ...argv] = sshArgv(key, address, command, o);
  return new Promise((resolve) => {
    const child = spawn(cmd!, argv, { stdio: [o.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 30_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 255, out });
    });
    // ssh that fails before reading its input closes the pipe: that failure is in its exit code.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(o.input);
  });
}

// What ssh prints when it never got as far as running the command.
const TRANSPORT_FAILURE = /banner exchange|kex_exchange_identification|Connection (timed out|refused|reset|closed)|No route to host|Network is unreachable/;

/**
 * Runs a command on a guest that has already answered once, retrying only while
 * ssh itself fails to get a session: a TCG guest on a loaded host can take longer
 * than the connect timeout to send its banner. The command must be safe to repeat.
 */
export async function sshSession(key: string, address: string, command: string, o: SshOptions & { attempts?: number } = {}): Promise<SshResult> {
  let r: SshResult = { code: 255, out: '' };
  for (let i = 0; i < (o.attempts ?? 5); i++) {
    r = await ssh(key, address, command, { connectTimeoutS: 30, ...o });
    if (r.code !== 255 || !TRANSPORT_FAILURE.test(r.out)) return r;
  }
  return r;
}

export interface LineStream {
  /** Every line of stdout and stderr so far, with when it arrived (Date.now()). */
  lines: { at: number; text: string }[];
  /** Its exit code (255 when killed). */
  done: Promise<number>;
  kill: () => void;
}

/** A long-running command (program first), its output read line by line as it comes. */
export function streamLines([cmd, ...argv]: readonly string[]): LineStream {
  const lines: { at: number; text: string }[] = [];
  const child = spawn(cmd!, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  let partial = '';
  const take = (b: Buffer) => {
    partial += b.toString();
    const parts = partial.split('\n');
    partial = parts.pop()!;
    for (const text of parts) lines.push({ at: Date.now(), text });
  };
  child.stdout.on('data', take);
  child.stderr.on('data', take);
  const done = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? 255)));
  return { lines, done, kill: () => child.kill('SIGKILL') };
}

/** A long-running command over ssh from `netns`, its output read line by line as it comes. */
export function streamSsh(netns: string, key: string, address: string, command: string): LineStream {
  return streamLines(sshArgv(key, address, command, { netns, connectTimeoutS: 30 }));
}
