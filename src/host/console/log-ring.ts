// A VM's console log, capped in size: `console.log` and, after a rotation,
// `console.log.1`, each at most half the cap. A guest can write to its serial
// port as fast as it likes; the host never keeps more than the cap of it (the
// run directory is a tmpfs on a standard host), and the newest output is always
// in `console.log`.

import { closeSync, constants, fstatSync, openSync, readFileSync, renameSync, statSync, writeSync } from 'node:fs';

// The keeper runs as root: never follow a link someone put in the log's place.
const APPEND = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW;
const FRESH = APPEND | constants.O_TRUNC;

/** Below this the two halves would rotate on every line. */
export const MIN_CONSOLE_LOG_BYTES = 8 * 1024;

export function rotatedPath(path: string): string {
  return `${path}.1`;
}

/** Appends to the log, rotating synchronously: nothing is buffered, so memory stays a chunk. */
export class RotatingLog {
  private fd: number;
  private size: number;
  readonly halfBytes: number;

  constructor(
    readonly path: string,
    capBytes: number,
  ) {
    this.halfBytes = Math.floor(Math.max(capBytes, MIN_CONSOLE_LOG_BYTES) / 2);
    // Appends to what an earlier keeper of the same VM wrote (agent restart, VM restart).
    this.fd = openSync(path, APPEND, 0o640);
    this.size = fstatSync(this.fd).size;
    if (this.size > this.halfBytes) this.rotate();
  }

  write(chunk: Buffer): void {
    // A chunk bigger than a half keeps only its end: that is all either file could hold.
    const data = chunk.length > this.halfBytes ? chunk.subarray(chunk.length - this.halfBytes) : chunk;
    if (this.size + data.length > this.halfBytes) this.rotate();
    let off = 0;
    while (off < data.length) off += writeSync(this.fd, data, off);
    this.size += data.length;
  }

  close(): void {
    closeSync(this.fd);
  }

  private rotate(): void {
    closeSync(this.fd);
    renameSync(this.path, rotatedPath(this.path));
    this.fd = openSync(this.path, FRESH, 0o640);
    this.size = 0;
  }
}

/**
 * The last `lines` lines of a console log (the rotated half first), as text.
 * Reads at most the cap; bytes that are not UTF-8 become U+FFFD.
 */
export function readTail(path: string, lines: number): string {
  const text = readBoth(path).toString('utf8');
  if (lines <= 0) return '';
  // Walk back from the end: the cost is the tail, not the whole log.
  let end = text.length;
  if (text.endsWith('\n')) end--;
  let start = end;
  for (let n = 0; n < lines; n++) {
    const nl = text.lastIndexOf('\n', start - 1);
    if (nl < 0) return text;
    start = nl;
  }
  return text.slice(start + 1);
}

/** How often a read torn by the keeper's rotation is tried again before what it got is returned. */
const TORN_READ_ATTEMPTS = 100;

/**
 * Both halves, oldest first, read from another process than the keeper's. A
 * rotation while the two are opened would drop the newest half or return one
 * twice; every rotation puts a new inode at console.log.1, so the halves are
 * opened, console.log.1 looked up again, and opened again if it changed. Once
 * both are open, later rotations no longer matter: the files are read by fd.
 */
function readBoth(path: string): Buffer {
  const rotated = rotatedPath(path);
  for (let attempt = 1; ; attempt++) {
    const old = openIfThere(rotated);
    const current = openIfThere(path);
    try {
      // console.log missing with console.log.1 unchanged: the keeper is between renaming and creating, and .1 is the newest.
      const settled = inode(rotated) === (old === undefined ? undefined : fstatSync(old).ino);
      if (settled || attempt >= TORN_READ_ATTEMPTS) {
        return Buffer.concat([old, current].filter((fd): fd is number => fd !== undefined).map((fd) => readFileSync(fd)));
      }
    } finally {
      for (const fd of [old, current]) if (fd !== undefined) closeSync(fd);
    }
  }
}

function openIfThere(path: string): number | undefined {
  try {
    return openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function inode(path: string): number | undefined {
  return statSync(path, { throwIfNoEntry: false })?.ino;
}
