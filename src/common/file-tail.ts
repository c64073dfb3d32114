import { open } from 'node:fs/promises';

/**
 * The last `lines` non-empty lines of a log file, reading at most its last
 * `maxBytes` (a log can be large; its end is what explains a failure). A
 * missing file has none.
 */
export async function tailLines(path: string, lines: number, maxBytes = 64 * 1024): Promise<string[]> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  try {
    const { size } = await fh.stat();
    const len = Math.min(size, maxBytes);
    const buf = Buffer.alloc(len);
    await fh.read(buf, 0, len, size - len);
    return buf.toString('utf8').split('\n').filter((l) => l.trim() !== '').slice(-lines);
  } finally {
    await fh.close();
  }
}
