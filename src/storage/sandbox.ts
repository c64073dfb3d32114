import { lstatSync, readlinkSync } from 'node:fs';

// The box a program runs in when it parses a user's bytes (qemu-img reading an
// uploaded image): bubblewrap gives it an empty, read-only filesystem holding
// only /usr (read-only, for the program and its libraries), /dev/null and the
// open files and folders it is handed; new mount, pid, network, ipc and uts
// namespaces (no other process to see, no network at all); then setpriv makes
// it the unprivileged SANDBOX_UID with no_new_privs and one capability,
// CAP_DAC_OVERRIDE, so it can open the files it was handed whoever owns them
// (a user's 0600 upload) — there is nothing else in its filesystem to open.
// Whatever a file's header names (a backing file, an external data file,
// /etc/shadow, a Ceph keyring, another user's disk), the program cannot reach
// it: it does not exist in there.

/** `nobody`: owns nothing on the host. */
export const SANDBOX_UID = 65534;

export interface SandboxFile {
  /** An open descriptor (of the caller); it becomes `at` inside. */
  fd: number;
  at: string;
  writable?: boolean;
}

export interface SandboxSpec {
  files: SandboxFile[];
  /** Host folders made visible (e.g. the private folder of a socket the program must reach). */
  dirs?: { path: string; at: string }[];
  /** RLIMIT_FSIZE: no write may reach past this many bytes of any file (EFBIG/SIGXFSZ instead). */
  maxFileSize?: number;
  /**
   * The program starts only once a line arrives on its stdin (then a pipe): the
   * box is set up meanwhile. A shell in the box reads the line, then becomes the
   * program ("$@", nothing interpolated), found where setpriv finds it ungated
   * (glibc's default path; dash's own would look in /usr/local first).
   */
  gated?: boolean;
}

/** /lib, /lib64, /bin: symlinks into /usr on a merged-/usr system, copied as such; real folders elsewhere, bound read-only. */
function systemDirs(): string[] {
  const args: string[] = [];
  for (const dir of ['/lib', '/lib64', '/bin']) {
    try {
      const st = lstatSync(dir);
      if (st.isSymbolicLink()) args.push('--symlink', readlinkSync(dir), dir);
      else if (st.isDirectory()) args.push('--ro-bind', dir, dir);
    } catch {
      // absent on this system (e.g. no /lib64): nothing to bind
    }
  }
  return args;
}

/**
 * The command line (`bwrap …`) and the spawn stdio that run `argv` inside the box:
 * pass `stdio` to child_process.spawn as is, so file i lands on fd 3+i.
 */
export function sandboxed(argv: string[], spec: SandboxSpec): { cmd: string; args: string[]; stdio: ('ignore' | 'pipe' | number)[] } {
  const args = [
    '--unshare-ipc',
    '--unshare-pid',
    '--unshare-net',
    '--unshare-uts',
    '--unshare-cgroup-try',
    '--die-with-parent',
    '--new-session',
    '--clearenv',
    '--tmpfs',
    '/',
    '--ro-bind',
    '/usr',
    '/usr',
    ...systemDirs(),
    '--dev-bind',
    '/dev/null',
    '/dev/null', // qemu's file locking probes it
  ];
  spec.files.forEach((f, i) => args.push(f.writable ? '--bind-fd' : '--ro-bind-fd', String(3 + i), f.at));
  for (const d of spec.dirs ?? []) args.push('--bind', d.path, d.at);
  args.push(
    '--remount-ro',
    '/',
    // bwrap keeps only what setpriv needs to switch user; setpriv keeps only DAC_OVERRIDE.
    '--cap-drop',
    'ALL',
    ...['CAP_SETUID', 'CAP_SETGID', 'CAP_SETPCAP', 'CAP_DAC_OVERRIDE'].flatMap((c) => ['--cap-add', c]),
    '/usr/bin/setpriv',
    `--reuid=${SANDBOX_UID}`,
    `--regid=${SANDBOX_UID}`,
    '--clear-groups',
    '--no-new-privs',
    '--inh-caps=-all,+dac_override',
    '--ambient-caps=-all,+dac_override',
    '--bounding-set=-all,+dac_override',
    '--',
    // Lowering a limit needs no capability; the program cannot raise it again.
    ...(spec.maxFileSize === undefined ? [] : ['/usr/bin/prlimit', `--fsize=${spec.maxFileSize}:${spec.maxFileSize}`, '--']),
    ...(spec.gated ? ['/bin/sh', '-c', 'read -r _ && PATH=/bin:/usr/bin && exec "$@"', 'sh'] : []),
    ...argv,
  );
  return { cmd: 'bwrap', args, stdio: [spec.gated ? 'pipe' : 'ignore', 'pipe', 'pipe', ...spec.files.map((f) => f.fd)] };
}
