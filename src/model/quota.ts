import { Type, type Static } from 'typebox';
import { Timestamp } from './common.js';

/** The resources a user's quota bounds, as named in the API, the CLI and an error's details.quota. */
export const QUOTA_NAMES = ['vms', 'vcpus', 'ram', 'disk', 'networks', 'images', 'files'] as const;
export type QuotaName = (typeof QUOTA_NAMES)[number];
/** Counted in etcd, exactly (the usage record); files are counted on disk by the upload. */
export type CountedQuota = Exclude<QuotaName, 'files'>;
export const COUNTED: readonly CountedQuota[] = ['vms', 'vcpus', 'ram', 'disk', 'networks', 'images'];

const Amount = Type.Integer({ minimum: 0 });
/** A per-user limit: a number (bytes for ram, disk and files) or "unlimited". */
export const QuotaLimit = Type.Union([Amount, Type.Literal('unlimited')]);
export type QuotaLimit = Static<typeof QuotaLimit>;

/** `quota/<user>`: what an admin set for one user; a field left out is the cluster default (quota_* in the configuration). */
export const QuotaOverride = Type.Object(
  {
    vms: Type.Optional(QuotaLimit),
    vcpus: Type.Optional(QuotaLimit),
    ram: Type.Optional(QuotaLimit),
    disk: Type.Optional(QuotaLimit),
    networks: Type.Optional(QuotaLimit),
    images: Type.Optional(QuotaLimit),
    files: Type.Optional(QuotaLimit),
    /** Requests a minute through the API (rate_limit_per_minute for everyone else). */
    rate: Type.Optional(QuotaLimit),
    updatedAt: Timestamp,
  },
  { additionalProperties: false },
);
export type QuotaOverride = Static<typeof QuotaOverride>;

/**
 * `usage/<user>`: what the user's VMs, networks and images hold, changed in the
 * same transaction as each of them (compare-and-swap), so it never drifts from them.
 */
export const QuotaUsage = Type.Object(
  { vms: Amount, vcpus: Amount, ram: Amount, disk: Amount, networks: Amount, images: Amount },
  { additionalProperties: false },
);
export type QuotaUsage = Static<typeof QuotaUsage>;

const Line = Type.Object(
  {
    limit: QuotaLimit,
    /** Left out for files when files_path is not on this API's machine. */
    used: Type.Optional(Amount),
    /** default: the cluster's quota_* value; user: an admin's override for this user. */
    source: Type.Union([Type.Literal('default'), Type.Literal('user')]),
  },
  { additionalProperties: false },
);

/** GET /v1/users/:name/quota. */
export const QuotaView = Type.Object(
  {
    user: Type.String(),
    vms: Line,
    vcpus: Line,
    ram: Line,
    disk: Line,
    networks: Line,
    images: Line,
    files: Line,
    rate: Line,
  },
  { additionalProperties: false },
);
export type QuotaView = Static<typeof QuotaView>;

/** A limit as sent: a number, a size string for ram/disk/files ("64GiB"), "unlimited", or null for the cluster default again. */
const Setting = Type.Union([Amount, Type.String({ maxLength: 32 }), Type.Null()]);
/** PATCH /v1/users/:name/quota. */
export const QuotaSetRequest = Type.Object(
  {
    vms: Type.Optional(Setting),
    vcpus: Type.Optional(Setting),
    ram: Type.Optional(Setting),
    disk: Type.Optional(Setting),
    networks: Type.Optional(Setting),
    images: Type.Optional(Setting),
    files: Type.Optional(Setting),
    rate: Type.Optional(Setting),
  },
  { additionalProperties: false },
);
export type QuotaSetRequest = Static<typeof QuotaSetRequest>;
