// What `ucloud up` does as a service manager: runs each service, restarts it
// when it ends unasked with a backoff that resets once a run has lasted, says
// loudly (with the service's last output) when one keeps crashing, records
// every child's pid and start time so that a later `up` can stop whatever a
// killed one left behind, and stops them all in order.

import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../common/logger.js';
import { readLivePid, terminate, writePidFile } from '../common/proc.js';
import { assertPrivateDir } from './instance-lock.js';

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Run {
  pid: number;
  /** Settles when the process has ended. */
  exited: Promise<ExitStatus>;
  stop(): Promise<void>;
}

export interface Service {
  name: string;
  /** Starts one run; resolves once it is started (and, where the service says so, serving). */
  start(): Promise<Run>;
  /** Its latest output, for a crash report. */
  lastLines(): Promise<string[]>;
  /** Stopped after every other service (etcd: the daemons need it to stop cleanly). */
  stopLast?: boolean;
}

export interface SupervisorOptions {
  /** A run that lasted this long was healthy: the next crash starts the backoff over. */
  healthyAfterMs: number;
  firstDelayMs: number;
  maxDelayMs: number;
  /** From this many crashes in a row on, each is reported with the service's last lines. */
  reportAfter: number;
}

export const DEFAULT_SUPERVISOR_OPTIONS: SupervisorOptions = { healthyAfterMs: 30_000, firstDelayMs: 500, maxDelayMs: 10_000, reportAfter: 3 };

interface Slot {
  service: Service;
  run?: Run;
  startedAt: number;
  /** Crashes since the last healthy run. */
  crashes: number;
  timer?: NodeJS.Timeout;
}

export class Supervisor {
  private readonly slots: Slot[] = [];
  private stopping = false;

  constructor(
    private readonly pidDir: string,
    private readonly log: Logger,
    private readonly opts: SupervisorOptions = DEFAULT_SUPERVISOR_OPTIONS,
  ) {}

  /**
   * Stops every process a previous supervisor on this pid dir recorded and
   * that still runs (same pid and start time). Run under the state dir's lock,
   * before anything starts, so there is never a second of any daemon.
   */
  async stopLeftovers(): Promise<string[]> {
    await mkdir(this.pidDir, { recursive: true, mode: 0o700 });
    assertPrivateDir(this.pidDir);
    const stopped: string[] = [];
    const files = await readdir(this.pidDir);
    // A pid file's temporary twin, left by a write that was cut short.
    for (const tmp of files.filter((f) => f.endsWith('.tmp'))) await rm(join(this.pidDir, tmp), { force: true });
    for (const file of files.filter((f) => f.endsWith('.pid'))) {
      const path = join(this.pidDir, file);
      const pid = await readLivePid(path);
      if (pid !== undefined) {
        const name = file.slice(0, -'.pid'.length);
        this.log.warn({ service: name, pid }, 'stopping what an earlier ucloud up left running');
        if (!(await terminate(pid, 10_000))) this.log.error({ service: name, pid }, 'a leftover survived SIGKILL (stuck in I/O?)');
        stopped.push(name);
      }
      await rm(path, { force: true });
    }
    return stopped;
  }

  /** Starts `service` and keeps it running; rejects when its first start fails. */
  async add(service: Service): Promise<void> {
    await mkdir(this.pidDir, { recursive: true, mode: 0o700 });
    const slot: Slot = { service, startedAt: Date.now(), crashes: 0 };
    this.slots.push(slot);
    await this.launch(slot);
  }

  /** The pid of a service's current run. */
  pid(name: string): number | undefined {
    return this.slots.find((s) => s.service.name === name)?.run?.pid;
  }

  /** Stops every service at once, then those marked stopLast; none is restarted. */
  async stopAll(): Promise<void> {
    this.stopping = true;
    const stop = async (slot: Slot) => {
      clearTimeout(slot.timer);
      await slot.run?.stop();
      await rm(this.pidFile(slot), { force: true });
    };
    await Promise.all(this.slots.filter((s) => !s.service.stopLast).map(stop));
    await Promise.all(this.slots.filter((s) => s.service.stopLast).map(stop));
  }

  private pidFile(slot: Slot): string {
    return join(this.pidDir, `${slot.service.name}.pid`);
  }

  private async launch(slot: Slot): Promise<void> {
    slot.startedAt = Date.now();
    const run = await slot.service.start();
    if (this.stopping) {
      // stopAll ran while this run was starting (an etcd restart takes seconds): it saw nothing to stop.
      await run.stop();
      return;
    }
    slot.run = run;
    // A run already gone has no pid to record; its exit, below, is handled like any other.
    await writePidFile(this.pidFile(slot), run.pid).catch((err: unknown) => this.log.debug({ err, service: slot.service.name }, 'pid not recorded'));
    void run.exited.then(({ code, signal }) => {
      if (this.stopping || slot.run !== run) return;
      slot.run = undefined;
      void this.crashed(slot, `exited with ${signal ?? `code ${String(code)}`}`);
    });
  }

  private async crashed(slot: Slot, why: string): Promise<void> {
    if (Date.now() - slot.startedAt >= this.opts.healthyAfterMs) slot.crashes = 0;
    slot.crashes++;
    const delay = Math.min(this.opts.maxDelayMs, this.opts.firstDelayMs * 2 ** (slot.crashes - 1));
    const fields = { service: slot.service.name, crashes: slot.crashes, restartInMs: delay };
    if (slot.crashes >= this.opts.reportAfter) {
      const lines = await slot.service.lastLines().catch(() => []);
      this.log.error({ ...fields, lastLines: lines }, `${slot.service.name} keeps crashing (${why}); its last lines:\n${lines.map((l) => `  | ${l}`).join('\n')}`);
    } else {
      this.log.warn(fields, `${slot.service.name} ${why}; restarting`);
    }
    slot.timer = setTimeout(() => {
      if (this.stopping) return;
      this.launch(slot).catch((err: unknown) => {
        if (this.stopping) return;
        void this.crashed(slot, `failed to start: ${(err as Error).message}`);
      });
    }, delay);
  }
}
