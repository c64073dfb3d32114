import type { FastifyInstance, FastifyBaseLogger, RawReplyDefaultExpression, RawRequestDefaultExpression, RawServerDefault } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { ConsoleManager } from '../managers/consoles.js';
import type { FileManager } from '../managers/files.js';
import type { HostManager } from '../managers/hosts.js';
import type { ImageManager } from '../managers/images.js';
import type { KeyManager } from '../managers/keys.js';
import type { NetworkManager } from '../managers/networks.js';
import type { FileUploads } from '../managers/uploads.js';
import type { UserManager } from '../managers/users.js';
import type { VmManager } from '../managers/vms.js';
import type { User } from '../model/index.js';

export interface Managers {
  users: UserManager;
  vms: VmManager;
  hosts: HostManager;
  images: ImageManager;
  files: FileManager;
  keys: KeyManager;
  networks: NetworkManager;
  consoles: ConsoleManager;
  /** Absent: no upload route (tests that build the API without files_path). */
  uploads?: FileUploads;
}

export type Api = FastifyInstance<RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, FastifyBaseLogger, TypeBoxTypeProvider>;

declare module 'fastify' {
  interface FastifyRequest {
    user: User;
  }
}
