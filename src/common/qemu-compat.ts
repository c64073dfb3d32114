// Whether a host's QEMU can run a VM's machine: the versioned machine type and
// the CPU model recorded when the VM first started. A migration's destination
// must build the very same virtual hardware, or the guest's state does not load.

/** What a host's agent announces its QEMU offers (HostAlive.qemu). */
export interface QemuOffer {
  machines: string[];
  cpuModels: string[];
  /** This host's physical CPU and QEMU, as one opaque signature: `host`/`max` guests move only between equal ones. */
  hostCpu: string;
}

/** What a VM needs (its VmQemu.machine and .cpu, and for `host`/`max` the signature of the host it runs on). */
export interface QemuNeed {
  machine?: string | undefined;
  cpu?: string | undefined;
  hostCpu?: string | undefined;
}

/** CPU models that pass the host's own CPU through: the guest sees features another host may lack. */
export const HOST_CPU_MODELS: readonly string[] = ['host', 'max'];

/** Why `offer` cannot run `need` (undefined: it can; an offer or need that says nothing counts as compatible). */
export function qemuMismatch(need: QemuNeed | undefined, offer: QemuOffer | undefined): string | undefined {
  if (!need || !offer) return undefined;
  if (need.machine && !offer.machines.includes(need.machine)) return `no machine type ${need.machine}`;
  if (need.cpu && HOST_CPU_MODELS.includes(need.cpu)) {
    if (need.hostCpu !== offer.hostCpu) return `CPU model ${need.cpu} passes the source's own CPU through, and this host's CPU or QEMU differs`;
    return undefined;
  }
  if (need.cpu && !offer.cpuModels.includes(need.cpu)) return `no CPU model ${need.cpu}`;
  return undefined;
}
