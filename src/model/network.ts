import { Type, type Static } from 'typebox';
import { Name, Timestamp } from './common.js';

export const SshKey = Type.Object(
  {
    owner: Name,
    name: Name,
    type: Type.String(),
    bits: Type.Integer(),
    fingerprint: Type.String(),
    /** One line: `type base64 comment`. */
    publicKey: Type.String({ maxLength: 16384 }),
    createdAt: Timestamp,
  },
  { additionalProperties: false },
);
export type SshKey = Static<typeof SshKey>;

/** A user's network: its own VXLAN segment and IPv6 /64, allocated from the configured pools. */
export const Network = Type.Object(
  {
    owner: Name,
    name: Name,
    vni: Type.Integer({ minimum: 1, maximum: 16777215 }),
    prefix: Type.String(),
    /**
     * DNS resolvers for its guests (RDNSS and vendor-data), canonical IPv6; set
     * at create and never changed. Absent: the cluster default (dns_resolvers).
     */
    resolvers: Type.Optional(Type.Array(Type.String(), { maxItems: 3 })),
    /**
     * Routed (issue 12): its guests get a default route and the hosts forward
     * for it (and announce its VMs' addresses with route_mode bgp). Set at
     * create and never changed. Absent: isolated, as every network before.
     */
    routed: Type.Optional(Type.Boolean()),
    /** Set while a delete checks that no VM uses it; no VM can join it then. */
    deleting: Type.Optional(Type.Boolean()),
    createdAt: Timestamp,
  },
  { additionalProperties: false },
);
export type Network = Static<typeof Network>;

/**
 * Where a routed network's VM address is to be routed (issue 12): its /128,
 * the host it runs on, and (for admins) that host's address, the next hop
 * with route_mode static. With bgp the host announces the same.
 */
export const NetworkRoute = Type.Object(
  {
    destination: Type.String(),
    vm: Name,
    host: Name,
    via: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);
export type NetworkRoute = Static<typeof NetworkRoute>;
export const NetworkRoutes = Type.Object({ items: Type.Array(NetworkRoute) }, { additionalProperties: false });
export type NetworkRoutes = Static<typeof NetworkRoutes>;

/**
 * The host a VM's routed addresses point at: the one it runs on while meant
 * to run (and while it migrates away, until the record names the new host);
 * undefined otherwise. What hosts announce (host/routes.ts) and what
 * `network show` lists.
 */
export function routedVia(vm: { host?: string | undefined; desired: string; status: string }): string | undefined {
  return vm.host && vm.desired === 'running' && (vm.status === 'running' || vm.status === 'migrating') ? vm.host : undefined;
}

/** A VM's NIC: its network, a unique MAC, and the SLAAC address the MAC gives it on that /64. */
export const VmNic = Type.Object(
  { network: Name, vni: Type.Integer(), prefix: Type.String(), mac: Type.String({ pattern: '^([0-9a-f]{2}:){5}[0-9a-f]{2}$' }), address: Type.String() },
  { additionalProperties: false },
);
export type VmNic = Static<typeof VmNic>;

/**
 * Who holds a VNI, a /64 or a MAC. Each lives under its own key, created with
 * "absent" in the same transaction as its holder, so none is handed out twice.
 */
export const Allocation = Type.Object({ owner: Name, holder: Type.String({ description: 'the key of the record that holds it' }) }, { additionalProperties: false });
export type Allocation = Static<typeof Allocation>;

export const KeyAddRequest = Type.Object({ name: Name, publicKey: Type.String({ minLength: 1, maxLength: 16384 }) }, { additionalProperties: false });
export const NetworkCreateRequest = Type.Object(
  {
    name: Name,
    /** Checked by the manager (INVALID_RESOLVER); the schema only bounds the input. An empty list: no resolvers, not the default. */
    resolvers: Type.Optional(Type.Array(Type.String({ maxLength: 64 }), { maxItems: 16 })),
    /** true: routed (ROUTING_OFF when route_mode is off); false: isolated; left out: network_routed_default. */
    routed: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type NetworkCreateRequest = Static<typeof NetworkCreateRequest>;
