// A VM's console log, capped in size: `console.log` and, after a rotation,
// `console.log.1`, each at most half the cap. A guest can write to its serial
// port as fast as it likes; the host never keeps more than the cap of it (the
// run directory is a tmpfs on a standard host), and the newest output is always
// in `console.log`.

import { closeSync, constants, fstatSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';

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
  const parts: Buffer[] = [];
  for (const p of [rotatedPath(path), path]) {
    try {
      parts.push(readFileSync(p));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  const text = Buffer.concat(parts).toString('utf8');
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
