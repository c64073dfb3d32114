// What both nftables tables (antispoof.ts: `bridge ucloud`, hostfw.ts:
// `inet ucloud`) need from nft: run a script as one transaction, read a table
// as JSON, and fingerprint a layout so an unchanged one is never rewritten.
import { createHash } from 'node:crypto';
import type { Ip } from './ip.js';

/** The objects of `nft -j list table`, as far as the two tables read them. */
export interface NftObject {
  table?: { family: string; name: string };
  chain?: { family: string; table: string; name: string; hook?: string };
  rule?: { family: string; table: string; chain: string; handle: number; comment?: string };
  set?: { family: string; table: string; name: string; elem?: unknown[] };
  map?: { family: string; table: string; name: string; elem?: unknown[] };
  counter?: { family: string; table: string; name: string; packets: number; bytes: number };
}

/** Runs `script` with `nft -f -`: all of it or nothing (nft applies a file as one transaction). */
export async function nft(ip: Ip, script: string): Promise<void> {
  await ip.exec('nft', ['-f', '-'], { input: script, timeoutMs: 15_000 });
}

/** Every object of one table, or undefined when there is no such table. */
export async function listTable(ip: Ip, family: string, table: string): Promise<NftObject[] | undefined> {
  const tables = JSON.parse((await ip.exec('nft', ['-j', 'list', 'tables', family])).stdout) as { nftables: NftObject[] };
  if (!tables.nftables.some((o) => o.table?.name === table)) return undefined;
  return (JSON.parse((await ip.exec('nft', ['-j', 'list', 'table', family, table])).stdout) as { nftables: NftObject[] }).nftables;
}

/** `ucloud:<version>:<16 hex>` of a layout, kept in a rule's comment to tell whether it is current. */
export function fingerprint(version: string, ...layout: unknown[]): string {
  const hash = createHash('sha256').update(JSON.stringify([version, ...layout])).digest('hex');
  return `ucloud:${version}:${hash.slice(0, 16)}`;
}

/** The members of a concatenated set element (`a . b`), or undefined for a plain one. */
export function concat(e: unknown): unknown[] | undefined {
  const c = (e as { concat?: unknown[] } | undefined)?.concat;
  return Array.isArray(c) ? c : undefined;
}
