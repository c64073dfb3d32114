// The sending end of a live migration: the host a VM runs on waits for its
// destination to listen, tells its QEMU to migrate there, follows it through
// QMP events, and settles the outcome in one transaction (MigrationManager).
// After a switch-over the source QEMU (paused in `postmigrate`) and its taps
// go; the disks stay, they are the destination's now.

import { toUcloudError, UcloudError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import type { MigrationManager } from '../../managers/migrations.js';
import type { VmManager } from '../../managers/vms.js';
import { nowIso, type MigrationFigures, type Vm, type VmMigration } from '../../model/index.js';
import {
  migrate,
  migrateCancel,
  migrateSetCapabilities,
  migrateSetParameters,
  QmpMonitor,
  queryMigrate,
  queryStatus,
  type MigrationInfo,
  type QmpEvent,
  type StatusInfo,
} from '../qemu/index.js';
import { migrateContinue } from '../qemu/qmp-commands.js';
import type { VmRuntime } from '../vm-runtime.js';
import { abandonCopy, addNbdTargets, copyProgress, finishMirrors, startMirrors } from './disk-copy.js';
import { addTlsCreds, checkTlsAgreement, migrationErrorCode, TLS_CREDS_ID, tlsParameters, type MigrationTls } from './tls.js';

/** Bytes a second QEMU is given for "no limit": 1 TiB/s, beyond any link. */
const UNLIMITED_BANDWIDTH = 2 ** 40;

export interface SourceConfig {
  /** migration_max_downtime_ms */
  maxDowntimeMs: number;
  /** migration_max_bandwidth, bytes a second; 0: no limit (UNLIMITED_BANDWIDTH). */
  maxBandwidth: number;
  /** migration_prepare_timeout_ms */
  prepareTimeoutMs: number;
  /** migration_timeout_s in ms: past it (counted from the request) the transfer is cancelled (MIGRATION_TIMEOUT). Absent: no limit. */
  timeoutMs?: number;
  /** migration_tls on: this host's certificates (tls.ts); undefined: off. */
  tls?: MigrationTls;
}

export interface SourceDeps {
  vms: VmManager;
  migrations: MigrationManager;
  runtime: VmRuntime;
  /** Whether host `name`'s agent is alive (its presence key is there). */
  hostAlive: (name: string) => Promise<boolean>;
  /** Asks the agent to look at the VM again (after a wait). */
  recheck: (id: string, afterMs: number) => void;
  vniInUse: (vni: number, except: string) => boolean;
  cfg: SourceConfig;
  log: Logger;
}

const ENDED = new Set(['completed', 'failed', 'cancelled']);
// How often the source looks at its disk copies while they catch up.
const COPY_POLL_MS = 250;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One migration this agent drives: whether `migrate` was issued, what the disk copy did, why it was given up. */
interface Run {
  issued: boolean;
  /** Mode copy: the destination's agent is gone (its presence), so the guest must not switch over to it. */
  destLost?: boolean;
  /** Mode copy: bytes of the disks mirrored, of total. */
  disk?: { bytes: number; total: number };
  /** The error the settle records instead of QEMU's word (the source gave the migration up). */
  why?: { code: string; message: string };
}
// How often a waiting source looks at its destination's presence and the clock.
const PREPARE_POLL_MS = 1000;
const PROGRESS_MS = 1000;
// Backoff of a settle that must land (completed), and of asking a QEMU that did not answer again.
const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 10_000;

export class MigrationSource {
  /** VM id → its migration this agent drives now, and how to cancel it. */
  private readonly runs = new Map<string, { id: string; cancel: () => void; done?: Promise<void> }>();
  /** Migration id → bytes its disk copy wrote (figures.diskBytes). */
  private readonly copied = new Map<string, number>();

  constructor(private readonly d: SourceDeps) {}

  /** Whether this agent is moving VM `id` now (its leftovers are the run's to remove). */
  running(id: string): boolean {
    return this.runs.has(id);
  }

  /** Resolves once this agent's run for VM `id` is over: its settle and the removal of its copy here (QEMU, taps, networks). */
  idle(id: string): Promise<void> {
    return this.runs.get(id)?.done ?? Promise.resolve();
  }

  /** Called for a VM placed here whose record holds a migration. */
  async reconcile(vm: Vm): Promise<void> {
    const m = vm.migration;
    if (!m) return;
    const run = this.runs.get(vm.id);
    if (run?.id === m.id) {
      if (m.cancel) run.cancel();
      return;
    }
    if (m.phase === 'failed') {
      // The destination gave up: settle it so its booking goes.
      await this.d.migrations.settleFailed(vm, 'failed', m.error ?? { code: 'MIGRATION_FAILED', message: 'the destination failed' });
      return;
    }
    if (m.cancel && (m.phase === 'requested' || m.phase === 'preparing' || m.phase === 'listening')) {
      await this.d.migrations.settleFailed(vm, 'cancelled', { code: 'MIGRATION_FAILED', message: 'cancelled before the transfer began' });
      return;
    }
    if (m.phase === 'listening' || m.phase === 'transferring') {
      this.start(vm, m, m.phase === 'transferring');
      return;
    }
    if (m.phase === 'requested' || m.phase === 'preparing') {
      // No destination yet (the scheduler picks one): nothing to watch.
      if (!m.destination) return this.d.recheck(vm.id, PREPARE_POLL_MS);
      const waited = Date.now() - Date.parse(m.startedAt);
      if (waited > this.d.cfg.prepareTimeoutMs) {
        return this.lost(vm, `destination ${m.destination} did not get ready within ${this.d.cfg.prepareTimeoutMs} ms`);
      }
      if (!(await this.d.hostAlive(m.destination))) return this.lost(vm, `destination ${m.destination} is not alive`);
      this.d.recheck(vm.id, PREPARE_POLL_MS);
    }
  }

  private async lost(vm: Vm, message: string): Promise<void> {
    this.d.log.warn({ vm: vm.id, migration: vm.migration?.id }, message);
    await this.d.migrations.settleFailed(vm, 'failed', { code: 'MIGRATION_DESTINATION_LOST', message });
  }

  private start(vm: Vm, m: VmMigration, follow: boolean): void {
    let cancelled = false;
    let cancel: () => void = () => {
      cancelled = true;
    };
    const entry: { id: string; cancel: () => void; done?: Promise<void> } = { id: m.id, cancel: () => cancel() };
    this.runs.set(vm.id, entry);
    // A restarted agent follows a migration QEMU may already have carried out.
    const run: Run = { issued: follow };
    entry.done = (async () => {
      try {
        await this.transfer(vm, m, run, (fn) => {
          cancel = fn;
          if (cancelled) fn();
        });
      } catch (err) {
        const e = toUcloudError(err);
        if (run.issued) {
          // QEMU may have switched over: the guest may now run only on the destination, so only QEMU's own word settles it.
          this.d.log.warn({ err, vm: vm.id, migration: m.id }, 'lost track of the migration; asking QEMU how it ended');
          await this.conclude(vm, m, undefined);
          return;
        }
        this.d.log.error({ err, vm: vm.id, migration: m.id }, 'migration failed');
        await this.d.migrations.settleFailed(vm, 'failed', { code: e.code === 'INTERNAL' ? 'MIGRATION_FAILED' : e.code, message: e.message }).catch((e2: unknown) => this.d.log.error({ err: e2, vm: vm.id }, 'cannot settle the failed migration'));
      } finally {
        this.runs.delete(vm.id);
      }
    })().catch((err: unknown) => this.d.log.error({ err, vm: vm.id, migration: m.id }, 'cannot conclude the migration'));
  }

  private async transfer(vm: Vm, m: VmMigration, run: Run, onCancel: (fn: () => void) => void): Promise<void> {
    const mon = await QmpMonitor.connect(this.d.runtime.paths(vm.id).qmpSocket, { timeoutMs: 10_000 });
    const copy = m.mode === 'copy';
    // Mode copy: the destination's agent must be there to take the VM; its presence is looked at all along (never during the switch-over pause).
    const watch = copy && m.destination ? setInterval(() => void this.d.hostAlive(m.destination!).then((alive) => (run.destLost ||= !alive), () => undefined), PREPARE_POLL_MS) : undefined;
    const fresh = !run.issued;
    try {
      // Waited for before the command: QEMU may send the event first.
      const ended = mon.waitForEvent('MIGRATION', 24 * 3600_000, (e: QmpEvent) => ENDED.has(String(e.data?.status)));
      ended.catch(() => undefined);
      // Mode copy: QEMU pauses at pre-switchover for the disk copies to finish (pause-before-switchover).
      const paused = copy ? mon.waitForEvent('MIGRATION', 24 * 3600_000, (e: QmpEvent) => e.data?.status === 'pre-switchover' || ENDED.has(String(e.data?.status))) : undefined;
      paused?.catch(() => undefined);
      if (!run.issued) {
        // return-path: QEMU says `completed` only once the destination has loaded the state (else it fails and resumes the guest here).
        // pause-before-switchover is said either way: a QEMU keeps capabilities from its previous migration.
        await migrateSetCapabilities(mon, { events: true, 'auto-converge': true, 'return-path': true, 'pause-before-switchover': copy });
        // Migration TLS (tls.ts): both ends agree or nothing is sent; the destination's certificate must name the address connected to.
        checkTlsAgreement(this.d.cfg.tls, m.tls, m.destination);
        const creds = this.d.cfg.tls ? await addTlsCreds(mon, this.d.cfg.tls, 'client', await this.qemuPid(vm)) : undefined;
        // QEMU's own default is 32 MiB/s, so "no limit" has to be said: as its largest sane value.
        await migrateSetParameters(mon, { 'downtime-limit': this.d.cfg.maxDowntimeMs, 'max-bandwidth': this.d.cfg.maxBandwidth || UNLIMITED_BANDWIDTH, ...tlsParameters(creds, m.address) });
        const moved = await this.d.vms.observe(vm.id, (cur) =>
          cur.migration?.id === m.id && cur.migration.phase === 'listening' ? { ...cur, migration: { ...cur.migration, phase: 'transferring', updatedAt: nowIso() } } : undefined,
        );
        if (moved?.migration?.phase !== 'transferring') return;
        if (!m.address || !m.port) throw new UcloudError('MIGRATION_FAILED', 'the destination published no address');
        if (copy && !(await this.copyDisks(vm, m, mon, run, onCancel))) return;
        // Before the command: its reply may be lost after QEMU began.
        run.issued = true;
        await migrate(mon, `tcp:[${m.address}]:${m.port}`);
        this.d.log.info({ vm: vm.id, migration: m.id, to: m.destination }, 'migration started');
      } else {
        // A restarted agent: QEMU may have finished (or never started) while nobody watched.
        const info = await queryMigrate(mon);
        if (outcomeAfterMigrate(info, await queryStatus(mon)) !== 'active') return await this.conclude(vm, m, mon);
        // Mode copy, paused at pre-switchover before this agent came back: it cannot vouch for the mirrors, so the guest resumes here.
        if (copy && info.status === 'pre-switchover') {
          run.why = { code: 'MIGRATION_FAILED', message: 'the source agent restarted during the disk copy' };
          await migrateCancel(mon);
        }
      }
      onCancel(() => void migrateCancel(mon).catch((err: unknown) => this.d.log.warn({ err, vm: vm.id }, 'cannot cancel the migration')));
      const progress = setInterval(() => void this.progress(vm.id, m.id, mon, run.disk), PROGRESS_MS);
      const timeout = this.d.cfg.timeoutMs ? setTimeout(() => this.giveUp(vm, m, mon, run), Math.max(0, this.d.cfg.timeoutMs - (Date.now() - Date.parse(m.startedAt)))) : undefined;
      try {
        if (paused && (await paused).data?.status === 'pre-switchover') await this.switchOver(vm, m, mon, run, fresh);
        await ended;
      } finally {
        clearInterval(progress);
        clearTimeout(timeout);
      }
      await this.conclude(vm, m, mon, run.why);
    } finally {
      clearInterval(watch);
      await mon.close();
    }
  }

  /**
   * Mode copy, before `migrate`: NBD clients on the destination's exports,
   * a full mirror of each disk into them, followed until every mirror is in
   * step (READY), with the progress recorded. False: cancelled (and settled);
   * a failure or a lost destination throws, the source's side undone.
   */
  private async copyDisks(vm: Vm, m: VmMigration, mon: QmpMonitor, run: Run, onCancel: (fn: () => void) => void): Promise<boolean> {
    const n = vm.disks.length;
    let cancelled = false;
    onCancel(() => {
      cancelled = true;
    });
    try {
      if (!m.nbdPort || m.disks?.length !== n) throw new UcloudError('MIGRATION_FAILED', 'the destination published no NBD export for the disk copy');
      // Migration TLS: the creds transfer() made (tls.ts) secure the disk copy too.
      await addNbdTargets(mon, m.address!, m.nbdPort, n, this.d.cfg.tls ? TLS_CREDS_ID : undefined);
      await startMirrors(mon, n, this.d.cfg.maxBandwidth);
      this.d.log.info({ vm: vm.id, migration: m.id, to: m.destination, disks: n }, 'disk copy started');
      for (let recorded = 0; ; await sleep(COPY_POLL_MS)) {
        const p = await copyProgress(mon, n);
        run.disk = { bytes: p.bytes, total: p.total };
        if (cancelled) {
          await abandonCopy(mon, n);
          await this.d.migrations.settleFailed(vm, 'cancelled', { code: 'MIGRATION_FAILED', message: 'cancelled during the disk copy' });
          return false;
        }
        if (run.destLost) throw new UcloudError('MIGRATION_DESTINATION_LOST', `destination ${m.destination} is not alive (during the disk copy)`);
        // migration_timeout_s counts from the request, the disk copy included (the catch below undoes the copy).
        if (this.timedOut(m)) throw new UcloudError('MIGRATION_TIMEOUT', `${this.timeoutMessage()} (during the disk copy)`);
        if (p.ready) return true;
        if (Date.now() - recorded >= PROGRESS_MS) {
          recorded = Date.now();
          await this.recordProgress(vm.id, m.id, { ramBytes: 0, ramTotalBytes: vm.ramBytes, mbps: 0, diskBytes: p.bytes, diskTotalBytes: p.total });
        }
      }
    } catch (err) {
      await abandonCopy(mon, n).catch((e: unknown) => this.d.log.warn({ err: e, vm: vm.id }, 'cannot undo the disk copy'));
      throw err;
    }
  }

  /**
   * Mode copy, the guest paused at pre-switchover: the ready mirrors are
   * cancelled (each target now a consistent copy), the NBD clients removed,
   * and the migration continues. A destination whose agent is gone, a copy
   * that fails, or a restarted agent (which cannot vouch for the mirrors):
   * the migration is cancelled instead, and the guest resumes here.
   */
  private async switchOver(vm: Vm, m: VmMigration, mon: QmpMonitor, run: Run, fresh: boolean): Promise<void> {
    try {
      if (!fresh) throw new UcloudError('MIGRATION_FAILED', 'the source agent restarted during the disk copy');
      if (run.destLost) throw new UcloudError('MIGRATION_DESTINATION_LOST', `destination ${m.destination} is not alive (before the switch-over)`);
      const bytes = await finishMirrors(mon, vm.disks.length);
      this.copied.set(m.id, bytes);
      await migrateContinue(mon);
    } catch (err) {
      const e = toUcloudError(err);
      run.why = { code: e.code === 'INTERNAL' ? 'MIGRATION_FAILED' : e.code, message: e.message };
      this.d.log.warn({ err, vm: vm.id, migration: m.id }, 'not switching over: cancelling the migration');
      await migrateCancel(mon);
    }
  }

  /** migration_timeout_s passed: QEMU cancels the transfer (the guest runs on here), settled failed with MIGRATION_TIMEOUT. */
  private giveUp(vm: Vm, m: VmMigration, mon: QmpMonitor, run: Run): void {
    const message = this.timeoutMessage();
    this.d.log.warn({ vm: vm.id, migration: m.id, to: m.destination }, message);
    run.why ??= { code: 'MIGRATION_TIMEOUT', message };
    void migrateCancel(mon).catch((err: unknown) => this.d.log.warn({ err, vm: vm.id }, 'cannot cancel the migration'));
  }

  private timedOut(m: Pick<VmMigration, 'startedAt'>): boolean {
    return this.d.cfg.timeoutMs !== undefined && this.d.cfg.timeoutMs > 0 && Date.now() - Date.parse(m.startedAt) >= this.d.cfg.timeoutMs;
  }

  private timeoutMessage(): string {
    return `the migration did not finish within migration_timeout_s (${Math.round((this.d.cfg.timeoutMs ?? 0) / 1000)} s)`;
  }

  private async progress(id: string, migrationId: string, mon: QmpMonitor, disk?: { bytes: number; total: number }): Promise<void> {
    try {
      const info = await queryMigrate(mon);
      if (info.status !== 'active' || !info.ram) return;
      const ram = info.ram;
      await this.recordProgress(id, migrationId, { ramBytes: ram.transferred, ramTotalBytes: ram.total, mbps: ram.mbps, ...(disk ? { diskBytes: disk.bytes, diskTotalBytes: disk.total } : {}) });
    } catch (err) {
      this.d.log.debug({ err, vm: id }, 'cannot record migration progress');
    }
  }

  private async recordProgress(id: string, migrationId: string, progress: NonNullable<VmMigration['progress']>): Promise<void> {
    await this.d.vms
      .observe(id, (cur) => (cur.migration?.id === migrationId ? { ...cur, migration: { ...cur.migration, progress } } : undefined))
      .catch((err: unknown) => this.d.log.debug({ err, vm: id }, 'cannot record migration progress'));
  }

  /**
   * Settles a migration whose `migrate` was issued, by what the source QEMU
   * says (outcomeAfterMigrate): failed only when it positively did not
   * complete; completed until the settle lands; otherwise nothing, for the
   * next reconcile. Never throws. `mon`: a monitor to ask (else a new one).
   */
  private async conclude(vm: Vm, m: VmMigration, mon: QmpMonitor | undefined, why?: { code: string; message: string }): Promise<void> {
    const seen = await this.ask(vm.id, mon);
    const outcome = outcomeAfterMigrate(seen.info, seen.status);
    const ctx = { vm: vm.id, migration: m.id, to: m.destination, migrationStatus: seen.info?.status, runState: seen.status?.status };
    if (outcome === 'completed') return this.complete(vm, m, seen.mon, seen.info);
    if (outcome === 'failed' || outcome === 'cancelled') {
      const message = outcome === 'cancelled' ? 'cancelled' : `QEMU says the migration ${seen.info?.status ?? 'never began'}: ${seen.info?.['error-desc'] ?? 'no reason given'}`;
      this.d.log.info({ ...ctx, outcome }, 'migration ended without switch-over; the VM runs here');
      const code = outcome === 'failed' ? migrationErrorCode(seen.info?.['error-desc']) : 'MIGRATION_FAILED';
      // Mode copy: the guest keeps its own disks; the mirrors and NBD clients go.
      if (m.mode === 'copy') await this.abandonCopy(vm, seen.mon);
      // `why`: the source gave it up (its reason, not QEMU's "cancelled").
      await this.d.migrations.settleFailed(vm, why ? 'failed' : outcome, why ?? { code, message }).catch((err: unknown) => {
        // QEMU keeps saying so: the next reconcile settles it.
        this.d.log.error({ ...ctx, err }, 'cannot settle the failed migration');
        this.d.recheck(vm.id, RETRY_MAX_MS);
      });
      return;
    }
    if (outcome === 'active') {
      this.d.log.warn(ctx, 'QEMU is still migrating: following it again');
      return this.d.recheck(vm.id, RETRY_MIN_MS);
    }
    // QEMU cannot be asked: it may have switched over, so the VM is not settled failed (the destination may hold the only guest).
    const pid = await this.d.runtime.runningPid(vm).catch(() => undefined);
    if (pid !== undefined) {
      this.d.log.warn({ ...ctx, pid }, 'cannot ask the source QEMU how the migration ended; asking again later');
      return this.d.recheck(vm.id, RETRY_MAX_MS);
    }
    this.d.log.error(ctx, 'the source QEMU is gone and cannot say how the migration ended; left migrating for the next reconcile (see the destination)');
  }

  private async abandonCopy(vm: Vm, given: QmpMonitor | undefined): Promise<void> {
    let mon = given;
    try {
      mon ??= await QmpMonitor.connect(this.d.runtime.paths(vm.id).qmpSocket, { timeoutMs: 5_000 });
      await abandonCopy(mon, vm.disks.length);
    } catch (err) {
      this.d.log.warn({ err, vm: vm.id }, 'cannot undo the disk copy');
    } finally {
      if (mon && mon !== given) await mon.close().catch(() => undefined);
    }
  }

  /** The pid of the VM's QEMU here (migration TLS stages its certificates for that process's uid). */
  private async qemuPid(vm: Vm): Promise<number> {
    const pid = await this.d.runtime.runningPid(vm);
    if (pid === undefined) throw new UcloudError('MIGRATION_FAILED', 'the VM\'s QEMU is not running here');
    return pid;
  }

  /** query-migrate and query-status, each undefined when QMP cannot answer; `mon` only when it is `given` (still open). */
  private async ask(id: string, given: QmpMonitor | undefined): Promise<{ info?: MigrationInfo; status?: StatusInfo; mon?: QmpMonitor }> {
    const once = async (mon: QmpMonitor) => ({ info: await queryMigrate(mon).catch(() => undefined), status: await queryStatus(mon).catch(() => undefined) });
    if (given) {
      const seen = await once(given);
      if (seen.info && seen.status) return { ...seen, mon: given };
    }
    let mon: QmpMonitor | undefined;
    try {
      mon = await QmpMonitor.connect(this.d.runtime.paths(id).qmpSocket, { timeoutMs: 5_000 });
      return await once(mon);
    } catch {
      return {};
    } finally {
      await mon?.close().catch(() => undefined);
    }
  }

  /** The switch-over happened: settled completed, retried until it lands; then this host's copy goes. */
  private async complete(vm: Vm, m: VmMigration, mon: QmpMonitor | undefined, info: MigrationInfo | undefined): Promise<void> {
    const diskBytes = this.copied.get(m.id);
    this.copied.delete(m.id);
    const final = (mon ? await this.settled(mon).catch(() => undefined) : undefined) ?? info ?? {};
    const figures = { ...figuresOf(final), ...(diskBytes !== undefined ? { diskBytes } : {}) };
    const ctx = { vm: vm.id, migration: m.id, to: m.destination };
    for (let attempt = 0, wait = RETRY_MIN_MS; ; attempt++, wait = Math.min(wait * 2, RETRY_MAX_MS)) {
      try {
        if (!m.destinationQemu) throw new UcloudError('MIGRATION_FAILED', 'the destination published no QEMU');
        if (await this.d.migrations.settleCompleted(vm, figures, m.destinationQemu)) break;
        // The record no longer holds this migration: an earlier try may have landed (its answer lost).
        const cur = await this.d.vms.get(vm.id);
        if (cur?.lastMigration?.id === m.id && cur.lastMigration.phase === 'completed' && cur.host === m.destination) break;
        this.d.log.error({ ...ctx, host: cur?.host, last: cur?.lastMigration?.phase }, 'the VM switched over but its record no longer holds the migration; this host keeps its copy');
        return;
      } catch (err) {
        this.d.log.error({ ...ctx, err, attempt }, `cannot record the completed migration; retrying in ${wait} ms`);
        await new Promise((r) => setTimeout(r, wait));
      }
    }
    // QEMU's RAM counters too (downtime-bytes: what the pause had to send; dirty-sync-count: the passes): why a downtime was what it was.
    this.d.log.info({ ...ctx, ...figures, ram: final.ram }, 'migration completed');
    try {
      // The disks are the destination's now: forgotten here first, so nothing removing this host's leftovers deletes them.
      await this.d.runtime.releaseDisks(vm.id);
      // Mode copy: the VM runs on the destination's copies (the settle landed), so its old volumes here go with its QEMU.
      const copies = new Set((m.disks ?? []).map((d) => `${d.store}/${d.ref}`));
      const old = m.mode === 'copy' ? vm.disks.filter((d) => !copies.has(`${d.store}/${d.ref}`)) : [];
      await this.d.runtime.destroy({ id: vm.id }, old);
      await this.d.runtime.removeNics({ id: vm.id, nics: vm.nics ?? [] }, (vni) => this.d.vniInUse(vni, vm.id));
    } catch (err) {
      this.d.log.error({ ...ctx, err }, 'cannot remove the source copy of a migrated VM');
    }
  }

  /** query-migrate once QEMU is in `postmigrate` (before that it can report zero times). */
  private async settled(mon: QmpMonitor): Promise<MigrationInfo> {
    const deadline = Date.now() + 10_000;
    while ((await queryStatus(mon)).status !== 'postmigrate' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    return queryMigrate(mon);
  }
}

export type MigrateOutcome = 'completed' | 'failed' | 'cancelled' | 'active' | 'unknown';

/**
 * How a migration ended, once `migrate` was issued, from the source QEMU's
 * query-migrate (`info`) and query-status (`status`), undefined when QMP did
 * not answer. Only `failed`/`cancelled` let the VM stay here: any doubt
 * (`unknown`) must not free the destination, which may run the only guest.
 * `active`: still under way.
 */
export function outcomeAfterMigrate(info: MigrationInfo | undefined, status: StatusInfo | undefined): MigrateOutcome {
  const s = info?.status;
  if (s === 'completed') return 'completed';
  if (s === 'failed' || s === 'cancelled') return s === 'failed' ? 'failed' : 'cancelled';
  // A source QEMU that handed its guest over stays paused in postmigrate.
  if (status?.status === 'postmigrate') return 'completed';
  if (s !== undefined && s !== 'none') return 'active';
  // No migration in this QEMU and its guest runs: the transfer never began.
  if (info && status?.status === 'running') return 'failed';
  return 'unknown';
}

function figuresOf(info: MigrationInfo): MigrationFigures {
  const ms = (n: number | undefined) => Math.max(0, Math.round(n ?? 0));
  return {
    totalMs: ms(info['total-time']),
    downtimeMs: ms(info.downtime),
    ...(info['setup-time'] !== undefined ? { setupMs: ms(info['setup-time']) } : {}),
    ramBytes: ms(info.ram?.transferred),
    ...(info.ram?.mbps !== undefined ? { mbps: info.ram.mbps } : {}),
  };
}
