import { Type, type TSchema } from 'typebox';
import { UcloudError } from '../common/errors.js';
import * as M from '../model/index.js';

// The whole key layout, in one place: nothing else builds key strings. Keys are
// relative to the configured prefix (default /ucloud/), which the Store adds.

export interface RecordKind<S extends TSchema = TSchema> {
  /** Names the family in logs and errors. */
  kind: string;
  schema: S;
}

const kind = <S extends TSchema>(name: string, schema: S): RecordKind<S> => ({ kind: name, schema });

export const Kinds = {
  vm: kind('vm', M.Vm),
  vmName: kind('vm-name', M.VmName),
  imageVm: kind('image-vm', M.ImageVm),
  userData: kind('user-data', M.VmUserData),
  host: kind('host', M.Host),
  hostAlive: kind('host-alive', M.HostAlive),
  hostAlloc: kind('host-alloc', M.HostAllocation),
  user: kind('user', M.User),
  token: kind('token', M.Token),
  tokenName: kind('token-name', M.TokenNameRecord),
  totp: kind('totp', M.TotpRecord),
  imageStore: kind('image-store', M.ImageStore),
  image: kind('image', M.Image),
  file: kind('file', M.UserFile),
  sshKey: kind('key', M.SshKey),
  network: kind('network', M.Network),
  alloc: kind('alloc', M.Allocation),
  consoleTicket: kind('console-ticket', M.ConsoleTicket),
  quota: kind('quota', M.QuotaOverride),
  usage: kind('usage', M.QuotaUsage),
  event: kind('event', M.Event),
  meta: kind('meta', Type.Record(Type.String(), Type.Unknown())),
} as const;

function seg(s: string): string {
  // A segment must never smuggle in another level of the layout. The API checks
  // names by schema first; this is the last line, and still a 4xx, not a 500.
  if (!s || s.includes('/')) throw new UcloudError('INVALID_NAME', `invalid name ${JSON.stringify(s.slice(0, 100))}`);
  return s;
}

export const Keys = {
  vm: (id: string) => `vm/${seg(id)}`,
  vms: () => 'vm/',
  /**
   * A mirror of the VM record under the host that runs it, written in the same
   * transaction as `vm/<id>` (see stageVmWrite): an agent watches only its own.
   */
  hostVm: (host: string, id: string) => `host-vm/${seg(host)}/${seg(id)}`,
  hostVms: (host: string) => `host-vm/${seg(host)}/`,
  /** Every host's mirrors (the one-time backfill reads them all). */
  hostVmIndex: () => 'host-vm/',
  vmName: (owner: string, name: string) => `vm-name/${seg(owner)}/${seg(name)}`,
  vmNamesOf: (owner: string) => `vm-name/${seg(owner)}/`,
  /**
   * The VMs made from one image, by the reference their record holds: by owner,
   * or by store for a reference without one (VMs from before images had owners).
   * Written with `vm/<id>` (see stageVmWrite).
   */
  imageVm: (ref: M.Vm['image'], id: string) => `${imageVmsOf(ref)}${seg(id)}`,
  imageVms: (ref: M.Vm['image']) => imageVmsOf(ref),
  /** Every image's VMs (the one-time backfill reads them all). */
  imageVmIndex: () => 'image-vm/',
  /** A VM's user-data, by VM id (see VmUserData). */
  userData: (vmId: string) => `user-data/${seg(vmId)}`,
  host: (name: string) => `host/${seg(name)}`,
  hosts: () => 'host/',
  hostAlive: (name: string) => `host-alive/${seg(name)}`,
  hostsAlive: () => 'host-alive/',
  hostAlloc: (name: string) => `host-alloc/${seg(name)}`,
  hostAllocs: () => 'host-alloc/',
  user: (name: string) => `user/${seg(name)}`,
  users: () => 'user/',
  token: (sha256hex: string) => `token/${seg(sha256hex)}`,
  tokens: () => 'token/',
  /** The token whose hash starts with this id (its one key, or none). */
  tokenById: (id: string) => {
    if (!/^[0-9a-f]{12}$/.test(id)) throw new UcloudError('INVALID_NAME', `invalid token id ${JSON.stringify(id.slice(0, 100))}`);
    return `token/${id}`;
  },
  tokenName: (user: string, name: string) => `token-name/${seg(user)}/${seg(name)}`,
  tokenNamesOf: (user: string) => `token-name/${seg(user)}/`,
  totp: (user: string) => `totp/${seg(user)}`,
  imageStore: (name: string) => `image-store/${seg(name)}`,
  imageStores: () => 'image-store/',
  /** Image names are unique per owner, whatever the store (see ImageManager.find). */
  image: (owner: string, name: string) => `image/${seg(owner)}/${seg(name)}`,
  images: () => 'image/',
  imagesOf: (owner: string) => `image/${seg(owner)}/`,
  key: (owner: string, name: string) => `key/${seg(owner)}/${seg(name)}`,
  keysOf: (owner: string) => `key/${seg(owner)}/`,
  /** Makes a key's fingerprint unique per user. */
  keyFingerprint: (owner: string, fpHex: string) => `key-fp/${seg(owner)}/${seg(fpHex)}`,
  network: (owner: string, name: string) => `network/${seg(owner)}/${seg(name)}`,
  networks: () => 'network/',
  networksOf: (owner: string) => `network/${seg(owner)}/`,
  allocVni: (vni: number) => `alloc-vni/${vni}`,
  allocVnis: () => 'alloc-vni/',
  allocPrefix: (prefix: string) => `alloc-prefix/${seg(prefix.replace(/\/\d+$/, '').replace(/:/g, '-'))}`,
  allocPrefixes: () => 'alloc-prefix/',
  allocMac: (mac: string) => `alloc-mac/${seg(mac.replace(/:/g, '-'))}`,
  allocMacs: () => 'alloc-mac/',
  file: (id: string) => `file/${seg(id)}`,
  files: () => 'file/',
  /** A console ticket, by the sha256 of its secret. */
  consoleTicket: (sha256hex: string) => `console-ticket/${seg(sha256hex)}`,
  /** An admin's quota override for one user. */
  quota: (user: string) => `quota/${seg(user)}`,
  quotas: () => 'quota/',
  /** What one user's VMs, networks and images hold (see stageUsage). */
  usage: (user: string) => `usage/${seg(user)}`,
  /**
   * An audit event, under its object's owner ('-' for the cluster's own objects:
   * no user name starts with '-'), so a user's list and stream read one prefix.
   * Ids sort by time; the records go with their hour's lease (src/store/event-log.ts).
   */
  event: (owner: string, id: string) => `event/${seg(eventOwnerSeg(owner))}/${seg(id)}`,
  eventsOf: (owner: string) => `event/${seg(eventOwnerSeg(owner))}/`,
  events: () => 'event/',
  /** Cluster-wide facts written once, e.g. which admin `ucloud up` made. */
  meta: (name: string) => `meta/${seg(name)}`,
} as const;

/**
 * The elections of the daemons that work one at a time (src/store/leadership.ts).
 * etcd3 keeps an election's candidates under `election/<name>/<lease id>`, each
 * key on its candidate's lease; the earliest created leads.
 */
export const Elections = {
  scheduler: 'scheduler',
  imagescanner: 'imagescanner',
} as const;
export type ElectionName = (typeof Elections)[keyof typeof Elections];

/** What an allocation key holds: the VNI of `alloc-vni/…`, the prefix address of `alloc-prefix/…`. */
export const AllocKeys = {
  vni: (key: string) => Number(lastSegment(key)),
  prefixAddress: (key: string) => lastSegment(key).replace(/-/g, ':'),
} as const;

function imageVmsOf(ref: M.Vm['image']): string {
  return ref.owner === undefined ? `image-vm/store/${seg(ref.store)}/${seg(ref.name)}/` : `image-vm/owner/${seg(ref.owner)}/${seg(ref.name)}/`;
}

function eventOwnerSeg(owner: string): string {
  return owner === '' ? '-' : owner;
}

/** The last segment of a key (the id or name of the record). */
export function lastSegment(key: string): string {
  return key.slice(key.lastIndexOf('/') + 1);
}
