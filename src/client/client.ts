import type { Static } from 'typebox';
import { isErrorCode, UcloudError } from '../common/errors.js';
import { LIST_LIMITS, type PageOf } from '../model/common.js';
import type { AllocationRatio, QuotaSetRequest, QuotaView, ConsoleLog, Event, Host, HostSetRequest, Image, ImageStore, Network, NetworkRoutes, Resources, Role, SshKey, TokenCreated, TokenInfo, UploadedFile, User, UserFile, Vm, VmCreateRequest, VmMigrateRequest,
  VmRecoverRequest, VmResizeRequest, VmSetRequest, VmStatus } from '../model/index.js';

/** `vm list` filters (see VmListFilter in src/model/vm.ts). */
export interface VmListQuery {
  status?: VmStatus;
  host?: string;
  owner?: string;
}

export interface HostView extends Host {
  alive: boolean;
  accel?: string;
  used: Resources;
  /** What may be booked: floor(capacity × allocationRatio). */
  allowed: Resources;
  allocationRatio: AllocationRatio;
  vms: number;
}

/** One page of a list: at most `limit` items (the server's default when absent), after `cursor` (a previous page's `next`). */
export interface PageParams {
  limit?: number;
  cursor?: string;
}

type Query = { [k: string]: string | number | boolean | undefined };

function withQuery(path: string, q: Query): string {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== false) qs.set(k, String(v));
  const s = qs.toString();
  return s ? `${path}?${s}` : path;
}

/** The typed API client used by the CLI and the tests; errors come back as the server's UcloudError. */
export class Client {
  constructor(private readonly opts: { url: string; token?: string }) {}

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(new URL(path, this.opts.url), {
        method,
        headers: {
          ...(this.opts.token ? { authorization: `Bearer ${this.opts.token}` } : {}),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (err) {
      throw new UcloudError('API_UNREACHABLE', `cannot reach the ucloud API at ${this.opts.url}`, { cause: err });
    }
    return this.answer<T>(res);
  }

  /** One page of the list at `path`. */
  private page<T>(path: string, p: PageParams & { all?: boolean } = {}): Promise<PageOf<T>> {
    return this.request<PageOf<T>>('GET', withQuery(path, { ...p }));
  }

  /** Every item of the list at `path`, following `next` page by page (the largest pages). */
  private async all<T>(path: string, q: Query = {}): Promise<T[]> {
    const out: T[] = [];
    let cursor: string | undefined;
    do {
      const p = await this.page<T>(path, { ...q, limit: LIST_LIMITS.max, cursor });
      out.push(...p.items);
      cursor = p.next;
    } while (cursor !== undefined);
    return out;
  }

  private async answer<T>(res: Response): Promise<T> {
    const text = await res.text();
    const data = text ? (JSON.parse(text) as unknown) : undefined;
    if (!res.ok) {
      const e = (data ?? {}) as { code?: string; message?: string; hint?: string; details?: Record<string, unknown> };
      const code = isErrorCode(e.code) ? e.code : 'INTERNAL';
      throw new UcloudError(code, e.message ?? `HTTP ${res.status}`, { ...(e.hint ? { hint: e.hint } : {}), ...(e.details ? { details: e.details } : {}) });
    }
    return data as T;
  }

  /**
   * Streams `body` (exactly `sizeBytes` bytes whose sha512 is `sha512`, hex) into
   * the caller's folder as `name`: sent as it is read, never held whole. No
   * overall timeout, as a large file takes long; `signal` aborts it.
   */
  private async uploadFile(name: string, body: AsyncIterable<Uint8Array>, opts: { sizeBytes: number; sha512: string; replace?: boolean; signal?: AbortSignal }): Promise<UploadedFile> {
    let res: Response;
    try {
      res = await fetch(new URL(`/v1/files/${encodeURIComponent(name)}${opts.replace ? '?replace=true' : ''}`, this.opts.url), {
        method: 'PUT',
        headers: {
          ...(this.opts.token ? { authorization: `Bearer ${this.opts.token}` } : {}),
          'content-type': 'application/octet-stream',
          'content-length': String(opts.sizeBytes),
          'content-digest': `sha-512=:${Buffer.from(opts.sha512, 'hex').toString('base64')}:`,
        },
        body: ReadableStream.from(body),
        duplex: 'half',
        ...(opts.signal ? { signal: opts.signal } : {}),
      } as RequestInit);
    } catch (err) {
      throw new UcloudError('API_UNREACHABLE', `the upload to the ucloud API at ${this.opts.url} broke off: ${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}`, { cause: err });
    }
    return this.answer<UploadedFile>(res);
  }

  readonly vms = {
    create: (req: Static<typeof VmCreateRequest>) => this.request<Vm>('POST', '/v1/vms', req),
    /** Every VM of yours (`all`: an admin's every user's; `filter`: by status, host, an admin's by owner), all pages. */
    list: (all = false, filter: VmListQuery = {}) => this.all<Vm>('/v1/vms', { all, ...filter }),
    page: (p: PageParams & { all?: boolean } & VmListQuery = {}) => this.page<Vm>('/v1/vms', p),
    get: (ref: string) => this.request<Vm>('GET', `/v1/vms/${encodeURIComponent(ref)}`),
    start: (ref: string) => this.request<Vm>('POST', `/v1/vms/${encodeURIComponent(ref)}/start`),
    stop: (ref: string) => this.request<Vm>('POST', `/v1/vms/${encodeURIComponent(ref)}/stop`),
    resize: (ref: string, req: Static<typeof VmResizeRequest>) => this.request<Vm>('POST', `/v1/vms/${encodeURIComponent(ref)}/resize`, req),
    set: (ref: string, req: Static<typeof VmSetRequest>) => this.request<Vm>('PATCH', `/v1/vms/${encodeURIComponent(ref)}`, req),
    /** Live-migrates it to host `to` (absent: the scheduler picks), or cancels the migration under way; admins only. */
    migrate: (ref: string, req: Static<typeof VmMigrateRequest>) => this.request<Vm>('POST', `/v1/vms/${encodeURIComponent(ref)}/migrate`, req),
    /** Asks the scheduler to start a VM left on a dead host (error HOST_DEAD) elsewhere, its storage fenced first; admins only. */
    recover: (ref: string, req: Static<typeof VmRecoverRequest>) => this.request<Vm>('POST', `/v1/vms/${encodeURIComponent(ref)}/recover`, req),
    /** The last `lines` lines of the VM's console (default 100). */
    consoleLog: (ref: string, lines?: number) => this.request<ConsoleLog>('GET', `/v1/vms/${encodeURIComponent(ref)}/console-log${lines === undefined ? '' : `?lines=${lines}`}`),
    /** The VM while its host removes it, or undefined when it is gone already. */
    delete: (ref: string) => this.request<Vm | undefined>('DELETE', `/v1/vms/${encodeURIComponent(ref)}`),
  };

  readonly hosts = {
    list: () => this.all<HostView>('/v1/hosts'),
    page: (p: PageParams = {}) => this.page<HostView>('/v1/hosts', p),
    add: (req: { name: string; address?: string; cpu: number; ram: string | number; disk: string | number; allocationRatio?: Partial<AllocationRatio> }) => this.request<Host>('POST', '/v1/hosts', req),
    /** Changes capacity or ratios (admin); CAPACITY_BELOW_BOOKED if it would go below what is booked. */
    set: (name: string, req: HostSetRequest) => this.request<Host>('PATCH', `/v1/hosts/${encodeURIComponent(name)}`, req),
    /** No new VMs there; the scheduler migrates its VMs away (admin). */
    drain: (name: string) => this.request<Host>('POST', `/v1/hosts/${encodeURIComponent(name)}/drain`),
    undrain: (name: string) => this.request<Host>('POST', `/v1/hosts/${encodeURIComponent(name)}/undrain`),
    /** Forgets an empty host (admin); HOST_NOT_EMPTY while any VM is there. */
    remove: (name: string) => this.request<undefined>('DELETE', `/v1/hosts/${encodeURIComponent(name)}`),
  };

  readonly images = {
    list: () => this.all<Image>('/v1/images'),
    page: (p: PageParams = {}) => this.page<Image>('/v1/images', p),
    /** `ref` is "name" or "owner/name". */
    get: (ref: string) => this.request<Image>('GET', `/v1/images/${ref.split('/').map(encodeURIComponent).join('/')}`),
    create: (req: { name: string; file: string; store?: string; public?: boolean }) => this.request<Image>('POST', '/v1/images', req),
    delete: (ref: string) => this.request<Image>('DELETE', `/v1/images/${ref.split('/').map(encodeURIComponent).join('/')}`),
  };

  readonly imageStores = {
    list: () => this.all<ImageStore>('/v1/image-stores'),
    page: (p: PageParams = {}) => this.page<ImageStore>('/v1/image-stores', p),
    create: (req: { name: string; driver: string; settings: Record<string, string | boolean | number> }) => this.request<ImageStore>('POST', '/v1/image-stores', req),
  };

  readonly keys = {
    add: (name: string, publicKey: string) => this.request<SshKey>('POST', '/v1/keys', { name, publicKey }),
    list: () => this.all<SshKey>('/v1/keys'),
    page: (p: PageParams = {}) => this.page<SshKey>('/v1/keys', p),
    get: (name: string) => this.request<SshKey>('GET', `/v1/keys/${encodeURIComponent(name)}`),
    delete: (name: string) => this.request<undefined>('DELETE', `/v1/keys/${encodeURIComponent(name)}`),
  };

  readonly networks = {
    create: (name: string, opts: { resolvers?: string[]; routed?: boolean } = {}) => this.request<Network>('POST', '/v1/networks', { name, ...opts }),
    list: () => this.all<Network>('/v1/networks'),
    page: (p: PageParams = {}) => this.page<Network>('/v1/networks', p),
    get: (name: string, owner?: string) => this.request<Network>('GET', `/v1/networks/${encodeURIComponent(name)}${owner ? `?owner=${encodeURIComponent(owner)}` : ''}`),
    routes: (name: string, owner?: string) => this.request<NetworkRoutes>('GET', `/v1/networks/${encodeURIComponent(name)}/routes${owner ? `?owner=${encodeURIComponent(owner)}` : ''}`),
    delete: (name: string) => this.request<undefined>('DELETE', `/v1/networks/${encodeURIComponent(name)}`),
  };

  readonly files = {
    list: () => this.all<UserFile>('/v1/files'),
    page: (p: PageParams = {}) => this.page<UserFile>('/v1/files', p),
    upload: (name: string, body: AsyncIterable<Uint8Array>, opts: { sizeBytes: number; sha512: string; replace?: boolean; signal?: AbortSignal }) => this.uploadFile(name, body, opts),
    delete: (name: string) => this.request<undefined>('DELETE', `/v1/files/${encodeURIComponent(name)}`),
  };

  readonly users = {
    create: (name: string, role?: Role) => this.request<{ user: User; token: string }>('POST', '/v1/users', { name, ...(role ? { role } : {}) }),
    list: () => this.all<User>('/v1/users'),
    page: (p: PageParams = {}) => this.page<User>('/v1/users', p),
    quota: (name: string) => this.request<QuotaView>('GET', `/v1/users/${encodeURIComponent(name)}/quota`),
    setQuota: (name: string, req: QuotaSetRequest) => this.request<QuotaView>('PATCH', `/v1/users/${encodeURIComponent(name)}/quota`, req),
    whoami: () => this.request<User>('GET', '/v1/whoami'),
    setDisabled: (name: string, disabled: boolean) => this.request<User>('PATCH', `/v1/users/${encodeURIComponent(name)}`, { disabled }),
    delete: (name: string) => this.request<undefined>('DELETE', `/v1/users/${encodeURIComponent(name)}`),
  };

  /** The caller's second factor for making tokens; `disable` with `user` (admin, no code): another user's. */
  readonly totp = {
    status: () => this.request<{ enabled: boolean; pending: boolean }>('GET', '/v1/totp'),
    enable: () => this.request<{ otpauthUri: string; secret: string }>('POST', '/v1/totp'),
    confirm: (totp: string) => this.request<{ enabled: boolean }>('POST', '/v1/totp/confirm', { totp }),
    disable: (opts: { totp?: string; user?: string }) =>
      this.request<undefined>('DELETE', withQuery('/v1/totp', { user: opts.user }), opts.totp ? { totp: opts.totp } : {}),
  };

  /** Tokens: one's own, or with `user` (an admin) another user's. */
  readonly tokens = {
    list: (user?: string) => this.all<TokenInfo>('/v1/tokens', { user }),
    page: (p: PageParams = {}, user?: string) => this.request<PageOf<TokenInfo>>('GET', withQuery('/v1/tokens', { ...p, user })),
    create: (name: string, opts: { expiresIn?: string; expiresAt?: string; totp?: string } = {}) => this.request<TokenCreated>('POST', '/v1/tokens', { name, ...opts }),
    revoke: (id: string, user?: string) => this.request<undefined>('DELETE', withQuery(`/v1/tokens/${encodeURIComponent(id)}`, { user })),
  };

  readonly events = {
    /** Every event you may see (`all`/`owner`: an admin's), all pages, oldest first. */
    list: (q: EventQuery = {}) => this.all<Event>('/v1/events', { ...q }),
    page: (p: PageParams & EventQuery = {}) => this.page<Event>('/v1/events', p),
    /**
     * Events as they are recorded, from now (or from revision `since`), until the
     * stream ends or `signal` aborts: each with its revision (resume from it + 1).
     */
    stream: (q: EventQuery & { since?: string } = {}, signal?: AbortSignal, onOpen?: () => void) => this.streamEvents(q, signal, onOpen),
  };

  /** `onOpen`: called once the server is watching (what happened before it is read some other way). */
  private async *streamEvents(q: EventQuery & { since?: string }, signal?: AbortSignal, onOpen?: () => void): AsyncGenerator<{ event: Event; revision: string }> {
    let res: Response;
    try {
      res = await fetch(new URL(withQuery('/v1/events/stream', { ...q }), this.opts.url), {
        headers: { accept: 'text/event-stream', ...(this.opts.token ? { authorization: `Bearer ${this.opts.token}` } : {}) },
        ...(signal ? { signal } : {}),
      });
    } catch (err) {
      if (signal?.aborted) return;
      throw new UcloudError('API_UNREACHABLE', `cannot reach the ucloud API at ${this.opts.url}`, { cause: err });
    }
    if (!res.ok || !res.body) return void (await this.answer(res));
    onOpen?.();
    const decoder = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buf += decoder.decode(chunk, { stream: true });
        for (let end = buf.indexOf('\n\n'); end >= 0; end = buf.indexOf('\n\n')) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          let id: string | undefined;
          let data = '';
          for (const line of block.split('\n')) {
            if (line.startsWith('id: ')) id = line.slice(4);
            else if (line.startsWith('data: ')) data += line.slice(6);
          }
          if (id !== undefined && data) yield { event: JSON.parse(data) as Event, revision: id };
        }
      }
    } catch (err) {
      // An abort is the caller's own end; a broken connection ends the stream like the server's close.
      if (!signal?.aborted && !(err instanceof TypeError)) throw err;
    }
  }
}

/** Which events: `vm` (name or id) narrows; `all` (every user's) and `owner` are an admin's. */
export interface EventQuery {
  vm?: string;
  all?: boolean;
  owner?: string;
}
