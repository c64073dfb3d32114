// Which VM addresses this host announces (route_mode bgp): a /128 for each NIC
// on a routed network of every VM that runs here — placed here, meant to run,
// and running or migrating away (until the record names the new host). The
// set is computed from the agent's own view of its VMs whenever that changes,
// so a stop, a delete, a failure recorded by the agent and a migration's
// switch-over (the record's host changes: the old host's view loses the VM,
// the new one's gains it) all change what is announced without a separate
// path for each.

import type { Logger } from '../common/logger.js';
import { routedVia, type Vm } from '../model/index.js';

export interface RouteAnnouncerDeps {
  host: string;
  /** Whether the network of this VNI is routed (networks never change this). */
  routedVni: (vni: number) => Promise<boolean>;
  /** Makes the announced set exactly this (HostNetwork.announce). */
  announce: (addresses: readonly string[]) => Promise<unknown>;
  log: Logger;
  /** How often the set is applied again even without a change (BIRD restarted if it died); default 10 s. */
  refreshMs?: number;
}

/** The addresses `vms` put on this host's announce list, given which VNIs are routed. */
export function announcedAddresses(host: string, vms: readonly Vm[], routed: ReadonlySet<number>): string[] {
  const out = new Set<string>();
  for (const vm of vms) {
    if (routedVia(vm) !== host) continue;
    for (const nic of vm.nics ?? []) if (routed.has(nic.vni)) out.add(nic.address);
  }
  return [...out].sort();
}

export class RouteAnnouncer {
  private latest: readonly Vm[] = [];
  private running: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly routed = new Map<number, boolean>();
  private stopped = false;

  constructor(private readonly deps: RouteAnnouncerDeps) {}

  /** The agent's VMs changed: apply the set they give (coalesced; the newest view wins). */
  sync(vms: readonly Vm[]): void {
    this.latest = vms;
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.apply().finally(() => {
      this.running = undefined;
      if (this.again) {
        this.again = false;
        this.sync(this.latest);
      }
    });
    if (!this.timer) {
      this.timer = setInterval(() => this.sync(this.latest), this.deps.refreshMs ?? 10_000);
      this.timer.unref();
    }
  }

  /** Stops refreshing; what is announced stays (a stopped agent is not a stopped hypervisor). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  private async apply(): Promise<void> {
    try {
      const vnis = new Set(this.latest.flatMap((vm) => (vm.host === this.deps.host ? (vm.nics ?? []).map((n) => n.vni) : [])));
      for (const v of this.routed.keys()) if (!vnis.has(v)) this.routed.delete(v); // a freed VNI may come back as another network
      for (const v of vnis) if (!this.routed.has(v)) this.routed.set(v, await this.deps.routedVni(v));
      const routed = new Set([...this.routed].filter(([, r]) => r).map(([v]) => v));
      await this.deps.announce(announcedAddresses(this.deps.host, this.latest, routed));
    } catch (err) {
      this.deps.log.error({ err }, 'cannot update the announced VM routes (retried)');
    }
  }
}
