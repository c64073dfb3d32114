import type { Static } from 'typebox';
import { isErrorCode, UcloudError } from '../common/errors.js';
import { LIST_LIMITS, type PageOf } from '../model/common.js';
import WebSocket from 'ws';
import type { paths } from './api-types.js';
import { fillPath, type CallOpts, type ItemOf, type ListPath, type MethodOf, type Ok, type Op, type QueryOf } from './typed-paths.js';
import type { QuotaSetRequest, QuotaView, ConsoleAttachTicket, ConsoleLog, VmStats, Event, Host, HostAddRequest, HostSetRequest, HostView, Image, ImageCreateRequest, ImageStore, ImageStoreCreateRequest, Network, NetworkRoutes, Role, SshKey, TokenCreated, TokenInfo, UploadedFile, User, UserCreated, UserFile, Vm, VmCreateRequest, VmMigrateRequest,
  VmRecoverRequest, VmResizeRequest, VmSetRequest, VmStatus } from '../model/index.js';

/** `vm list` filters (see VmListFilter in src/model/vm.ts). */
export interface VmListQuery {
  status?: VmStatus;
  host?: string;
  owner?: string;
}

/** A host as `host list` shows it (its schema: src/model/host.ts). */
export type { HostView };

/** One page of a list: at most `limit` items (the server's default when absent), after `cursor` (a previous page's `next`). */
export interface PageParams {
  limit?: number;
  cursor?: string;
}

/** The typed API client used by the CLI and the tests; errors come back as the server's UcloudError. */
export class Client {
  constructor(private readonly opts: { url: string; token?: string }) {}

  /**
   * Every JSON call: `path` is a key of the generated `paths`, and the path
   * parameters, query, body and answer are that operation's types.
   */
  private call<P extends keyof paths, M extends MethodOf<P>>(method: M, path: P, opts: CallOpts<Op<P, M>>): Promise<Ok<Op<P, M>>> {
    const o = opts as { params?: object; query?: object; body?: unknown };
    return this.send<Ok<Op<P, M>>>(method.toUpperCase(), fillPath(path, o.params, o.query), o.body);
  }

  private async send<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(new URL(path, this.opts.url), {
        method,
        headers: {
          ...this.auth(),
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

  private auth(): Record<string, string> {
    return this.opts.token ? { authorization: `Bearer ${this.opts.token}` } : {};
  }

  /** One page of the list at `path`. */
  private page<P extends ListPath>(path: P, query: QueryOf<P>): Promise<{ items: ItemOf<P>[]; next?: string }> {
    return this.send('GET', fillPath(path, undefined, query));
  }

  /** Every item of the list at `path`, following `next` page by page (the largest pages). */
  private async all<P extends ListPath>(path: P, query: QueryOf<P>): Promise<ItemOf<P>[]> {
    const out: ItemOf<P>[] = [];
    let cursor: string | undefined;
    do {
      const p = await this.page(path, { ...query, limit: LIST_LIMITS.max, cursor });
      out.push(...p.items);
      cursor = p.next;
    } while (cursor !== undefined);
    return out;
  }

  /**
   * The console WebSocket a ticket opens, with the ticket sent as its first
   * message. Output arrives as binary messages; send keystrokes. It closes
   * 4403 (reason CONSOLE_TICKET_INVALID), 4503 (CONSOLE_UNAVAILABLE), or 1000
   * when the VM stops.
   */
  openConsole(t: ConsoleAttachTicket): WebSocket {
    const url = new URL(t.path, this.opts.url);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.once('open', () => ws.send(t.ticket));
    return ws;
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
   * overall timeout, as a large file takes long; `signal` aborts it. Its own
   * fetch for the octet-stream body, the URL still from the typed paths.
   */
  private async uploadFile(name: string, body: AsyncIterable<Uint8Array>, opts: { sizeBytes: number; sha512: string; replace?: boolean; signal?: AbortSignal }): Promise<UploadedFile> {
    const path: keyof paths = '/v1/files/{name}';
    const query: CallOpts<Op<typeof path, 'put'>>['query'] = { replace: opts.replace };
    let res: Response;
    try {
      res = await fetch(new URL(fillPath(path, { name }, query), this.opts.url), {
        method: 'PUT',
        headers: {
          ...this.auth(),
          'content-type': 'application/octet-stream',
          'content-length': String(opts.sizeBytes),
          'content-digest': `sha-512=:${Buffer.from(opts.sha512, 'hex').toString('base64')}:`,
        },
        // Node's ReadableStream.from (the DOM typings, which src/web checks this file with, lack it).
        body: (ReadableStream as unknown as { from(it: AsyncIterable<Uint8Array>): ReadableStream<Uint8Array> }).from(body),
        duplex: 'half',
        ...(opts.signal ? { signal: opts.signal } : {}),
      } as RequestInit);
    } catch (err) {
      throw new UcloudError('API_UNREACHABLE', `the upload to the ucloud API at ${this.opts.url} broke off: ${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}`, { cause: err });
    }
    return this.answer<Ok<Op<typeof path, 'put'>>>(res);
  }

  readonly vms = {
    create: (req: Static<typeof VmCreateRequest>): Promise<Vm> => this.call('post', '/v1/vms', { body: req }),
    /** Every VM of yours (`all`: an admin's every user's; `filter`: by status, host, an admin's by owner), all pages. */
    list: (all = false, filter: VmListQuery = {}): Promise<Vm[]> => this.all('/v1/vms', { all, ...filter }),
    page: (p: PageParams & { all?: boolean } & VmListQuery = {}): Promise<PageOf<Vm>> => this.page('/v1/vms', p),
    get: (ref: string): Promise<Vm> => this.call('get', '/v1/vms/{ref}', { params: { ref } }),
    start: (ref: string): Promise<Vm> => this.call('post', '/v1/vms/{ref}/start', { params: { ref } }),
    stop: (ref: string): Promise<Vm> => this.call('post', '/v1/vms/{ref}/stop', { params: { ref } }),
    /** ACPI first, a reset after stop_timeout; `force`: a reset at once. Settled in the VM's `lastReboot`. */
    reboot: (ref: string, force = false): Promise<Vm> => this.call('post', '/v1/vms/{ref}/reboot', { params: { ref }, body: force ? { force } : {} }),
    resize: (ref: string, req: Static<typeof VmResizeRequest>): Promise<Vm> => this.call('post', '/v1/vms/{ref}/resize', { params: { ref }, body: req }),
    set: (ref: string, req: Static<typeof VmSetRequest>): Promise<Vm> => this.call('patch', '/v1/vms/{ref}', { params: { ref }, body: req }),
    /** Live-migrates it to host `to` (absent: the scheduler picks), or cancels the migration under way; admins only. */
    migrate: (ref: string, req: Static<typeof VmMigrateRequest>): Promise<Vm> => this.call('post', '/v1/vms/{ref}/migrate', { params: { ref }, body: req }),
    /** Asks the scheduler to start a VM left on a dead host (error HOST_DEAD) elsewhere, its storage fenced first; admins only. */
    recover: (ref: string, req: Static<typeof VmRecoverRequest>): Promise<Vm> => this.call('post', '/v1/vms/{ref}/recover', { params: { ref }, body: req }),
    /** The last `lines` lines of the VM's console (default 100). */
    consoleLog: (ref: string, lines?: number): Promise<ConsoleLog> => this.call('get', '/v1/vms/{ref}/console-log', { params: { ref }, query: { lines } }),
    stats: (ref: string): Promise<VmStats> => this.call('get', '/v1/vms/{ref}/stats', { params: { ref } }),
    /** A ticket for the VM's interactive console, or with `display: 'vnc'` its VNC screen (open it with `openConsole`); valid 30 s, once. */
    consoleTicket: (ref: string, opts: { readOnly?: boolean; display?: 'vnc' } = {}): Promise<ConsoleAttachTicket> =>
      this.call('post', '/v1/vms/{ref}/console', { params: { ref }, body: { ...(opts.readOnly ? { readOnly: true } : {}), ...(opts.display ? { display: opts.display } : {}) } }),
    /** The VM while its host removes it, or undefined when it is gone already. */
    delete: (ref: string): Promise<Vm | undefined> => this.call('delete', '/v1/vms/{ref}', { params: { ref } }),
  };

  readonly hosts = {
    list: (): Promise<HostView[]> => this.all('/v1/hosts', {}),
    page: (p: PageParams = {}): Promise<PageOf<HostView>> => this.page('/v1/hosts', p),
    add: (req: HostAddRequest): Promise<Host> =>
      this.call('post', '/v1/hosts', { body: req }),
    /** Changes capacity or ratios (admin); CAPACITY_BELOW_BOOKED if it would go below what is booked. */
    set: (name: string, req: HostSetRequest): Promise<Host> => this.call('patch', '/v1/hosts/{name}', { params: { name }, body: req }),
    /** No new VMs there; the scheduler migrates its VMs away (admin). */
    drain: (name: string): Promise<Host> => this.call('post', '/v1/hosts/{name}/drain', { params: { name } }),
    undrain: (name: string): Promise<Host> => this.call('post', '/v1/hosts/{name}/undrain', { params: { name } }),
    /** Forgets an empty host (admin); HOST_NOT_EMPTY while any VM is there. */
    remove: (name: string): Promise<undefined> => this.call('delete', '/v1/hosts/{name}', { params: { name } }),
  };

  readonly images = {
    list: (): Promise<Image[]> => this.all('/v1/images', {}),
    page: (p: PageParams = {}): Promise<PageOf<Image>> => this.page('/v1/images', p),
    /** `ref` is "name" or "owner/name". */
    get: (ref: string): Promise<Image> => {
      const o = ownerAndName(ref);
      return o ? this.call('get', '/v1/images/{owner}/{name}', { params: o }) : this.call('get', '/v1/images/{ref}', { params: { ref } });
    },
    create: (req: ImageCreateRequest): Promise<Image> => this.call('post', '/v1/images', { body: req }),
    delete: (ref: string): Promise<Image> => {
      const o = ownerAndName(ref);
      return o ? this.call('delete', '/v1/images/{owner}/{name}', { params: o }) : this.call('delete', '/v1/images/{ref}', { params: { ref } });
    },
  };

  readonly imageStores = {
    list: (): Promise<ImageStore[]> => this.all('/v1/image-stores', {}),
    page: (p: PageParams = {}): Promise<PageOf<ImageStore>> => this.page('/v1/image-stores', p),
    create: (req: ImageStoreCreateRequest): Promise<ImageStore> => this.call('post', '/v1/image-stores', { body: req }),
  };

  readonly keys = {
    add: (name: string, publicKey: string): Promise<SshKey> => this.call('post', '/v1/keys', { body: { name, publicKey } }),
    list: (): Promise<SshKey[]> => this.all('/v1/keys', {}),
    page: (p: PageParams = {}): Promise<PageOf<SshKey>> => this.page('/v1/keys', p),
    get: (name: string): Promise<SshKey> => this.call('get', '/v1/keys/{name}', { params: { name } }),
    delete: (name: string): Promise<undefined> => this.call('delete', '/v1/keys/{name}', { params: { name } }),
  };

  readonly networks = {
    create: (name: string, opts: { resolvers?: string[]; routed?: boolean } = {}): Promise<Network> => this.call('post', '/v1/networks', { body: { name, ...opts } }),
    list: (): Promise<Network[]> => this.all('/v1/networks', {}),
    page: (p: PageParams = {}): Promise<PageOf<Network>> => this.page('/v1/networks', p),
    get: (name: string, owner?: string): Promise<Network> => this.call('get', '/v1/networks/{name}', { params: { name }, query: { owner } }),
    routes: (name: string, owner?: string): Promise<NetworkRoutes> => this.call('get', '/v1/networks/{name}/routes', { params: { name }, query: { owner } }),
    delete: (name: string): Promise<undefined> => this.call('delete', '/v1/networks/{name}', { params: { name } }),
  };

  readonly files = {
    list: (): Promise<UserFile[]> => this.all('/v1/files', {}),
    page: (p: PageParams = {}): Promise<PageOf<UserFile>> => this.page('/v1/files', p),
    upload: (name: string, body: AsyncIterable<Uint8Array>, opts: { sizeBytes: number; sha512: string; replace?: boolean; signal?: AbortSignal }) => this.uploadFile(name, body, opts),
    delete: (name: string): Promise<undefined> => this.call('delete', '/v1/files/{name}', { params: { name } }),
  };

  readonly users = {
    create: (name: string, role?: Role): Promise<UserCreated> => this.call('post', '/v1/users', { body: { name, ...(role ? { role } : {}) } }),
    list: (): Promise<User[]> => this.all('/v1/users', {}),
    page: (p: PageParams = {}): Promise<PageOf<User>> => this.page('/v1/users', p),
    quota: (name: string): Promise<QuotaView> => this.call('get', '/v1/users/{name}/quota', { params: { name } }),
    setQuota: (name: string, req: QuotaSetRequest): Promise<QuotaView> => this.call('patch', '/v1/users/{name}/quota', { params: { name }, body: req }),
    whoami: (): Promise<User> => this.call('get', '/v1/whoami', {}),
    setDisabled: (name: string, disabled: boolean): Promise<User> => this.call('patch', '/v1/users/{name}', { params: { name }, body: { disabled } }),
    delete: (name: string): Promise<undefined> => this.call('delete', '/v1/users/{name}', { params: { name } }),
  };

  /** The caller's second factor for making tokens; `disable` with `user` (admin, no code): another user's. */
  readonly totp = {
    status: (): Promise<{ enabled: boolean; pending: boolean }> => this.call('get', '/v1/totp', {}),
    enable: (): Promise<{ otpauthUri: string; secret: string }> => this.call('post', '/v1/totp', {}),
    confirm: (totp: string): Promise<{ enabled: boolean }> => this.call('post', '/v1/totp/confirm', { body: { totp } }),
    disable: (opts: { totp?: string; user?: string }): Promise<undefined> =>
      this.call('delete', '/v1/totp', { query: { user: opts.user }, body: opts.totp ? { totp: opts.totp } : {} }),
  };

  /** Tokens: one's own, or with `user` (an admin) another user's. */
  readonly tokens = {
    list: (user?: string): Promise<TokenInfo[]> => this.all('/v1/tokens', { user }),
    page: (p: PageParams = {}, user?: string): Promise<PageOf<TokenInfo>> => this.page('/v1/tokens', { ...p, user }),
    create: (name: string, opts: { expiresIn?: string; expiresAt?: string; totp?: string } = {}): Promise<TokenCreated> => this.call('post', '/v1/tokens', { body: { name, ...opts } }),
    revoke: (id: string, user?: string): Promise<undefined> => this.call('delete', '/v1/tokens/{id}', { params: { id }, query: { user } }),
  };

  readonly events = {
    /** Every event you may see (`all`/`owner`: an admin's), all pages, oldest first. */
    list: (q: EventQuery = {}): Promise<Event[]> => this.all('/v1/events', { ...q }),
    page: (p: PageParams & EventQuery = {}): Promise<PageOf<Event>> => this.page('/v1/events', p),
    /**
     * Events as they are recorded, from now (or from revision `since`), until the
     * stream ends or `signal` aborts: each with its revision (resume from it + 1).
     */
    stream: (q: EventQuery & { since?: string } = {}, signal?: AbortSignal, onOpen?: (from?: string) => void) => this.streamEvents(q, signal, onOpen),
  };

  /**
   * `onOpen`: called once the server is watching (what happened before it is read some other way), with the
   * first revision it watches (resume from there if the stream breaks before an event).
   */
  private async *streamEvents(q: EventQuery & { since?: string }, signal?: AbortSignal, onOpen?: (from?: string) => void): AsyncGenerator<{ event: Event; revision: string }> {
    let res: Response;
    try {
      const path: keyof paths = '/v1/events/stream';
      const query: QueryOf<typeof path> = q;
      res = await fetch(new URL(fillPath(path, undefined, query), this.opts.url), {
        headers: { accept: 'text/event-stream', ...this.auth() },
        ...(signal ? { signal } : {}),
      });
    } catch (err) {
      if (signal?.aborted) return;
      throw new UcloudError('API_UNREACHABLE', `cannot reach the ucloud API at ${this.opts.url}`, { cause: err });
    }
    if (!res.ok || !res.body) return void (await this.answer(res));
    onOpen?.(res.headers.get('x-ucloud-watch-from') ?? undefined);
    const decoder = new TextDecoder();
    let buf = '';
    try {
      // A reader, not `for await`: browsers without async-iterable streams (Safari) run the dashboard on this too.
      const reader = res.body.getReader();
      for (let r = await reader.read(); !r.done; r = await reader.read()) {
        buf += decoder.decode(r.value, { stream: true });
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

/** "owner/name" split at its first "/" (the rest, encoded whole, is the server's to refuse); undefined for a bare name. */
function ownerAndName(ref: string): { owner: string; name: string } | undefined {
  const i = ref.indexOf('/');
  return i < 0 ? undefined : { owner: ref.slice(0, i), name: ref.slice(i + 1) };
}

/** Which events: `vm` (name or id) narrows; `all` (every user's) and `owner` are an admin's. */
export interface EventQuery {
  vm?: string;
  all?: boolean;
  owner?: string;
}
