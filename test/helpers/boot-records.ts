// The boot records the test guest writes to its disk (guest/build-image.sh,
// /init): one 512-byte slot per boot, from 64 MiB on, "UCLOUD-BOOT <slot>
// <boot id>". Read from the host while the VM may run (qemu-io -U).

import { run } from '../../src/common/exec.js';

const BASE = 64 * 1024 * 1024;
const SLOT = 512;
/** Slots read: far more boots than any test makes. */
const SLOTS = 128;

/** The boot ids on the disk, by slot; a slot that is not a well-formed record for its place reads as `?…`. */
export async function bootRecords(target: string, format: 'qcow2' | 'raw'): Promise<string[]> {
  const { stdout } = await run('qemu-io', ['-r', '-U', '-f', format, '-c', `read -v ${BASE} ${SLOT * SLOTS}`, target], { timeoutMs: 60_000 });
  const bytes: number[] = [];
  for (const line of stdout.split('\n')) {
    const m = /^[0-9a-f]{8}:\s+((?:[0-9a-f]{2} ?){1,16})/.exec(line);
    if (m) bytes.push(...m[1]!.trim().split(' ').map((h) => parseInt(h, 16)));
  }
  const buf = Buffer.from(bytes);
  const ids: string[] = [];
  for (let i = 0; i + SLOT <= buf.length; i += SLOT) {
    const text = buf.subarray(i, i + SLOT).toString('latin1').replace(/\0+$/, '');
    if (!text) break;
    const m = /^UCLOUD-BOOT (\d+) ([0-9a-f-]{36})\n$/.exec(text);
    ids.push(m && Number(m[1]) === i / SLOT ? m[2]! : `?${JSON.stringify(text.slice(0, 80))}`);
  }
  return ids;
}

/** The boot ids a guest's console says it recorded ("UCLOUD-GUEST-BOOT-RECORD <slot> <id>"), as slot → id. */
export function consoleBootRecords(consoleText: string): Map<number, string> {
  const out = new Map<number, string>();
  for (const m of consoleText.matchAll(/UCLOUD-GUEST-BOOT-RECORD (\d+) ([0-9a-f-]{36})/g)) out.set(Number(m[1]), m[2]!);
  return out;
}
