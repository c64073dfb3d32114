import { UcloudError } from '../common/errors.js';
import { parseSize } from '../common/units.js';
import { COUNTED, nowIso, QUOTA_NAMES, type QuotaLimit, type QuotaOverride, type QuotaSetRequest, type QuotaView } from '../model/index.js';
import { Keys, Kinds } from '../store/keys.js';
import type { Store } from '../store/store.js';
import { countUsage, type Limits } from './usage.js';

/** The cluster's defaults (quota_*, files_quota, rate_limit_per_minute); 0: no limit, as files_quota always meant. */
export interface QuotaDefaults {
  vms: number;
  vcpus: number;
  ram: number;
  disk: number;
  networks: number;
  images: number;
  files: number;
  rate: number;
}

type Limited = keyof QuotaDefaults;
const LIMITED: readonly Limited[] = [...QUOTA_NAMES, 'rate'];
const SIZES = new Set<Limited>(['ram', 'disk', 'files']);

/** A default of 0 is "no limit"; an admin's 0 for one user is zero (nothing more for them). */
function effective(override: QuotaLimit | undefined, dflt: number): QuotaLimit {
  if (override !== undefined) return override;
  return dflt === 0 ? 'unlimited' : dflt;
}

export const asNumber = (l: QuotaLimit): number => (l === 'unlimited' ? Infinity : l);

/** A watch-fed copy of `quota/` (the API's Informer): read instead of etcd once it has listed. */
export interface QuotaCache {
  readonly synced: boolean;
  get(key: string): { value: QuotaOverride } | undefined;
}

/** Reads and sets users' quota overrides (`quota/<user>`); usage itself is kept by usage.ts. */
export class QuotaManager {
  constructor(
    private readonly store: Store,
    readonly defaults: QuotaDefaults,
    private readonly cache?: QuotaCache,
  ) {}

  /**
   * The same manager whose create checks (limitsOf, filesBytes) read `cache` while it
   * is synced, not etcd. The API's own quota changes wait until its cache shows them
   * (read-your-writes), so its next create is checked against them; `show` and `set`
   * still read etcd (a change's answer shows the change).
   */
  withCache(cache: QuotaCache): QuotaManager {
    return new QuotaManager(this.store, this.defaults, cache);
  }

  async override(user: string): Promise<QuotaOverride | undefined> {
    return (await this.store.get(Kinds.quota, Keys.quota(user)))?.value;
  }

  private async checkedOverride(user: string): Promise<QuotaOverride | undefined> {
    return this.cache?.synced ? this.cache.get(Keys.quota(user))?.value : this.override(user);
  }

  /** One user's limit of each kind, the override's or the default. */
  limitOf(o: QuotaOverride | undefined, k: Limited): QuotaLimit {
    return effective(o?.[k], this.defaults[k]);
  }

  /** The limits a create checks against (Infinity: none). */
  async limitsOf(user: string): Promise<Limits> {
    const o = await this.checkedOverride(user);
    return Object.fromEntries(COUNTED.map((k) => [k, asNumber(this.limitOf(o, k))])) as Limits;
  }

  /** The files quota in bytes as the uploads take it: 0 for none. */
  async filesBytes(user: string): Promise<number> {
    const l = this.limitOf(await this.checkedOverride(user), 'files');
    return l === 'unlimited' ? 0 : l;
  }

  /** Limits and usage. Usage is counted when the user has no usage record yet (a read never writes). */
  async show(user: string): Promise<QuotaView> {
    if (!(await this.store.get(Kinds.user, Keys.user(user)))) throw new UcloudError('USER_NOT_FOUND', `no user "${user}"`);
    const [o, rec] = await Promise.all([this.override(user), this.store.get(Kinds.usage, Keys.usage(user))]);
    const usage = rec?.value ?? (await countUsage(this.store, user));
    const line = (k: Limited) => ({ limit: this.limitOf(o, k), ...(k in usage ? { used: usage[k as keyof typeof usage] } : {}), source: o?.[k] === undefined ? ('default' as const) : ('user' as const) });
    return Object.fromEntries([['user', user], ...LIMITED.map((k) => [k, line(k)])]) as QuotaView;
  }

  /** Changes one user's overrides: a value sets it, null goes back to the default. */
  async set(user: string, req: QuotaSetRequest): Promise<QuotaView> {
    if (!(await this.store.get(Kinds.user, Keys.user(user)))) throw new UcloudError('USER_NOT_FOUND', `no user "${user}"`);
    const changes = Object.entries(req) as [Limited, string | number | null][];
    const parsed = changes.map(([k, v]) => [k, v === null ? undefined : parseLimit(k, v)] as const);
    await this.store.update(Kinds.quota, Keys.quota(user), (cur) => {
      const next: QuotaOverride = { ...(cur ?? {}), updatedAt: nowIso() };
      for (const [k, v] of parsed) {
        if (v === undefined) delete next[k];
        else next[k] = v;
      }
      return next;
    });
    return this.show(user);
  }
}

/** "unlimited", a whole number, or for ram/disk/files a size such as 64GiB. */
export function parseLimit(k: Limited, v: string | number): QuotaLimit {
  if (v === 'unlimited') return v;
  if (typeof v === 'number') return v;
  if (/^\d+$/.test(v)) return Number(v);
  if (SIZES.has(k)) {
    try {
      return parseSize(v);
    } catch {
      throw new UcloudError('INVALID_SIZE', `${k}: "${v}" is not a size or "unlimited"`, { details: { field: k } });
    }
  }
  throw new UcloudError('VALIDATION_FAILED', `${k}: expected a whole number or "unlimited", not "${v}"`, { details: { field: k } });
}
