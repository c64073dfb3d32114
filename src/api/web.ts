import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyReply } from 'fastify';
import { UcloudError } from '../common/errors.js';
import type { Api } from './context.js';

/**
 * The dashboard's page may run only its own script and style, talk only to this
 * origin (fetch and the console's WebSocket), and be framed by nobody: an XSS
 * that slips into a VM name still cannot load or send anything elsewhere.
 */
export const WEB_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': WEB_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=(), usb=(), payment=()',
};

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.map': 'application/json',
};

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

/**
 * dist/web, where `npm run build` bundles src/web: next to this module's dist/src when
 * compiled (dist/src/api → dist/web), under dist/ when run from source (tests).
 */
export function defaultWebDir(): string {
  const root = fileURLToPath(new URL('../../', import.meta.url));
  const compiled = join(root, 'web');
  return existsSync(join(compiled, 'index.html')) ? compiled : join(root, 'dist', 'web');
}

/**
 * `GET /` (the page) and `GET /web/:file` (its script and style), read once and
 * kept in memory: a few hundred KiB. Not in the OpenAPI document (not API
 * operations); public (`web:read`), as the page holds no data until a token is given.
 */
export function webRoutes(r: Api, dir: string): void {
  let assets: Promise<Map<string, Asset>> | undefined;
  const load = (): Promise<Map<string, Asset>> =>
    (assets ??= readAssets(dir).catch((err: unknown) => {
      assets = undefined;
      throw new UcloudError('WEB_NOT_BUILT', `the web dashboard is not built (no ${join(dir, 'index.html')})`, { cause: err });
    }));
  const send = async (name: string, ifNoneMatch: string | undefined, reply: FastifyReply) => {
    const asset = (await load()).get(name);
    if (!asset) throw new UcloudError('NOT_FOUND', `no file /web/${name}`);
    void reply.headers({ ...SECURITY_HEADERS, 'content-type': asset.type, 'cache-control': 'no-cache', etag: asset.etag });
    if (ifNoneMatch === asset.etag) return reply.code(304).send();
    return reply.send(asset.body);
  };
  r.get('/', { config: { action: 'web:read' }, schema: { hide: true } }, (req, reply) => send('index.html', req.headers['if-none-match'], reply));
  r.get<{ Params: { file: string } }>('/web/:file', { config: { action: 'web:read' }, schema: { hide: true } }, (req, reply) => send(req.params.file, req.headers['if-none-match'], reply));
}

async function readAssets(dir: string): Promise<Map<string, Asset>> {
  const out = new Map<string, Asset>();
  for (const name of await readdir(dir)) {
    const type = TYPES[extname(name)];
    if (!type) continue;
    const body = await readFile(join(dir, name));
    out.set(name, { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` });
  }
  if (!out.has('index.html')) throw new Error(`no index.html in ${dir}`);
  return out;
}
