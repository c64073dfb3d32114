import type { Namespace } from 'etcd3';

/**
 * What ucloud reaches into in etcd3 1.1.2's connection pool: not public API,
 * so every use goes through `poolOf`, which checks it and fails loudly on an
 * etcd3 upgrade that moved it (every test that opens a store fails there).
 */
export interface PoolInternals {
  hosts: PoolHost[];
  authenticator: {
    getCredentialsFromHost(address: string, name: string, password: string, options: object | undefined): Promise<string>;
    getMetadata(): Promise<unknown>;
  };
  withConnection<T>(service: string, fn: (c: { resource: unknown; client: unknown; metadata: unknown }) => T, hosts: Iterator<unknown>): Promise<T>;
  markFailed(resource: unknown, err: Error): void;
}

/** One endpoint of the pool: its gRPC service clients over one connection, and its fault-handling policy. */
export interface PoolHost {
  host: string;
  closed: boolean;
  faultHandling: unknown;
  getServiceClient(name: string): unknown;
}

/** The pool under a client or a namespace of it (`user` names the caller in the error). */
export function poolOf(ns: Namespace, user: string): PoolInternals {
  const pool = (ns as unknown as { pool?: PoolInternals }).pool;
  if (
    !Array.isArray(pool?.hosts) ||
    typeof pool.authenticator?.getCredentialsFromHost !== 'function' ||
    typeof pool.authenticator.getMetadata !== 'function' ||
    typeof pool.withConnection !== 'function' ||
    typeof pool.markFailed !== 'function'
  ) {
    throw new Error(`etcd3 internals changed: ${user} needs review (src/store/etcd3-pool.ts)`);
  }
  return pool;
}
