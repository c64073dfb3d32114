import { execFileSync } from 'node:child_process';
import { open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApi } from '../../src/api/server.js';
import { isErrorCode } from '../../src/common/errors.js';
import { silentLogger } from '../../src/common/logger.js';
import { ensureUserFolder } from '../../src/managers/user-folder.js';
import { ROOT, TestCluster } from '../helpers/cluster.js';
import { collectServedRoutes } from '../helpers/served-routes.js';

// The authorization matrix: every route of the server, asked by each kind of
// caller, against a real API process on real etcd. The expected answers are
// written here by hand, not derived from the routes' declarations they check,
// and published in docs/api.md (UPDATE_AUTHZ_DOC=1 rewrites that copy).

const COLUMNS = ['owner', 'other', 'admin', 'none', 'expired', 'revoked', 'disabled'] as const;
type Column = (typeof COLUMNS)[number];

/** HTTP status per column: the owner of the objects (alice), another user (bob), an admin, no token, an expired, a revoked token, a disabled user's. */
type Row = [owner: number, other: number, admin: number, none: number, expired: number, revoked: number, disabled: number];
const ANYONE: Row = [200, 200, 200, 200, 200, 200, 200];
/** A route every user may call, on their own things. */
const users = (owner: number, other = owner, admin = owner): Row => [owner, other, admin, 401, 401, 401, 401];
/** An admin's route: users are refused before anything is read. */
const adminOnly = (admin: number): Row => [403, 403, admin, 401, 401, 401, 401];

// The order is the order the rows run in (a row's writes may set up the next one's).
const EXPECTED: Record<string, Row> = {
  'GET /v1/health': ANYONE,
  'GET /openapi.json': ANYONE,
  // The dashboard's page and files: public; each call the page makes carries the user's token.
  'GET /': ANYONE,
  'GET /web/{file}': ANYONE,
  'GET /v1/whoami': users(200),

  'POST /v1/vms': users(201),
  'GET /v1/vms': users(200),
  'GET /v1/vms/{ref}': users(200, 404, 200),
  'PATCH /v1/vms/{ref}': users(200, 404, 200),
  'POST /v1/vms/{ref}/start': users(202, 404, 202),
  'POST /v1/vms/{ref}/stop': users(202, 404, 202),
  // Stopped by now: only a running VM reboots.
  'POST /v1/vms/{ref}/reboot': users(409, 404, 409),
  'POST /v1/vms/{ref}/resize': users(202, 404, 202),
  // The VM runs on no host here: its console is unavailable to those who may read it.
  'GET /v1/vms/{ref}/console-log': users(503, 404, 503),
  'GET /v1/vms/{ref}/stats': users(503, 404, 503),
  // Stopped: no console to attach to.
  'POST /v1/vms/{ref}/console': users(409, 404, 409),
  // The ticket is the credential, sent on the WebSocket: a plain GET is told to upgrade, whoever sends it.
  'GET /v1/console': [426, 426, 426, 426, 426, 426, 426],
  // Admins only; the VM is not running (migrate) and its host is not dead (recover).
  'POST /v1/vms/{ref}/migrate': adminOnly(409),
  'POST /v1/vms/{ref}/recover': adminOnly(409),
  // Never placed, so gone at once.
  'DELETE /v1/vms/{ref}': users(204, 404, 204),

  'GET /v1/hosts': users(200),
  'POST /v1/hosts': adminOnly(201),
  'PATCH /v1/hosts/{name}': adminOnly(200),
  'POST /v1/hosts/{name}/drain': adminOnly(200),
  'POST /v1/hosts/{name}/undrain': adminOnly(200),
  'DELETE /v1/hosts/{name}': adminOnly(204),

  'GET /v1/images': users(200),
  // There is no file to make it from, for anyone.
  'POST /v1/images': users(404),
  // A bare name is the caller's own image: an admin reaches alice's as alice/name.
  'GET /v1/images/{ref}': users(200, 404, 404),
  'GET /v1/images/{owner}/{name}': users(200, 404, 200),
  'DELETE /v1/images/{ref}': users(202, 404, 404),
  'DELETE /v1/images/{owner}/{name}': users(202, 404, 202),
  'GET /v1/image-stores': users(200),
  'POST /v1/image-stores': adminOnly(200),
  'GET /v1/storage-drivers': users(200),

  'GET /v1/files': users(200),
  'PUT /v1/files/{name}': users(200),
  // Files are in their owner's folder only: nobody else names them.
  'DELETE /v1/files/{name}': users(204, 404, 404),

  'POST /v1/keys': users(201),
  'GET /v1/keys': users(200),
  'GET /v1/keys/{name}': users(200, 404, 404),
  'DELETE /v1/keys/{name}': users(204, 404, 404),

  'POST /v1/networks': users(201),
  'GET /v1/networks': users(200),
  // An admin reads a user's network with ?owner=.
  'GET /v1/networks/{name}': users(200, 404, 200),
  'GET /v1/networks/{name}/routes': users(200, 404, 200),
  'DELETE /v1/networks/{name}': users(204, 404, 404),

  'POST /v1/users': adminOnly(201),
  'GET /v1/users': adminOnly(200),
  'PATCH /v1/users/{name}': adminOnly(200),
  'DELETE /v1/users/{name}': adminOnly(204),
  'GET /v1/users/{name}/quota': users(200, 404, 200),
  'PATCH /v1/users/{name}/quota': adminOnly(200),

  'GET /v1/tokens': users(200),
  'POST /v1/tokens': users(201),
  // Another user's token id is not found; an admin reaches it with ?user=.
  'DELETE /v1/tokens/{id}': users(204, 404, 204),

  'GET /v1/totp': users(200),
  'POST /v1/totp': users(201),
  // A wrong code is refused to whoever sends it.
  'POST /v1/totp/confirm': users(403),
  // The owner must give a current code; another user may not name alice (?user=); an admin clears hers.
  'DELETE /v1/totp': users(403, 403, 204),

  'GET /v1/events': users(200),
  'GET /v1/events/stream': users(200),
};

interface Call {
  url: string;
  body?: unknown;
  raw?: Buffer;
}

describe('the authorization matrix: every route × every kind of caller (real API process, real etcd)', () => {
  let c: TestCluster;
  const token: Partial<Record<Column, string>> = {};
  const ids: Record<string, string> = {};
  let requests: Record<string, (col: Column) => Call> = {};
  const served = new Set<string>();

  beforeAll(async () => {
    c = await TestCluster.start();
    await c.bootstrap({ guestImage: c.tinyImage() });
    const m = c.managers();
    token.admin = c.adminToken;
    token.owner = (await m.users.create('alice', 'user')).token;
    token.other = (await m.users.create('bob', 'user')).token;
    token.disabled = (await m.users.create('carol', 'user')).token;
    token.revoked = (await m.users.issueToken('alice', { name: 'to-revoke' })).token;
    const expired = await m.users.issueToken('alice', { name: 'expired', expiresAt: new Date(Date.now() + 1000).toISOString() });
    token.expired = expired.token;
    for (const u of ['alice', 'bob', 'admin']) await ensureUserFolder(c.filesPath, u);

    const api = c.spawn('api');
    await api.ready;
    const call = async (tok: string, method: string, url: string, body?: unknown) => {
      const res = await fetch(c.apiUrl + url, { method, headers: { authorization: `Bearer ${tok}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
      const text = await res.text();
      expect(res.status, `${method} ${url}: ${text}`).toBeLessThan(300);
      return text ? (JSON.parse(text) as Record<string, unknown>) : {};
    };
    // alice's things: VMs, a network, a key, images, spare tokens.
    const vm = (name: string) => call(token.owner!, 'POST', '/v1/vms', { name, image: 'ucloud-test', cpu: 1, ram: '128MiB', disk: '1GiB' });
    ids.web1 = String((await vm('web1')).id);
    await vm('del-o');
    ids.delA = String((await vm('del-a')).id);
    await call(token.owner!, 'POST', '/v1/networks', { name: 'lab' });
    // A key is added once per user: each request that adds one has its own.
    const newKey = async (name: string) => {
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(c.dir, `key-${name}`)]);
      return (await readFile(join(c.dir, `key-${name}.pub`), 'utf8')).trim();
    };
    await call(token.owner!, 'POST', '/v1/keys', { name: 'laptop', publicKey: await newKey('laptop') });
    const keys = { o: await newKey('o'), b: await newKey('b'), a: await newKey('a') };
    const tiny = c.tinyImage();
    for (const name of ['alice-img', 'img-del-o', 'img-del-o2', 'img-del-a']) {
      const fh = await open(tiny, 'r');
      try {
        await m.images.importLocal('local', name, 'alice', false, { fd: fh.fd, format: 'qcow2', virtualSize: 64 * 2 ** 20 });
      } finally {
        await fh.close();
      }
    }
    const tokenId = async (name: string) => String(((await call(token.owner!, 'POST', '/v1/tokens', { name })) as { info: { id: string } }).info.id);
    ids.spare1 = await tokenId('spare1');
    ids.spare2 = await tokenId('spare2');
    await m.users.revokeToken('alice', String(((await m.users.listTokens('alice')).find((t) => t.name === 'to-revoke'))!.id));
    await m.users.setDisabled('carol', true, 'admin');
    // The expired token's second has passed by now (everything above took longer); checked, not assumed.
    expect(Date.parse(expired.info.expiresAt!)).toBeLessThan(Date.now());

    // Each column's request for each route: its own target where a success writes (so the next column has one too).
    const per = (o: Call, b: Call, a: Call) => (col: Column) => (col === 'other' ? b : col === 'admin' ? a : o);
    const same = (x: Call) => () => x;
    const vmBody = (name: string) => ({ name, image: 'ucloud-test', cpu: 1, ram: '128MiB', disk: '1GiB' });
    const webRef = (suffix = '') => per({ url: `/v1/vms/web1${suffix}` }, { url: `/v1/vms/${ids.web1}${suffix}` }, { url: `/v1/vms/${ids.web1}${suffix}` });
    requests = {
      'GET /v1/health': same({ url: '/v1/health' }),
      'GET /openapi.json': same({ url: '/openapi.json' }),
      'GET /': same({ url: '/' }),
      'GET /web/{file}': same({ url: '/web/app.js' }),
      'GET /v1/whoami': same({ url: '/v1/whoami' }),
      'POST /v1/vms': per({ url: '/v1/vms', body: vmBody('new-o') }, { url: '/v1/vms', body: vmBody('new-b') }, { url: '/v1/vms', body: vmBody('new-a') }),
      'GET /v1/vms': same({ url: '/v1/vms' }),
      'GET /v1/vms/{ref}': webRef(),
      'PATCH /v1/vms/{ref}': (col) => ({ ...webRef()(col), body: { ha: true } }),
      'POST /v1/vms/{ref}/start': webRef('/start'),
      'POST /v1/vms/{ref}/stop': webRef('/stop'),
      'POST /v1/vms/{ref}/reboot': webRef('/reboot'),
      'POST /v1/vms/{ref}/resize': (col) => ({ ...webRef('/resize')(col), body: { disk: col === 'admin' ? '3GiB' : '2GiB' } }),
      'GET /v1/vms/{ref}/console-log': webRef('/console-log'),
      'GET /v1/vms/{ref}/stats': webRef('/stats'),
      'POST /v1/vms/{ref}/console': webRef('/console'),
      'GET /v1/console': same({ url: '/v1/console' }),
      'POST /v1/vms/{ref}/migrate': same({ url: `/v1/vms/${ids.web1}/migrate`, body: { to: 'hv1' } }),
      'POST /v1/vms/{ref}/recover': same({ url: `/v1/vms/${ids.web1}/recover`, body: {} }),
      'DELETE /v1/vms/{ref}': per({ url: '/v1/vms/del-o' }, { url: `/v1/vms/${ids.delA}` }, { url: `/v1/vms/${ids.delA}` }),
      'GET /v1/hosts': same({ url: '/v1/hosts' }),
      'POST /v1/hosts': same({ url: '/v1/hosts', body: { name: 'hv9', cpu: 1, ram: '1GiB', disk: '10GiB' } }),
      'PATCH /v1/hosts/{name}': same({ url: '/v1/hosts/hv9', body: { cpu: 2 } }),
      'POST /v1/hosts/{name}/drain': same({ url: '/v1/hosts/hv9/drain' }),
      'POST /v1/hosts/{name}/undrain': same({ url: '/v1/hosts/hv9/undrain' }),
      'DELETE /v1/hosts/{name}': same({ url: '/v1/hosts/hv9' }),
      'GET /v1/images': same({ url: '/v1/images' }),
      'POST /v1/images': same({ url: '/v1/images', body: { name: 'from-nothing', file: 'no-such-file' } }),
      'GET /v1/images/{ref}': same({ url: '/v1/images/alice-img' }),
      'GET /v1/images/{owner}/{name}': same({ url: '/v1/images/alice/alice-img' }),
      'DELETE /v1/images/{ref}': same({ url: '/v1/images/img-del-o' }),
      'DELETE /v1/images/{owner}/{name}': per({ url: '/v1/images/alice/img-del-o2' }, { url: '/v1/images/alice/img-del-a' }, { url: '/v1/images/alice/img-del-a' }),
      'GET /v1/image-stores': same({ url: '/v1/image-stores' }),
      'POST /v1/image-stores': same({ url: '/v1/image-stores', body: { name: 'extra', driver: 'fs', settings: { path: join(c.dir, 'extra-images') } } }),
      'GET /v1/storage-drivers': same({ url: '/v1/storage-drivers' }),
      'GET /v1/files': same({ url: '/v1/files' }),
      'PUT /v1/files/{name}': per({ url: '/v1/files/f-o', raw: Buffer.from('alice') }, { url: '/v1/files/f-b', raw: Buffer.from('bob') }, { url: '/v1/files/f-a', raw: Buffer.from('admin') }),
      'DELETE /v1/files/{name}': same({ url: '/v1/files/f-o' }),
      'POST /v1/keys': per({ url: '/v1/keys', body: { name: 'k-o', publicKey: keys.o } }, { url: '/v1/keys', body: { name: 'k-b', publicKey: keys.b } }, { url: '/v1/keys', body: { name: 'k-a', publicKey: keys.a } }),
      'GET /v1/keys': same({ url: '/v1/keys' }),
      'GET /v1/keys/{name}': same({ url: '/v1/keys/laptop' }),
      'DELETE /v1/keys/{name}': same({ url: '/v1/keys/k-o' }),
      'POST /v1/networks': per({ url: '/v1/networks', body: { name: 'n-o' } }, { url: '/v1/networks', body: { name: 'n-b' } }, { url: '/v1/networks', body: { name: 'n-a' } }),
      'GET /v1/networks': same({ url: '/v1/networks' }),
      'GET /v1/networks/{name}': per({ url: '/v1/networks/lab' }, { url: '/v1/networks/lab' }, { url: '/v1/networks/lab?owner=alice' }),
      'GET /v1/networks/{name}/routes': per({ url: '/v1/networks/lab/routes' }, { url: '/v1/networks/lab/routes' }, { url: '/v1/networks/lab/routes?owner=alice' }),
      'DELETE /v1/networks/{name}': same({ url: '/v1/networks/n-o' }),
      'POST /v1/users': same({ url: '/v1/users', body: { name: 'dave' } }),
      'GET /v1/users': same({ url: '/v1/users' }),
      'PATCH /v1/users/{name}': same({ url: '/v1/users/dave', body: { disabled: true } }),
      'DELETE /v1/users/{name}': same({ url: '/v1/users/dave' }),
      'GET /v1/users/{name}/quota': same({ url: '/v1/users/alice/quota' }),
      'PATCH /v1/users/{name}/quota': same({ url: '/v1/users/alice/quota', body: { vms: 50 } }),
      'GET /v1/tokens': same({ url: '/v1/tokens' }),
      'POST /v1/tokens': per({ url: '/v1/tokens', body: { name: 't-o' } }, { url: '/v1/tokens', body: { name: 't-b' } }, { url: '/v1/tokens', body: { name: 't-a' } }),
      'DELETE /v1/tokens/{id}': per({ url: `/v1/tokens/${ids.spare1}` }, { url: `/v1/tokens/${ids.spare2}` }, { url: `/v1/tokens/${ids.spare2}?user=alice` }),
      'GET /v1/totp': same({ url: '/v1/totp' }),
      'POST /v1/totp': same({ url: '/v1/totp' }),
      'POST /v1/totp/confirm': same({ url: '/v1/totp/confirm', body: { totp: '000000' } }),
      'DELETE /v1/totp': per({ url: '/v1/totp', body: {} }, { url: '/v1/totp?user=alice', body: {} }, { url: '/v1/totp?user=alice', body: {} }),
      'GET /v1/events': same({ url: '/v1/events' }),
      'GET /v1/events/stream': same({ url: '/v1/events/stream' }),
    };

    // The server's routes, as Fastify registers them (an in-process twin of the API process).
    const twin = buildApi({ ...m, uploads: {} as never }, silentLogger, { documentOnly: true });
    collectServedRoutes(twin, served);
    await twin.ready();
    await twin.close();
  }, 240_000);
  afterAll(async () => {
    await c?.stop();
  });

  it('every route of the server is in the expected table, and every row is a route', () => {
    expect([...served].filter((r) => !(r in EXPECTED))).toEqual([]);
    expect(Object.keys(EXPECTED).filter((r) => !served.has(r))).toEqual([]);
    expect(Object.keys(requests).sort()).toEqual(Object.keys(EXPECTED).sort());
  });

  it('each caller gets exactly the expected answer; every refusal carries a catalogue code', async () => {
    const got: Record<string, number[]> = {};
    const wrong: string[] = [];
    // Refusals first (no token, bad tokens, another user), then the owner's and the admin's own writes.
    const order: Column[] = ['none', 'expired', 'revoked', 'disabled', 'other', 'owner', 'admin'];
    for (const [route, expected] of Object.entries(EXPECTED)) {
      const [method, path] = route.split(' ') as [string, string];
      const row: number[] = [];
      for (const col of order) {
        const { url, body, raw } = requests[route]!(col);
        const tok = col === 'none' ? undefined : token[col];
        const ctl = new AbortController();
        const res = await fetch(c.apiUrl + url, {
          method,
          signal: ctl.signal,
          headers: {
            ...(tok ? { authorization: `Bearer ${tok}` } : {}),
            ...(raw ? { 'content-type': 'application/octet-stream' } : body !== undefined ? { 'content-type': 'application/json' } : {}),
          },
          ...(raw ? { body: raw } : body !== undefined ? { body: JSON.stringify(body) } : {}),
        });
        // A stream's status is its answer; its body would not end.
        const text = path.endsWith('/stream') && res.status === 200 ? (ctl.abort(), '') : await res.text();
        row[COLUMNS.indexOf(col)] = res.status;
        const want = expected[COLUMNS.indexOf(col)]!;
        if (res.status !== want) wrong.push(`${route} as ${col} (${url}): ${res.status}, expected ${want}: ${text.slice(0, 200)}`);
        if (res.status >= 400) {
          const e = JSON.parse(text) as { code?: string; message?: string };
          if (!isErrorCode(e.code) || typeof e.message !== 'string') wrong.push(`${route} as ${col}: error not in the documented shape: ${text.slice(0, 200)}`);
        }
      }
      got[route] = row;
    }
    if (process.env.UPDATE_AUTHZ_DOC === '1') await writeDoc();
    expect(wrong).toEqual([]);
    expect(got).toEqual(EXPECTED);
  }, 240_000);

  it("another user's object answers exactly as one that does not exist (no existence leak)", async () => {
    const ask = async (method: string, url: string, body?: unknown) => {
      const res = await fetch(c.apiUrl + url, { method, headers: { authorization: `Bearer ${token.other}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
      return { status: res.status, ...((await res.json()) as { code: string; message: string }) };
    };
    const pairs: [string, string, string, unknown?][] = [
      ['GET', `/v1/vms/${ids.web1}`, '/v1/vms/00000000-0000-4000-8000-000000000000'],
      ['POST', `/v1/vms/${ids.web1}/stop`, '/v1/vms/00000000-0000-4000-8000-000000000000/stop'],
      ['GET', '/v1/images/alice/alice-img', '/v1/images/alice/nothing-here'],
      ['GET', '/v1/users/alice/quota', '/v1/users/nobody-here/quota'],
      ['DELETE', `/v1/tokens/${ids.spare2}`, '/v1/tokens/ffffffffffff'],
    ];
    for (const [method, theirs, none] of pairs) {
      const a = await ask(method, theirs);
      const b = await ask(method, none);
      const strip = (m: string) => m.replace(/"[^"]*"|[0-9a-f-]{12,36}/g, '…');
      expect({ status: a.status, code: a.code, message: strip(a.message) }, `${method} ${theirs}`).toEqual({ status: b.status, code: b.code, message: strip(b.message) });
      expect(a.status).toBe(404);
    }
  });

  it('docs/api.md publishes this table', async () => {
    expect(await readFile(DOC, 'utf8')).toContain(`<!-- authz-matrix -->\n${markdown()}\n<!-- /authz-matrix -->`);
  });
});

const DOC = join(ROOT, 'docs', 'api.md');

function markdown(): string {
  const head = `| route | ${COLUMNS.join(' | ')} |`;
  const rows = Object.entries(EXPECTED).map(([route, row]) => `| \`${route}\` | ${row.join(' | ')} |`);
  return [head, `|---|${COLUMNS.map(() => '---').join('|')}|`, ...rows].join('\n');
}

async function writeDoc(): Promise<void> {
  const text = await readFile(DOC, 'utf8');
  const begin = '<!-- authz-matrix -->';
  const end = '<!-- /authz-matrix -->';
  const i = text.indexOf(begin);
  const j = text.indexOf(end);
  if (i < 0 || j < 0) throw new Error(`docs/api.md has no ${begin} … ${end} markers`);
  await writeFile(DOC, `${text.slice(0, i + begin.length)}\n${markdown()}\n${text.slice(j)}`);
}

