import type { FastifyInstance, FastifyBaseLogger, RawReplyDefaultExpression, RawRequestDefaultExpression, RawServerDefault } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { ConsoleManager } from '../managers/consoles.js';
import type { FileManager } from '../managers/files.js';
import type { HostManager } from '../managers/hosts.js';
import type { ImageManager } from '../managers/images.js';
import type { KeyManager } from '../managers/keys.js';
import type { NetworkManager } from '../managers/networks.js';
import type { QuotaManager } from '../managers/quotas.js';
import type { FileUploads } from '../managers/uploads.js';
import type { UserManager } from '../managers/users.js';
import type { VmManager } from '../managers/vms.js';
import type { User } from '../model/index.js';
import type { EventLog } from '../store/event-log.js';
import type { Store } from '../store/store.js';
import type { WriteLog } from '../store/write-log.js';
import type { Answered } from './audit.js';

export interface Managers {
  /** The API's read caches (VmCache) list and watch through it. */
  store: Store;
  users: UserManager;
  vms: VmManager;
  hosts: HostManager;
  images: ImageManager;
  files: FileManager;
  keys: KeyManager;
  networks: NetworkManager;
  consoles: ConsoleManager;
  /** Absent: usage is counted but nothing is limited (tests that build the API without quotas). */
  quotas?: QuotaManager;
  /** The audit log's writer; absent: requests leave no events (tests that count etcd writes). */
  eventLog?: EventLog;
  /** Absent: no upload route (tests that build the API without files_path). */
  uploads?: FileUploads;
}

export type Api = FastifyInstance<RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, FastifyBaseLogger, TypeBoxTypeProvider>;

declare module 'fastify' {
  interface FastifyRequest {
    user: User;
    /** What this request wrote to etcd: its answer waits until the caches show it. */
    writeLog: WriteLog;
    /** What a changing request's answer said about its object, for its audit event. */
    answered: Answered | undefined;
    /** The matched route's options, once read (`routeOf`, route-of.ts). */
    route: FastifyRequest['routeOptions'] | null;
  }
}
