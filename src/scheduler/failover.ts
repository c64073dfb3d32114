import { toUcloudError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import type { FailoverManager } from '../managers/failover.js';
import type { MigrationManager } from '../managers/migrations.js';
import type { HostAlive, Vm } from '../model/index.js';
import type { EventLog } from '../store/event-log.js';
import type { Informer } from '../store/informer.js';
import { Keys, type Kinds } from '../store/keys.js';
import { monoMs } from '../common/clock.js';
import type { Versioned } from '../store/store.js';

type Inf<K extends keyof typeof Kinds> = Informer<(typeof Kinds)[K]['schema']>;

/**
 * The vm/ cache's indexes a pass needs (added to the scheduler's VM informer
 * with MIGRATION_INDEXES' `onHost`): VMs by host and the incarnation they were
 * placed with, so a pass counts a live host's VMs of its own incarnation
 * instead of reading every VM of the fleet on every pass.
 */
export const FAILOVER_INDEXES = {
  onHostEpoch: (v: Vm) => (v.host ? epochKey(v.host, v.epoch) : undefined),
};

const epochKey = (host: string, epoch: string | undefined) => `${host}\u0000${epoch === undefined ? '-' : `=${epoch}`}`;

/** How soon a failed storage fencing is tried again. */
const FENCE_RETRY_MS = 5_000;

export interface FailoverOptions {
  /** failover_margin: how long a host must have been seen dead before its VMs are acted on. */
  marginMs: number;
  /** Asks for another pass (when a host's margin runs out). */
  trigger: () => void;
  /** The audit log: each failover and recovery decision is recorded there. */
  events?: EventLog;
}

/**
 * Dead hosts' VMs. A host is dead for a VM when its presence record is gone
 * (the lease ended: TTL after the agent's last renewal) or names another
 * incarnation than the one the VM was placed with. After failover_margin
 * more, counted from when this scheduler first saw it, an armed HA VM on
 * shared storage is unplaced to start elsewhere; any other running VM is
 * marked error HOST_DEAD where it is. The host's fence watchdog has killed
 * its HA VMs by then (fence_timeout < host_lease_ttl): docs/architecture.md,
 * "HA and fencing", has the argument.
 */
export class Failover {
  /** `host|epoch` → when this scheduler first saw that incarnation dead (CLOCK_MONOTONIC ms). */
  private readonly seenDead = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly vms: Inf<'vm'>,
    private readonly hosts: Inf<'host'>,
    private readonly alive: Inf<'hostAlive'>,
    private readonly writes: FailoverManager,
    private readonly migrations: Pick<MigrationManager, 'modeFor'>,
    private readonly log: Logger,
    private readonly opts: FailoverOptions,
  ) {}

  stop(): void {
    clearTimeout(this.timer);
  }

  async pass(): Promise<void> {
    const now = monoMs();
    let next = Infinity;
    const seen = new Set<string>();
    for (const h of this.hosts.values()) {
      const alive: Versioned<HostAlive> | undefined = this.alive.get(Keys.hostAlive(h.name));
      if (alive && allOfIncarnation(this.vms, h.name, alive.value)) continue;
      for (const vm of this.vms.byIndex('onHost', h.name)) {
        if (vm.value.recover && !alive && leftOnDeadHost(vm.value)) {
          await this.recover(vm).catch((err: unknown) => {
            this.log.warn({ err, vm: vm.value.id }, 'recovery failed; trying again shortly');
            next = Math.min(next, now + FENCE_RETRY_MS);
          });
          continue;
        }
        if (!actionable(vm.value) || !deadFor(vm.value, alive?.value)) continue;
        const key = `${h.name}|${alive ? vm.value.epoch : ''}`;
        seen.add(key);
        let since = this.seenDead.get(key);
        if (since === undefined) {
          this.seenDead.set(key, (since = now));
          this.log.warn({ host: h.name, epoch: vm.value.epoch, alive: alive?.value.epoch }, alive ? 'host came back as another incarnation: its VMs of the old one are acted on after the margin' : 'host dead (its presence lease ended): its VMs are acted on after the margin');
        }
        if (now < since + this.opts.marginMs) {
          next = Math.min(next, since + this.opts.marginMs);
          continue;
        }
        await this.act(vm, alive).catch((err: unknown) => this.log.warn({ err, vm: vm.value.id }, 'failover write failed; trying again next pass'));
      }
    }
    // Side by side, after the rest: a slow or unreachable store delays only the VMs on it.
    const fencing = await Promise.all(this.vms.byIndex('fencing', 'yes').map((vm) => this.fence(vm)));
    if (fencing.includes(false)) next = Math.min(next, now + FENCE_RETRY_MS);
    for (const k of this.seenDead.keys()) if (!seen.has(k)) this.seenDead.delete(k);
    clearTimeout(this.timer);
    if (next < Infinity) this.timer = setTimeout(() => this.opts.trigger(), Math.max(0, next - now) + 20);
  }

  private async act(vm: Versioned<Vm>, alive: Versioned<HostAlive> | undefined): Promise<void> {
    const v = vm.value;
    const why = await this.whyNotRestarted(v);
    if (why === undefined) {
      if (await this.writes.restartElsewhere(vm, alive)) {
        this.log.warn({ vm: v.id, name: v.name, from: v.host }, 'failover: HA VM restarting on another host');
        this.record(v, 'vm.failover', `host ${v.host ?? ''} is dead: restarting elsewhere`);
      }
      return;
    }
    if (await this.writes.markHostDead(vm, alive, why)) {
      this.log.warn({ vm: v.id, name: v.name, host: v.host, why }, 'VM on a dead host marked HOST_DEAD');
      this.record(v, 'vm.failover', why, 'HOST_DEAD');
    }
  }

  /**
   * `vm recover` (checked by the API when asked): unplaced like an HA VM, its
   * storage fenced before it is placed. A non-HA VM's QEMU may still run on a
   * cut-off host; fencing finds it by its hold on the disks (watch or lock).
   * A disk nobody holds proves nothing (a QEMU cut off for longer than Ceph's
   * watch timeout that holds no lock is not seen): then only the admin's word
   * that the host is off lets it go on.
   */
  private async recover(vm: Versioned<Vm>): Promise<void> {
    const v = vm.value;
    if (!v.recover?.hostIsOff) {
      const unheld = [...(await this.writes.holders(v)).entries()].filter(([, clients]) => clients.length === 0).map(([disk]) => disk);
      if (unheld.length) {
        const why = `nothing holds disk ${unheld.join(', ')} now, so fencing cannot tell that ${v.host}'s QEMU is gone: make sure ${v.host} is off, then \`ucloud vm recover ${v.name} --host-is-off\``;
        if (await this.writes.dropRecover(vm, why)) {
          this.log.warn({ vm: v.id, name: v.name, host: v.host, unheld }, 'recovery refused: nothing to fence');
          this.record(v, 'vm.recover', why, 'VM_NOT_RECOVERABLE');
        }
        return;
      }
    }
    if (await this.writes.restartElsewhere(vm, undefined)) {
      this.log.warn({ vm: v.id, name: v.name, from: v.host, by: v.recover?.by }, 'recovery: VM restarting on another host');
      this.record(v, 'vm.recover', `restarting elsewhere than ${v.host ?? ''}`);
    }
  }

  /** `code`: the decision left the VM in error (or refused), with that code. */
  private record(v: Vm, action: string, message: string, code?: string): void {
    void this.opts.events?.record({ actor: { kind: 'scheduler', name: 'scheduler' }, action, object: { kind: 'vm', id: v.id, name: v.name, owner: v.owner }, result: code ? 'error' : 'ok', ...(code ? { code } : {}), message: message.slice(0, 1000) });
  }

  /** Storage fencing of an unplaced, failed-over VM; false: it failed (tried again shortly). */
  private async fence(vm: Versioned<Vm>): Promise<boolean> {
    const v = vm.value;
    try {
      const fenced = await this.writes.fenceStorage(v);
      if (await this.writes.fenceDone(vm, { fenced })) this.log.warn({ vm: v.id, name: v.name, from: v.lastFailover?.from, fenced }, 'failover: the dead host\'s storage clients of the VM fenced');
      return true;
    } catch (err) {
      this.log.warn({ err, vm: v.id, name: v.name }, 'storage fencing failed; trying again');
      await this.writes.fenceDone(vm, { error: toUcloudError(err).message }).catch(() => undefined);
      return false;
    }
  }

  /** Why `vm` is not restarted elsewhere (undefined: it is). */
  private async whyNotRestarted(vm: Vm): Promise<string | undefined> {
    if (vm.ha !== true) return 'the VM is not HA (vm set --ha on)';
    if (vm.haArmed !== true) return 'the VM is HA but was not armed there (no fence watchdog ran on its host, `ucloud host fence`)';
    if (vm.desired !== 'running') return 'the VM was not asked to run';
    if ((await this.migrations.modeFor(vm)) !== 'shared') return 'its disks are on storage only that host sees';
    return undefined;
  }
}

/** A VM the failover looks at: placed and meant to run, not moving, not already marked. */
function actionable(vm: Vm): boolean {
  if (vm.status === 'migrating' || vm.status === 'deleting' || vm.desired === 'deleted') return false;
  if (vm.status === 'stopped' && vm.desired === 'stopped') return false;
  return !leftOnDeadHost(vm);
}

function leftOnDeadHost(vm: Vm): boolean {
  return vm.status === 'error' && vm.error?.code === 'HOST_DEAD';
}

/**
 * A live host none of whose VMs is dead for it (nearly every host, every
 * pass): each was placed with its present incarnation or with none (deadFor
 * then needs the presence gone). Two counts, not a walk over its VMs.
 */
function allOfIncarnation(vms: Inf<'vm'>, host: string, alive: HostAlive): boolean {
  const total = vms.countByIndex('onHost', host);
  if (total === 0 || alive.epoch === undefined) return true;
  return vms.countByIndex('onHostEpoch', epochKey(host, alive.epoch)) + vms.countByIndex('onHostEpoch', epochKey(host, undefined)) === total;
}

/** Whether the incarnation `vm` was placed with is gone: no presence, or another lease. */
export function deadFor(vm: Pick<Vm, 'epoch'>, alive: Pick<HostAlive, 'epoch'> | undefined): boolean {
  return !alive || (vm.epoch !== undefined && alive.epoch !== undefined && alive.epoch !== vm.epoch);
}
