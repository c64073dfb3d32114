import { closeSync, openSync, readSync, writeSync } from 'node:fs';

/** Toggles bits of a qcow2 v3 header's incompatible features (a big-endian u64 at 72; the bits used are in its last byte). */
export function flipIncompatible(path: string, bits: number): void {
  const fd = openSync(path, 'r+');
  try {
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, 79);
    b[0]! ^= bits;
    writeSync(fd, b, 0, 1, 79);
  } finally {
    closeSync(fd);
  }
}
