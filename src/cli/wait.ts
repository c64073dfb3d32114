import { UcloudError, type ErrorCode } from '../common/errors.js';
import type { Client, EventQuery } from '../client/client.js';
import type { Image, UserFile, Vm, VmStatus } from '../model/index.js';
import { followEvents } from './event-stream.js';
import { note } from './output.js';

/** Between reads while nothing wakes the wait: the event stream is open (it wakes it), or not. */
const POLL_STREAM_MS = 5000;
const POLL_MS = 200;

/**
 * Wakes a wait when an event about its object arrives, and once the stream
 * opens (a change made before the server watched is read then). While the
 * stream is not open, waits are the short poll.
 */
export class Waker {
  private readonly stop = new AbortController();
  private open = false;
  private poked = false;
  private wake: (() => void) | undefined;

  constructor(client: Client, q: EventQuery) {
    void followEvents(
      client,
      q,
      {
        onEvent: () => this.poke(),
        onOpen: () => {
          this.open = true;
          this.poke();
        },
        onBreak: () => {
          this.open = false;
        },
      },
      this.stop.signal,
    );
  }

  private poke(): void {
    this.poked = true;
    this.wake?.();
  }

  /** Until the next event, or the fallback poll (at most `maxMs`). */
  async next(maxMs = POLL_STREAM_MS): Promise<void> {
    if (this.poked) {
      this.poked = false;
      return;
    }
    await new Promise<void>((r) => {
      const t = setTimeout(r, this.open ? maxMs : Math.min(maxMs, POLL_MS));
      this.wake = () => (clearTimeout(t), r());
    });
    this.wake = undefined;
    this.poked = false;
  }

  close(): void {
    this.stop.abort();
  }
}

/** A --wait that ended with the thing waited for in error (exit code 7). */
export class FailedState extends Error {}

interface Followed<T> {
  /** What is followed, for messages ("VM web1"). */
  what: string;
  get: () => Promise<T>;
  /** With `events`: the client the event stream is read through. */
  client?: Client;
  /** The error code `get` fails with once the thing is gone. */
  goneCode: ErrorCode;
  /** True when waiting for it to go away. */
  untilGone: boolean;
  describe: (t: T) => string;
  done: (t: T) => boolean;
  /** An error message when it landed in error, else undefined. */
  failed: (t: T) => string | undefined;
  /** The events that tell it changed: each wakes the wait (else it polls every 200 ms). */
  events?: (t: T) => EventQuery;
}

/**
 * Polls until `done` (or, `untilGone`, until it is gone), printing each change
 * on stderr. FailedState when it lands in error, WAIT_TIMEOUT when time runs
 * out (the operation goes on).
 */
async function follow<T>(f: Followed<T>, timeoutMs: number): Promise<T | undefined> {
  let waker: Waker | undefined;
  try {
    return await followWith(f, timeoutMs, (t) => (waker ??= f.events && t !== undefined ? new Waker(f.client!, f.events(t)) : undefined));
  } finally {
    waker?.close();
  }
}

async function followWith<T>(f: Followed<T>, timeoutMs: number, wakerFor: (t: T | undefined) => Waker | undefined): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  let name = f.what;
  for (;;) {
    let t: T;
    try {
      t = await f.get();
    } catch (err) {
      if (f.untilGone && err instanceof UcloudError && err.code === f.goneCode) {
        note(`${name}: deleted`);
        return undefined;
      }
      throw err;
    }
    const line = f.describe(t);
    name = line.slice(0, line.indexOf(':'));
    if (line !== last) note(line);
    last = line;
    if (!f.untilGone && f.done(t)) return t;
    const failure = f.failed(t);
    if (failure) throw new FailedState(failure);
    if (Date.now() > deadline) throw new UcloudError('WAIT_TIMEOUT', `${f.what} is still not done after ${Math.round(timeoutMs / 1000)} s`);
    const waker = wakerFor(t);
    if (waker) await Promise.race([waker.next(), new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now())).unref())]);
    else await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/** A VM's events, by id; `owner` makes an admin's stream carry another user's VM (a user's own is theirs anyway). */
export const vmEvents = (vm: Vm): EventQuery => ({ vm: vm.id, owner: vm.owner });

const errorText = (e: { code: string; message: string } | undefined) => `${e?.code ?? ''} ${e?.message ?? ''}`.trim();

/** Follows VM `ref`, woken by its events; what it waits for is the caller's. */
function followVm(client: Client, ref: string, parts: Pick<Followed<Vm>, 'untilGone' | 'describe' | 'done' | 'failed'>, timeoutMs: number): Promise<Vm | undefined> {
  return follow<Vm>({ what: `VM "${ref}"`, get: () => client.vms.get(ref), client, events: vmEvents, goneCode: 'VM_NOT_FOUND', ...parts }, timeoutMs);
}

/** Follows a VM until it reaches `target` for its latest request (or is gone, for 'deleted'). */
export function waitForVm(client: Client, ref: string, target: VmStatus | 'deleted', timeoutMs: number): Promise<Vm | undefined> {
  const settled = (vm: Vm) => vm.observedGeneration >= vm.generation;
  return followVm(
    client,
    ref,
    {
      untilGone: target === 'deleted',
      describe: (vm) => `${vm.name}: ${vm.status}${vm.reason ? ` (${vm.reason})` : ''}${vm.host ? ` on ${vm.host}` : ''}`,
      done: (vm) => vm.status === target && settled(vm),
      failed: (vm) =>
        (vm.status === 'error' && settled(vm)) || (target === 'running' && vm.desired !== 'running') ? `VM "${vm.name}" is in error: ${errorText(vm.error)}` : undefined,
    },
    timeoutMs,
  );
}

/** Follows a VM until its host settled reboot request `id` (a failed reboot, or the VM no longer running, fails). */
export function waitForReboot(client: Client, ref: string, id: string, timeoutMs: number): Promise<Vm> {
  const settled = (vm: Vm) => vm.lastReboot?.id === id;
  return followVm(
    client,
    ref,
    {
      untilGone: false,
      describe: (vm) => `${vm.name}: ${settled(vm) ? `rebooted (${vm.lastReboot!.mode})` : vm.status === 'running' ? 'rebooting' : vm.status}${vm.host ? ` on ${vm.host}` : ''}`,
      done: (vm) => settled(vm) && vm.lastReboot!.mode !== 'failed',
      failed: (vm) =>
        settled(vm) && vm.lastReboot!.mode === 'failed'
          ? `VM "${vm.name}" did not reboot: ${errorText(vm.lastReboot!.error)}`
          : !settled(vm) && (vm.desired !== 'running' || vm.status === 'error')
            ? `VM "${vm.name}" is ${vm.status}${vm.desired !== 'running' ? ` (asked to be ${vm.desired})` : ''}: the reboot will not happen`
            : undefined,
    },
    timeoutMs,
  ) as Promise<Vm>;
}

/** Follows a VM that `vm recover` asked to start elsewhere until it runs (an error once the request is done fails). */
export function waitForRecovery(client: Client, ref: string, timeoutMs: number): Promise<Vm> {
  return followVm(
    client,
    ref,
    {
      untilGone: false,
      describe: (vm) => `${vm.name}: ${vm.recover ? 'waiting for the scheduler to fence its storage and place it' : vm.status}${vm.reason ? ` (${vm.reason})` : ''}${vm.host ? ` on ${vm.host}` : ''}`,
      done: (vm) => vm.status === 'running' && vm.recover === undefined && vm.observedGeneration >= vm.generation,
      failed: (vm) =>
        vm.status === 'error' && vm.recover === undefined
          ? `VM "${vm.name}" is in error: ${errorText(vm.error)}${vm.reason ? ` (${vm.reason})` : ''}`
          : vm.desired !== 'running'
            ? `VM "${vm.name}" is asked to be ${vm.desired}`
            : undefined,
    },
    timeoutMs,
  ) as Promise<Vm>;
}

/** Follows an image until it is ready (or gone, for 'deleted'), with its import progress. */
export function waitForImage(client: Client, ref: string, target: 'ready' | 'deleted', timeoutMs: number): Promise<Image | undefined> {
  return follow<Image>(
    {
      what: `image "${ref}"`,
      get: () => client.images.get(ref),
      goneCode: 'IMAGE_NOT_FOUND',
      untilGone: target === 'deleted',
      describe: (img) => `${img.name}: ${img.status}${img.status === 'importing' ? ` ${Math.round((img.progress ?? 0) * 100)}%` : ''}`,
      done: (img) => img.status === target,
      failed: (img) => (img.status === 'error' ? `image "${img.name}" is in error: ${errorText(img.error)}` : undefined),
    },
    timeoutMs,
  );
}

/** Follows the caller's files until `name` is recorded with `sha512`: the filescanner has seen that very upload. */
export async function waitForFile(client: Client, name: string, sha512: string, timeoutMs: number): Promise<UserFile> {
  const file = await follow<UserFile | undefined>(
    {
      what: `file "${name}"`,
      get: async () => (await client.files.list()).find((f) => f.name === name),
      goneCode: 'FILE_NOT_FOUND',
      untilGone: false,
      describe: (f) => `${name}: ${!f ? 'waiting for the filescanner' : f.sha512 === sha512 ? 'recorded' : 'an older version is recorded; waiting'}`,
      done: (f) => f?.sha512 === sha512,
      failed: () => undefined,
    },
    timeoutMs,
  );
  return file!;
}
