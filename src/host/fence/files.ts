// What the host agent and its fence watchdog share: files under
// <run_dir>/fence (root only) and one marker per HA VM in the VM's run
// directory. Files, not a socket: either side may restart on its own, and the
// watchdog must act on what it last read even when the agent is gone.

import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';

/** The agent's pet: until when (CLOCK_MONOTONIC ms) its presence lease surely lives, minus the fence margin. */
export interface Pet {
  until: number;
  /** The presence lease (epoch) the pet is for, for the logs. */
  epoch: string;
  agentPid: number;
}

/** The watchdog's own heartbeat: the agent arms HA VMs only while it is fresh. */
export interface WatchdogBeat {
  at: number;
  pid: number;
}

const fenceDir = (runDir: string): string => join(runDir, 'fence');
const petFile = (runDir: string) => join(fenceDir(runDir), 'pet.json');
const beatFile = (runDir: string) => join(fenceDir(runDir), 'watchdog.json');
/** The agent's presence lease id, kept for its successor to resume. */
const leaseFile = (runDir: string) => join(fenceDir(runDir), 'lease');
const HA_MARKER = 'ha';

/** Written whole or not at all (a new temporary, O_EXCL, renamed over): the other side never reads half a file. */
async function writeText(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(tmp, text, { flag: 'wx', mode: 0o600 });
  await rename(tmp, path);
}

const writeJson = (path: string, value: unknown): Promise<void> => writeText(path, JSON.stringify(value));

async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

export const writePet = (runDir: string, pet: Pet): Promise<void> => writeJson(petFile(runDir), pet);
export const readPet = (runDir: string): Promise<Pet | undefined> => readJson<Pet>(petFile(runDir));
/** A beat older than this: no watchdog runs (it beats every 200 ms). The agent arms HA VMs only while the beat is fresh. */
export const BEAT_FRESH_MS = 2000;

export const writeBeat = (runDir: string, beat: WatchdogBeat): Promise<void> => writeJson(beatFile(runDir), beat);
export const readBeat = (runDir: string): Promise<WatchdogBeat | undefined> => readJson<WatchdogBeat>(beatFile(runDir));

export async function readLeaseId(runDir: string): Promise<string | undefined> {
  const text = await readFile(leaseFile(runDir), 'utf8').catch(() => undefined);
  return text && /^\d+$/.test(text.trim()) ? text.trim() : undefined;
}

export async function writeLeaseId(runDir: string, id: string): Promise<void> {
  await writeText(leaseFile(runDir), id);
}

/**
 * Marks a VM HA for the watchdog (before its QEMU starts, or while it runs),
 * under the agent's epoch then: a QEMU armed by another incarnation than the
 * one petting is killed as if the pets had stopped.
 */
export async function markHa(vmDir: string, epoch: string): Promise<void> {
  await writeText(join(vmDir, HA_MARKER), epoch);
}

export async function unmarkHa(vmDir: string): Promise<void> {
  await rm(join(vmDir, HA_MARKER), { force: true });
}

/** The VMs marked HA under <run_dir>/vms: id → the epoch they were armed under. */
export async function haVms(runDir: string): Promise<Map<string, string>> {
  const ids = await readdir(join(runDir, 'vms')).catch(() => [] as string[]);
  const marked = await Promise.all(ids.map(async (id) => [id, await readFile(join(runDir, 'vms', id, HA_MARKER), 'utf8').catch(() => undefined)] as const));
  return new Map(marked.filter((m): m is readonly [string, string] => m[1] !== undefined));
}
