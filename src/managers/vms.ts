import { randomBytes, randomUUID } from 'node:crypto';
import { UcloudError } from '../common/errors.js';
import { slaacAddress } from '../common/eui64.js';
import { nowIso, type Host, type HostAllocation, type Image, type Network, type Resources, type Vm, type VmDesired, type VmNic } from '../model/index.js';
import { allowedOf, DIMENSIONS, overbooked, sumResources } from '../common/capacity.js';
import type { EventLog } from '../store/event-log.js';
import { checkVmWrite, stampEpoch, type VmActor } from '../model/vm-lifecycle.js';
import { Keys, Kinds, lastSegment } from '../store/keys.js';
import { DELETE, type Store, type Txn, type Versioned } from '../store/store.js';
import { stageImageIndex } from './image-vm-index.js';
import { vmsOf } from './owner-vms.js';
import { backoff, negate, readUsage, stageUsage, usageOfVm, type Limits, type UsageDelta } from './usage.js';

export interface VmCreate {
  owner: string;
  name: string;
  image: Vm['image'];
  /** The createdAt of the image the caller resolved (and checked the user may use): another of the same name made since is refused. */
  imageCreatedAt?: string;
  cpu: number;
  ramBytes: number;
  diskBytes: number;
  hddBytes?: number[];
  /** One NIC on each, in order. */
  networks?: Versioned<Network>[];
  /** cloud-init user-data, already checked (checkUserData); stored under its own key. */
  userData?: string;
  /** High availability (docs/architecture.md, "HA and fencing"). */
  ha?: boolean;
  /** A VNC screen (model VmDisplay); left out: none. */
  display?: 'vnc';
  /** The owner's quota (QuotaManager.limitsOf); left out: counted, never refused. */
  limits?: Limits;
}

/** QEMU's locally administered range (52:54:00), random below it. */
function randomMac(): string {
  return `52:54:00:${[...randomBytes(3)].map((b) => b.toString(16).padStart(2, '0')).join(':')}`;
}

/** What a VM books on its host: its vCPUs, RAM, and all of its disks. */
export function resourcesOf(vm: Pick<Vm, 'cpu' | 'ramBytes' | 'diskBytes' | 'hddBytes'>): Resources {
  return { cpu: vm.cpu, ramBytes: vm.ramBytes, diskBytes: vm.diskBytes + (vm.hddBytes ?? []).reduce((a, b) => a + b, 0) };
}

/**
 * The hosts whose index holds a mirror of the VM: the one it runs on and,
 * during a migration, its destination, so that host's agent sees it coming.
 */
export function mirrorHostsOf(vm: Pick<Vm, 'host' | 'migration'>): string[] {
  const hosts = vm.host ? [vm.host] : [];
  const to = vm.migration?.destination;
  if (to && !hosts.includes(to)) hosts.push(to);
  return hosts;
}

/**
 * Stages one write of a VM record: `vm/<id>` compared unchanged since `prev`
 * was read (or absent when there is no `prev`), then put or deleted, and its
 * per-host mirrors (`host-vm/<host>/<id>`) put for the hosts it has now and
 * deleted for the hosts it had before, and its entry in the image index
 * (`image-vm/…/<id>`, see image-vm-index.ts). Every write of `vm/<id>` goes
 * through here, so neither index can disagree with the record past one commit.
 */
export function stageVmWrite(t: Txn, prev: Versioned<Vm> | undefined, given: Vm | typeof DELETE, actor: VmActor): Txn {
  const next = given === DELETE ? given : stampEpoch(prev?.value, given, actor);
  checkVmWrite(prev?.value, next === DELETE ? undefined : next, actor);
  const id = next === DELETE ? prev?.value.id : next.id;
  if (id === undefined) throw new UcloudError('INTERNAL', 'stageVmWrite: nothing to delete');
  const key = Keys.vm(id);
  if (prev) {
    if (prev.key !== key) throw new UcloudError('INTERNAL', `stageVmWrite: ${prev.key} is not ${key}`);
    t.unchanged(prev);
  } else t.absent(key);
  const hostsNow = next === DELETE ? [] : mirrorHostsOf(next);
  if (next === DELETE) t.delete(key);
  else {
    t.put(Kinds.vm, key, next);
    for (const h of hostsNow) t.put(Kinds.vm, Keys.hostVm(h, id), next);
  }
  for (const h of prev ? mirrorHostsOf(prev.value) : []) if (!hostsNow.includes(h)) t.delete(Keys.hostVm(h, id));
  stageImageIndex(t, id, prev?.value, next);
  return t;
}

/**
 * Stages VM `id`'s booking of `res` on `host`: the allocation put, compared
 * unchanged since `alloc` was read, and the host record compared unchanged
 * since `hostRec` was read, so the capacity check made here still holds at
 * commit (neither a concurrent booking nor a racing `host set` can overbook).
 * False, with nothing staged: it does not fit the host's allowed capacity.
 * An unregistered host (`hostRec` undefined) has no capacity to check (tests book on one).
 */
export function stageBooking(t: Txn, host: string, id: string, res: Resources, alloc: Versioned<HostAllocation> | undefined, hostRec: Versioned<Host> | undefined): boolean {
  const booked: HostAllocation = { vms: { ...(alloc?.value.vms ?? {}), [id]: res } };
  if (hostRec && overbooked(sumResources(Object.values(booked.vms)), allowedOf(hostRec.value))) return false;
  if (hostRec) t.unchanged(hostRec);
  else t.absent(Keys.host(host));
  if (alloc) t.unchanged(alloc);
  else t.absent(Keys.hostAlloc(host));
  t.put(Kinds.hostAlloc, Keys.hostAlloc(host), booked);
  return true;
}

/**
 * The meta record saying every VM with a host has its mirror: written once the
 * cluster-wide backfill ran (see VmManager.backfillHostIndex). A cluster from
 * before the index lacks it, and an agent then backfills its own VMs before it
 * trusts its index.
 */
const HOST_INDEX_MARKER = 'host-vm-index';

/** Owns the VM records, their name index and their share of a host's allocation. */
export class VmManager {
  readonly actor: VmActor;

  /** A host agent's event log (undefined for other writers). */
  readonly events: EventLog | undefined;

  /**
   * `actor`: who this process writes VMs as; every write is checked against the VM state machine (model/vm-lifecycle.ts).
   * `events`: a host agent's status moves are recorded there ('vm.running', 'vm.error', …); the API records its requests itself.
   */
  constructor(
    private readonly store: Store,
    opts: { actor: VmActor; events?: EventLog },
  ) {
    this.actor = opts.actor;
    this.events = opts.actor.kind === 'host' ? opts.events : undefined;
  }

  private recordMove(prev: Vm | undefined, next: Vm | typeof DELETE): void {
    if (!this.events || this.actor.kind !== 'host' || !prev) return;
    if (next !== DELETE && next.lastReboot && next.lastReboot.id !== prev.lastReboot?.id && next.lastReboot.mode !== 'start') {
      const r = next.lastReboot;
      void this.events.record({
        actor: { kind: 'host', name: this.actor.name },
        action: 'vm.rebooted',
        object: { kind: 'vm', id: next.id, name: next.name, owner: next.owner },
        result: r.error ? 'error' : 'ok',
        ...(r.error ? { code: r.error.code, message: r.error.message.slice(0, 1000) } : { message: r.mode === 'acpi' ? 'the guest powered off on the ACPI button and was reset' : 'the guest was reset' }),
      });
    }
    const status = next === DELETE ? 'deleted' : next.status;
    if (status === prev.status) return;
    const vm = next === DELETE ? prev : next;
    const failed = next !== DELETE && next.status === 'error';
    void this.events.record({
      actor: { kind: 'host', name: this.actor.name },
      action: `vm.${status}`,
      object: { kind: 'vm', id: vm.id, name: vm.name, owner: vm.owner },
      result: failed ? 'error' : 'ok',
      ...(failed && next.error ? { code: next.error.code, message: next.error.message.slice(0, 1000) } : {}),
    });
  }

  /**
   * Records a new VM, its name, its user-data and a unique MAC per NIC in one transaction that
   * also requires its networks and its image unchanged: a network or an image being deleted
   * (marked first) makes this create fail instead of leaving a VM on a deleted network or
   * over a deleted image's bytes.
   */
  async create(input: VmCreate): Promise<Vm> {
    const { networks = [], userData, limits, imageCreatedAt, ...spec } = input;
    const nameKey = Keys.vmName(input.owner, input.name);
    // Enough for every create of one user at once to lose to each other once (see backoff).
    for (let attempt = 0; attempt < 100; attempt++) {
      await backoff(attempt);
      const [usage, image] = await Promise.all([readUsage(this.store, input.owner), this.readyImage(input.image, imageCreatedAt)]);
      const now = nowIso();
      const nics: VmNic[] = networks.map(({ value: n }) => {
        const mac = randomMac();
        return { network: n.name, vni: n.vni, prefix: n.prefix, mac, address: slaacAddress(n.prefix, mac) };
      });
      const vm: Vm = {
        id: randomUUID(),
        ...spec,
        desired: 'running',
        generation: 1,
        observedGeneration: 0,
        status: 'pending',
        reason: 'waiting for the scheduler',
        disks: [],
        ...(nics.length ? { nics } : {}),
        ...(userData ? { hasUserData: true } : {}),
        createdAt: now,
        updatedAt: now,
      };
      const t = stageVmWrite(this.store.txn(), undefined, vm, this.actor).absent(nameKey).put(Kinds.vmName, nameKey, { id: vm.id });
      if (userData) t.absent(Keys.userData(vm.id)).put(Kinds.userData, Keys.userData(vm.id), { vmId: vm.id, owner: vm.owner, text: userData });
      for (const n of networks) t.unchanged(n);
      if (image) t.unchanged(image);
      for (const nic of nics) t.absent(Keys.allocMac(nic.mac)).put(Kinds.alloc, Keys.allocMac(nic.mac), { owner: vm.owner, holder: Keys.vm(vm.id) });
      stageUsage(t, usage, usageOfVm(vm), limits);
      // The witness: the VM's random id under its name.
      if (await t.commit({ witness: nameKey })) return vm;
      const taken = await this.store.get(Kinds.vmName, nameKey);
      if (taken) throw new UcloudError('VM_NAME_TAKEN', `you already have a VM named "${input.name}"`);
      for (const n of networks) {
        const cur = await this.store.get(Kinds.network, n.key);
        if (!cur || cur.value.deleting) throw new UcloudError('NETWORK_NOT_FOUND', `network "${n.value.name}" was deleted`);
        n.modRevision = cur.modRevision;
      }
    }
    throw new UcloudError('CONFLICT', 'could not record the VM; try again');
  }

  /**
   * The record of the image a VM is made from, ready (else IMAGE_NOT_READY or
   * IMAGE_NOT_FOUND): what the create compares, so an image delete's mark
   * (ImageManager.requestDelete) fails every create that has not committed.
   * With `createdAt`, only the image the caller resolved, not another made
   * under its name since. A reference of the layout before owners (no owner)
   * names no one record.
   */
  private async readyImage(ref: Vm['image'], createdAt: string | undefined): Promise<Versioned<Image> | undefined> {
    if (ref.owner === undefined) return undefined;
    const img = await this.store.get(Kinds.image, Keys.image(ref.owner, ref.name));
    if (!img || (createdAt !== undefined && img.value.createdAt !== createdAt)) throw new UcloudError('IMAGE_NOT_FOUND', `no image "${ref.owner}/${ref.name}"`);
    if (img.value.status !== 'ready') throw new UcloudError('IMAGE_NOT_READY', `image "${ref.owner}/${ref.name}" is ${img.value.status}`);
    return img;
  }

  async get(id: string): Promise<Vm | undefined> {
    return (await this.store.get(Kinds.vm, Keys.vm(id)))?.value;
  }

  async findByName(owner: string, name: string): Promise<Vm | undefined> {
    const ref = await this.store.get(Kinds.vmName, Keys.vmName(owner, name));
    return ref ? this.get(ref.value.id) : undefined;
  }

  /** A user's VMs (through their name index), or with no owner every VM (all of `vm/`, in pages). */
  async list(owner?: string): Promise<Vm[]> {
    const vms = owner === undefined ? (await this.store.list(Kinds.vm, Keys.vms())).items.map((i) => i.value) : await vmsOf(this.store, owner);
    return vms.sort((a, b) => a.owner.localeCompare(b.owner) || a.name.localeCompare(b.name));
  }

  /**
   * Records a user's intent and bumps the generation, so the host acts on it even
   * when the VM is in error. A VM that was never placed has no host to act, so
   * its new state is settled here.
   */
  async request(id: string, desired: Exclude<VmDesired, 'deleted'> | 'deleted'): Promise<Vm | undefined> {
    const vm = await this.update(id, (cur) => {
      if (!cur) throw new UcloudError('VM_NOT_FOUND', 'the VM does not exist');
      if (cur.desired === 'deleted') return undefined;
      if (cur.status === 'migrating') {
        // Already running, and stays so: nothing to ask. Stopping or deleting waits for the migration to end.
        if (desired === 'running') return undefined;
        throw new UcloudError('VM_MIGRATING', `VM "${cur.name}" is migrating${cur.migration?.destination ? ` to ${cur.migration.destination}` : ''}: it cannot be ${desired === 'stopped' ? 'stopped' : 'deleted'} until the migration ends`);
      }
      const next: Vm = { ...cur, desired, generation: cur.generation + 1, updatedAt: nowIso() };
      delete next.error;
      if (!cur.host) {
        next.observedGeneration = next.generation;
        next.status = desired === 'running' ? 'pending' : desired === 'stopped' ? 'stopped' : 'deleting';
        if (desired === 'running') next.reason = 'waiting for the scheduler';
        else delete next.reason;
      }
      return next;
    });
    if (vm && vm.desired === 'deleted' && !vm.host) {
      await this.finalizeDelete(id);
      return undefined;
    }
    return vm;
  }

  /**
   * Asks the VM's host to reboot it (the host settles it in `lastReboot`). A
   * reboot already asked for and not yet settled is that one, unless this one
   * is forced (a reset then follows).
   */
  async reboot(id: string, by: string, force: boolean): Promise<Vm> {
    const vm = await this.update(id, (cur) => {
      if (!cur) throw new UcloudError('VM_NOT_FOUND', 'the VM does not exist');
      if (cur.desired === 'deleted') throw new UcloudError('VM_BUSY', `VM "${cur.name}" is being deleted`);
      if (cur.status === 'migrating') throw new UcloudError('VM_MIGRATING', `VM "${cur.name}" is migrating${cur.migration?.destination ? ` to ${cur.migration.destination}` : ''}: it reboots once the migration ends`);
      if (cur.status !== 'running' || cur.desired !== 'running') {
        throw new UcloudError('VM_NOT_RUNNING', `VM "${cur.name}" is ${cur.status}${cur.desired !== 'running' ? ` (asked to be ${cur.desired})` : ''}: only a running VM reboots`);
      }
      const pending = cur.reboot !== undefined && cur.reboot.id !== cur.lastReboot?.id;
      if (pending && (!force || cur.reboot!.force === true)) return undefined;
      return { ...cur, reboot: { id: randomUUID(), by, at: nowIso(), ...(force ? { force: true } : {}) }, updatedAt: nowIso() };
    });
    return vm!;
  }

  /** Changes observed state; `fn` returns undefined to leave the record alone. */
  async observe(id: string, fn: (vm: Vm) => Vm | undefined): Promise<Vm | undefined> {
    return this.update(id, (cur) => {
      if (!cur) return undefined;
      const next = fn(cur);
      return next && { ...next, updatedAt: nowIso() };
    });
  }

  /**
   * Read-modify-write of one VM with compare-and-swap (Store.update's contract),
   * staged through stageVmWrite so its host's mirror changes with it.
   */
  private async update(id: string, fn: (cur: Vm | undefined) => Vm | undefined | typeof DELETE, attempts = 20): Promise<Vm | undefined> {
    const key = Keys.vm(id);
    for (let i = 0; i < attempts; i++) {
      const cur = await this.store.get(Kinds.vm, key);
      const next = fn(cur ? structuredClone(cur.value) : undefined);
      if (next === undefined) return cur?.value;
      if (await stageVmWrite(this.store.txn(), cur, next, this.actor).commit()) {
        this.recordMove(cur?.value, next);
        return next === DELETE ? undefined : next;
      }
    }
    throw new UcloudError('CONFLICT', `${Kinds.vm.kind} ${key} kept changing; gave up after ${attempts} attempts`);
  }

  /**
   * Books the VM on `host`: the VM record and the host's allocation change in one
   * transaction that fails if either, or the host record, changed since it was
   * read. The booking must fit the host's allowed capacity as counted from that
   * very allocation and host record, so neither concurrent schedulers nor a
   * racing `host set` can overbook it. False: someone else got there first, or
   * it no longer fits; read again and re-plan.
   */
  async assign(vm: Versioned<Vm>, host: string, alloc: Versioned<HostAllocation> | undefined): Promise<boolean> {
    const next: Vm = { ...vm.value, host, status: 'scheduled', updatedAt: nowIso() };
    delete next.reason;
    const t = stageVmWrite(this.store.txn(), vm, next, this.actor);
    const hostRec = await this.store.get(Kinds.host, Keys.host(host));
    if (!stageBooking(t, host, vm.value.id, resourcesOf(vm.value), alloc, hostRec)) return false;
    return t.commit();
  }

  /** Whether the per-host index is known complete (the one-time backfill ran on this cluster). */
  async hostIndexComplete(): Promise<boolean> {
    return (await this.store.get(Kinds.meta, Keys.meta(HOST_INDEX_MARKER))) !== undefined;
  }

  /**
   * Brings the per-host index in line with the VM records: writes the mirrors
   * a placed VM lacks (a cluster from before the index) and removes mirrors no
   * record calls for. `host`: only that host's mirrors (what an agent runs for
   * itself); without it, every host's, and then the marker is written so no
   * agent needs to scan again. Every change is a CAS, so it can run beside live
   * writers (and beside other backfills). Reads all of `vm/`, in pages.
   * A VM record that fails its schema is left alone, and so is its mirror.
   */
  async backfillHostIndex(host?: string): Promise<{ written: number; removed: number }> {
    const [mirrors, vms] = await Promise.all([this.store.list(Kinds.vm, host ? Keys.hostVms(host) : Keys.hostVmIndex()), this.store.list(Kinds.vm, Keys.vms())]);
    const mirrorAt = new Map(mirrors.items.map((m) => [m.key, m]));
    const vmAt = new Map(vms.items.map((v) => [v.key, v]));
    let written = 0;
    let removed = 0;
    for (const vm of vms.items) {
      const keys = mirrorHostsOf(vm.value)
        .filter((h) => host === undefined || h === host)
        .map((h) => Keys.hostVm(h, vm.value.id));
      // Written with its record, a mirror shares its mod revision: any other is missing or stale.
      if (keys.some((k) => mirrorAt.get(k)?.modRevision !== vm.modRevision) && (await this.reindex(vm.value.id))) written++;
    }
    const unreadable = new Set(vms.skipped);
    for (const m of mirrors.items) {
      const vmKey = Keys.vm(lastSegment(m.key));
      if (unreadable.has(vmKey)) continue;
      const vm = vmAt.get(vmKey);
      if (vm && mirrorHostsOf(vm.value).some((h) => Keys.hostVm(h, vm.value.id) === m.key)) continue;
      const t = this.store.txn().unchanged(m).delete(m.key);
      if (vm) t.unchanged(vm);
      else t.absent(vmKey);
      if (await t.commit()) removed++;
    }
    if (host === undefined) await this.store.create(Kinds.meta, Keys.meta(HOST_INDEX_MARKER), { version: 1, at: nowIso() });
    return { written, removed };
  }

  /**
   * Writes the VM record back unchanged, with its mirrors: repairs a mirror that
   * is missing. False when the VM is gone or has no host.
   */
  async reindex(id: string): Promise<boolean> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const cur = await this.store.get(Kinds.vm, Keys.vm(id));
      if (!cur || mirrorHostsOf(cur.value).length === 0) return false;
      if (await stageVmWrite(this.store.txn(), cur, cur.value, this.actor).commit()) return true;
    }
    throw new UcloudError('CONFLICT', `VM ${id} kept changing while being indexed`);
  }

  /**
   * Deletes `host`'s mirror of VM `id` when no record calls for it (an older
   * writer deleted or moved the VM without it). False when there is none to delete.
   */
  async dropStaleMirror(host: string, id: string): Promise<boolean> {
    const [mirror, vm] = await Promise.all([this.store.get(Kinds.vm, Keys.hostVm(host, id)), this.store.get(Kinds.vm, Keys.vm(id))]);
    if (!mirror || (vm && mirrorHostsOf(vm.value).includes(host))) return false;
    const t = this.store.txn().unchanged(mirror).delete(mirror.key);
    if (vm) t.unchanged(vm);
    else t.absent(Keys.vm(id));
    return t.commit();
  }

  /** Removes the VM record, its user-data, its name and its booking, all at once. */
  async finalizeDelete(id: string, opts: { onlyIfHostDead?: boolean } = {}): Promise<void> {
    for (let attempt = 0; attempt < 100; attempt++) {
      await backoff(attempt);
      const vm = await this.store.get(Kinds.vm, Keys.vm(id));
      if (!vm) return;
      const t = stageVmWrite(this.store.txn(), vm, DELETE, this.actor).delete(Keys.userData(id));
      stageUsage(t, await readUsage(this.store, vm.value.owner), negate(usageOfVm(vm.value)));
      // Decided from a cache: the host's presence is checked again in the transaction, so a
      // host whose lease lapsed a moment ago and is back never loses a VM it still runs.
      if (opts.onlyIfHostDead && vm.value.host) t.absent(Keys.hostAlive(vm.value.host));
      for (const nic of vm.value.nics ?? []) t.delete(Keys.allocMac(nic.mac));
      const nameKey = Keys.vmName(vm.value.owner, vm.value.name);
      const name = await this.store.get(Kinds.vmName, nameKey);
      if (name?.value.id === id) t.unchanged(name).delete(nameKey);
      // During a migration it is booked on its destination too.
      for (const host of mirrorHostsOf(vm.value)) {
        const alloc = await this.store.get(Kinds.hostAlloc, Keys.hostAlloc(host));
        if (alloc?.value.vms[id]) {
          const rest = { ...alloc.value.vms };
          delete rest[id];
          t.unchanged(alloc).put(Kinds.hostAlloc, alloc.key, { vms: rest });
        }
      }
      if (await t.commit()) return this.recordMove(vm.value, DELETE);
      // The host is alive after all: its agent finishes the delete.
      if (opts.onlyIfHostDead && vm.value.host && (await this.store.get(Kinds.hostAlive, Keys.hostAlive(vm.value.host)))) return;
    }
    throw new UcloudError('CONFLICT', `VM ${id} kept changing while being deleted`);
  }

  /** Turns HA on or off (the host arms or disarms it: `haArmed`). A deleted VM is refused. */
  async setHa(id: string, ha: boolean): Promise<Vm> {
    const next = await this.update(id, (cur) => {
      if (!cur) throw new UcloudError('VM_NOT_FOUND', `no VM ${id}`);
      if (cur.desired === 'deleted') throw new UcloudError('VM_BUSY', `VM "${cur.name}" is being deleted`);
      if (cur.status === 'migrating') throw new UcloudError('VM_MIGRATING', `VM "${cur.name}" is migrating: its HA setting changes once the migration ends`);
      if ((cur.ha === true) === ha) return undefined;
      const v: Vm = { ...cur, updatedAt: nowIso() };
      if (ha) v.ha = true;
      else delete v.ha;
      return v;
    });
    return next!;
  }

  /**
   * Changes a VM's size. Disks only grow; CPU and RAM only while it is stopped.
   * A placed VM's booking changes in the same transaction; one that grows in any
   * dimension must still fit its host, so a resize can never overcommit, and one
   * that grows in none always goes through.
   */
  async resize(id: string, change: { diskBytes?: number; cpu?: number; ramBytes?: number }, limits?: Limits): Promise<Vm> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const vm = await this.store.get(Kinds.vm, Keys.vm(id));
      if (!vm || vm.value.desired === 'deleted') throw new UcloudError('VM_NOT_FOUND', 'the VM does not exist');
      const cur = vm.value;
      if (cur.status === 'migrating') throw new UcloudError('VM_MIGRATING', `VM "${cur.name}" is migrating: it cannot be resized until the migration ends`);
      if (change.diskBytes !== undefined && change.diskBytes < cur.diskBytes) {
        throw new UcloudError('DISK_SHRINK_REFUSED', `the OS disk is ${cur.diskBytes} bytes; it cannot shrink to ${change.diskBytes}`);
      }
      const cpuOrRam = (change.cpu !== undefined && change.cpu !== cur.cpu) || (change.ramBytes !== undefined && change.ramBytes !== cur.ramBytes);
      if (cpuOrRam && !(cur.desired === 'stopped' && cur.status === 'stopped')) {
        throw new UcloudError('VM_MUST_BE_STOPPED', `VM "${cur.name}" must be stopped to change its CPU or RAM`);
      }
      const next: Vm = { ...cur, ...change, generation: cur.generation + 1, updatedAt: nowIso() };
      const t = stageVmWrite(this.store.txn(), vm, next, this.actor);
      const [was, now] = [usageOfVm(cur), usageOfVm(next)];
      const delta: UsageDelta = { vcpus: now.vcpus - was.vcpus, ram: now.ram - was.ram, disk: now.disk - was.disk };
      if (delta.vcpus || delta.ram || delta.disk) stageUsage(t, await readUsage(this.store, cur.owner), delta, limits);
      if (cur.host) {
        const [alloc, host] = await Promise.all([this.store.get(Kinds.hostAlloc, Keys.hostAlloc(cur.host)), this.store.get(Kinds.host, Keys.host(cur.host))]);
        const others = Object.entries(alloc?.value.vms ?? {}).filter(([k]) => k !== id).map(([, r]) => r);
        const want = resourcesOf(next);
        // Only growth needs room: a shrink (or no change) is fine even on a host already over.
        const had = resourcesOf(cur);
        const grows = DIMENSIONS.some((d) => want[d] > had[d]);
        if (host && grows && overbooked(sumResources([...others, want]), allowedOf(host.value))) {
          throw new UcloudError('NO_CAPACITY', `host ${cur.host} has no room for the new size`, { hint: 'free room on the host, or ask for less' });
        }
        // The host record too: a `host set` lowering it meanwhile must not leave it overbooked.
        if (host) t.unchanged(host);
        if (alloc) t.unchanged(alloc);
        else t.absent(Keys.hostAlloc(cur.host));
        t.put(Kinds.hostAlloc, Keys.hostAlloc(cur.host), { vms: { ...(alloc?.value.vms ?? {}), [id]: want } });
      }
      if (await t.commit()) return next;
    }
    throw new UcloudError('CONFLICT', `VM ${id} kept changing while being resized`);
  }
}
