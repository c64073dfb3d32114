import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chownSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, symlinkSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UploadedFile, UserFile } from '../../src/model/index.js';
import { MiB, TestCluster, UCLOUD, until, type Daemon } from '../helpers/cluster.js';
import { freePort } from '../helpers/ports.js';

// `PUT /v1/files/:name` and `ucloud file upload` through a real API process
// into real folders, with the real filescanner recording the results.

const MAX = 300 * MiB; // upload_max_size
const QUOTA = 450 * MiB; // files_quota
const IDLE = '3s'; // upload_idle_timeout
const BODY_TIMEOUT_MS = 1000; // api_body_timeout

/** `total` bytes, 1 MiB at a time: mostly zeros, each MiB stamped with its index and `seed` so no two streams are alike. */
function* generated(total: number, seed: number): Generator<Buffer> {
  for (let off = 0, i = 0; off < total; off += MiB, i++) {
    const b = Buffer.alloc(Math.min(MiB, total - off));
    if (b.length >= 8) {
      b.writeUInt32LE(i, 0);
      b.writeUInt32LE(seed, 4);
    }
    yield b;
  }
}
const sha512Of = (chunks: Iterable<Buffer>) => {
  const h = createHash('sha512');
  for (const c of chunks) h.update(c);
  return h.digest('hex');
};
const digestHeader = (hex: string) => `sha-512=:${Buffer.from(hex, 'hex').toString('base64')}:`;
/** VmRSS / VmHWM of a process, in bytes. */
const memOf = (pid: number, field: 'VmRSS' | 'VmHWM') => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;

describe('file upload through the API (real API, real filescanner)', () => {
  let c: TestCluster;
  let api: Daemon;
  const tokens: Record<string, string> = {};
  const folder = (user: string) => join(c.filesPath, user);
  /** Leftover part files (and anything else hidden) in a user's folder. */
  const hidden = (user: string) => (existsSync(folder(user)) ? readdirSync(folder(user)).filter((n) => n.startsWith('.') || n.endsWith('.part')) : []);

  interface PutOpts {
    /** Content-Length; null: none (chunked), as a client that does not say would send. */
    length?: number | null;
    sha512?: string;
    replace?: boolean;
    signal?: AbortSignal;
    /** Another API than the cluster's. */
    url?: string;
  }
  const put = async (user: string, name: string, body: Buffer | Iterable<Buffer> | AsyncIterable<Buffer>, o: PutOpts = {}) => {
    const headers: Record<string, string> = { authorization: `Bearer ${tokens[user]}`, 'content-type': 'application/octet-stream' };
    const length = o.length === undefined ? (Buffer.isBuffer(body) ? body.length : undefined) : o.length;
    if (length !== null && length !== undefined) headers['content-length'] = String(length);
    if (o.sha512) headers['content-digest'] = digestHeader(o.sha512);
    const path = `/v1/files/${encodeURIComponent(name)}`;
    const res = await fetch(`${o.url ?? c.apiUrl}${path}${o.replace ? '?replace=true' : ''}`, {
      method: 'PUT',
      headers,
      body: Buffer.isBuffer(body) ? body : ReadableStream.from(body as AsyncIterable<Buffer>),
      duplex: 'half',
      ...(o.signal ? { signal: o.signal } : {}),
    } as RequestInit);
    return { status: res.status, body: (await res.json()) as UploadedFile & { code?: string; message?: string } };
  };
  /** A PUT whose path is sent as written (fetch would resolve "..", as browsers do). */
  const rawPut = (user: string, path: string, body: Buffer) =>
    new Promise<{ status: number; body: { code?: string } }>((resolve, reject) => {
      const url = new URL(c.apiUrl);
      const req = request(
        { host: '::1', port: url.port, path, method: 'PUT', headers: { authorization: `Bearer ${tokens[user]}`, 'content-type': 'application/octet-stream', 'content-length': body.length } },
        (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) as { code?: string } }));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  const recorded = async (user: string, name: string, sha512: string) =>
    until(`${user}/${name} recorded with its sha512`, async () => {
      const files = (await c.client(tokens[user]).files.list()) as UserFile[];
      return files.find((f) => f.name === name && f.sha512 === sha512);
    }, 30_000);

  beforeAll(async () => {
    c = await TestCluster.start();
    await c.bootstrap();
    tokens.admin = c.adminToken;
    const m = c.managers();
    for (const u of ['alice', 'bob', 'carol', 'dora', 'gina', 'hank', 'ivan', 'judy', 'kim']) tokens[u] = (await m.users.create(u, 'user')).token;
    api = c.spawn('api', { UCLOUD_UPLOAD_MAX_SIZE: `${MAX}`, UCLOUD_FILES_QUOTA: `${QUOTA}`, UCLOUD_UPLOAD_IDLE_TIMEOUT: IDLE, UCLOUD_API_BODY_TIMEOUT: `${BODY_TIMEOUT_MS}ms` });
    await api.ready;
    await c.spawn('filescanner', { UCLOUD_UPLOAD_IDLE_TIMEOUT: IDLE }).ready;
  });
  afterAll(async () => {
    await c?.stop();
  });

  /** An upload whose body sends `first` bytes, then waits for `go` (or never), then the rest of `total`. */
  const held = (total: number, first: number, go: Promise<unknown>, seed = 0) =>
    (async function* () {
      yield Buffer.alloc(first, seed);
      await go;
      for (let sent = first; sent < total; sent += MiB) yield Buffer.alloc(Math.min(MiB, total - sent), seed);
    })();
  const never = new Promise<never>(() => undefined);

  it('streams 200 MiB with bounded API memory; the filescanner records the same sha512', async () => {
    const size = 200 * MiB;
    const sha512 = sha512Of(generated(size, 1));
    const pid = api.child.pid!;
    writeFileSync(`/proc/${pid}/clear_refs`, '5'); // resets VmHWM to the current RSS
    const before = memOf(pid, 'VmRSS');
    const t0 = Date.now();
    const r = await put('alice', 'big.raw', generated(size, 1), { length: size, sha512 });
    const ms = Date.now() - t0;
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toEqual({ name: 'big.raw', sizeBytes: size, sha512 });
    const growth = memOf(pid, 'VmHWM') - before;
    console.log(`[file-upload] 200 MiB in ${ms} ms (${((200 * 1000) / ms).toFixed(0)} MiB/s); API peak RSS growth ${(growth / MiB).toFixed(1)} MiB`);
    expect(growth).toBeLessThan(64 * MiB);
    const path = join(folder('alice'), 'big.raw');
    expect(statSync(path).size).toBe(size);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(hidden('alice')).toEqual([]);
    expect((await recorded('alice', 'big.raw', sha512)).sizeBytes).toBe(size);
  });

  it('a checksum mismatch is CHECKSUM_MISMATCH: no file, no part file', async () => {
    const wrong = sha512Of([Buffer.from('something else')]);
    const r = await put('alice', 'bad.bin', Buffer.from('the real bytes'), { sha512: wrong });
    expect([r.status, r.body.code]).toEqual([400, 'CHECKSUM_MISMATCH']);
    expect(existsSync(join(folder('alice'), 'bad.bin'))).toBe(false);
    expect(hidden('alice')).toEqual([]);
    // The digest is optional for other clients (the answer carries the sha512); a malformed one is refused before anything is written.
    const plain = await put('alice', 'plain.bin', Buffer.from('x'));
    expect(plain.status).toBe(200);
    expect(plain.body).toMatchObject({ name: 'plain.bin', sha512: sha512Of([Buffer.from('x')]) });
    const res = await fetch(`${c.apiUrl}/v1/files/other.bin`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${tokens.alice}`, 'content-type': 'application/octet-stream', 'content-digest': 'sha-512=:nonsense:' },
      body: 'x',
    });
    expect([res.status, ((await res.json()) as { code: string }).code]).toEqual([400, 'VALIDATION_FAILED']);
    expect(existsSync(join(folder('alice'), 'other.bin'))).toBe(false);
  });

  it('without a token nothing is read or written (401 UNAUTHENTICATED)', async () => {
    const res = await fetch(`${c.apiUrl}/v1/files/anon.txt`, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: 'x' });
    expect([res.status, ((await res.json()) as { code: string }).code]).toEqual([401, 'UNAUTHENTICATED']);
    expect(readdirSync(c.filesPath).flatMap((u) => (statSync(join(c.filesPath, u)).isDirectory() ? readdirSync(join(c.filesPath, u)) : [])).filter((n) => n.includes('anon'))).toEqual([]);
  });

  it('names: "/" , "..", dotfiles, .part, NUL, control characters, 256 bytes are INVALID_FILE_NAME; nothing is written', async () => {
    const before = readdirSync(folder('alice')).sort();
    const cases: [string, string][] = [
      ['slash', `/v1/files/${encodeURIComponent('sub/x.img')}`],
      ['dot-dot', '/v1/files/..'],
      ['dot-dot encoded', '/v1/files/%2E%2E'],
      ['escape', `/v1/files/${encodeURIComponent('../../etc/passwd')}`],
      ['dotfile', '/v1/files/.profile'],
      ['part', '/v1/files/x.part'],
      ['tmp', '/v1/files/x.TMP'],
      ['NUL', '/v1/files/a%00b'],
      ['newline', '/v1/files/a%0Ab'],
      ['ESC', '/v1/files/a%1B%5B2Jb'],
      ['right-to-left override (Cf)', '/v1/files/invoice%E2%80%AEgpj.exe'],
      ['zero-width space (Cf)', '/v1/files/a%E2%80%8Bb'],
      ['C1 control (Cc)', '/v1/files/a%C2%85b'],
      ['256 bytes', `/v1/files/${'n'.repeat(256)}`],
    ];
    for (const [what, rawPath] of cases) {
      const r = await rawPut('alice', rawPath, Buffer.from('x'));
      expect([r.status, r.body.code], what).toEqual([400, 'INVALID_FILE_NAME']);
    }
    expect(readdirSync(folder('alice')).sort()).toEqual(before);
    expect(existsSync(join(c.filesPath, 'passwd'))).toBe(false);
    const ok = await put('alice', 'n'.repeat(255), Buffer.from('x'));
    expect(ok.status).toBe(200);
  });

  it('size limit and quota: announced too large is refused at once, a stream without a length is cut off; no part file stays', async () => {
    let t0 = Date.now();
    let r = await put('bob', 'huge.raw', generated(MAX + 1, 2), { length: MAX + 1 });
    expect([r.status, r.body.code]).toEqual([400, 'FILE_TOO_LARGE']);
    console.log(`[file-upload] refused before reading: answered in ${Date.now() - t0} ms`);
    t0 = Date.now();
    // A client that announces nothing is counted as it sends.
    r = await put('bob', 'huge.raw', generated(MAX + 8 * MiB, 3), { length: null });
    expect([r.status, r.body.code]).toEqual([400, 'FILE_TOO_LARGE']);
    console.log(`[file-upload] cut off at ${MAX / MiB} MiB: answered after ${Date.now() - t0} ms`);
    expect(hidden('bob')).toEqual([]);
    expect(existsSync(join(folder('bob'), 'huge.raw'))).toBe(false);

    // alice holds 200 MiB (+ a few bytes) of her 450 MiB quota.
    r = await put('alice', 'more.raw', generated(260 * MiB, 4), { length: 260 * MiB });
    expect([r.status, r.body.code]).toEqual([409, 'QUOTA_EXCEEDED']);
    expect(r.body.message).toMatch(/holds 200(\.\d+)?MiB of your 450MiB quota/);
    r = await put('alice', 'more.raw', generated(260 * MiB, 5), { length: null });
    expect([r.status, r.body.code]).toEqual([409, 'QUOTA_EXCEEDED']);
    expect(hidden('alice')).toEqual([]);
    expect(existsSync(join(folder('alice'), 'more.raw'))).toBe(false);
    // Files put into the folder by other means count too (a sparse file counts its size).
    const other = join(folder('bob'), 'copied-in.raw');
    writeFileSync(other, '');
    truncateSync(other, QUOTA - MiB);
    r = await put('bob', 'two-mib.raw', generated(2 * MiB, 6));
    expect([r.status, r.body.code]).toEqual([409, 'QUOTA_EXCEEDED']);
    expect((await put('bob', 'half-mib.raw', Buffer.alloc(MiB / 2))).status).toBe(200);
    rmSync(other);
  });

  it('an existing name is FILE_EXISTS; --replace replaces it whole', async () => {
    const one = Buffer.from('version one\n');
    const two = Buffer.from('version two, longer\n');
    expect((await put('carol', 'notes.txt', one)).status).toBe(200);
    const again = await put('carol', 'notes.txt', two);
    expect([again.status, again.body.code]).toEqual([409, 'FILE_EXISTS']);
    expect(readFileSync(join(folder('carol'), 'notes.txt'))).toEqual(one);
    const replaced = await put('carol', 'notes.txt', two, { replace: true, sha512: sha512Of([two]) });
    expect(replaced.status).toBe(200);
    expect(readFileSync(join(folder('carol'), 'notes.txt'))).toEqual(two);
    // A folder of that name is never replaced.
    mkdirSync(join(folder('carol'), 'dir.img'));
    const dir = await put('carol', 'dir.img', one, { replace: true });
    expect([dir.status, dir.body.code]).toEqual([409, 'FILE_EXISTS']);
    // A symlink of that name is not followed: without --replace refused, with it the link itself is replaced.
    const victim = join(c.dir, 'victim.txt');
    writeFileSync(victim, 'untouched');
    symlinkSync(victim, join(folder('carol'), 'link.txt'));
    expect((await put('carol', 'link.txt', one)).body.code).toBe('FILE_EXISTS');
    expect((await put('carol', 'link.txt', one, { replace: true })).status).toBe(200);
    expect(lstatSync(join(folder('carol'), 'link.txt')).isFile()).toBe(true);
    expect(readFileSync(victim, 'utf8')).toBe('untouched');
    expect(hidden('carol')).toEqual([]);
  });

  it('two uploads of one name at once never mix: with --replace one whole version wins, without it the second is FILE_EXISTS', async () => {
    const size = 24 * MiB;
    const [a, b] = [sha512Of(generated(size, 10)), sha512Of(generated(size, 11))];
    const both = await Promise.all([
      put('carol', 'race.raw', generated(size, 10), { length: size, sha512: a, replace: true }),
      put('carol', 'race.raw', generated(size, 11), { length: size, sha512: b, replace: true }),
    ]);
    expect(both.map((r) => r.status), JSON.stringify(both.map((r) => r.body))).toEqual([200, 200]);
    expect([a, b]).toContain(sha512Of([readFileSync(join(folder('carol'), 'race.raw'))]));
    const noReplace = await Promise.all([put('carol', 'race2.raw', generated(size, 12), { length: size }), put('carol', 'race2.raw', generated(size, 13), { length: size })]);
    expect(noReplace.map((r) => r.status).sort()).toEqual([200, 409]);
    const won = noReplace.findIndex((r) => r.status === 200);
    expect(sha512Of([readFileSync(join(folder('carol'), 'race2.raw'))])).toBe(sha512Of(generated(size, 12 + won)));
    expect(noReplace[1 - won]!.body.code).toBe('FILE_EXISTS');
    expect(hidden('carol')).toEqual([]);
  });

  it('a client that disconnects mid-way leaves nothing behind', async () => {
    const ac = new AbortController();
    // 2 MiB of the 100 MiB announced, then the client stalls until it goes away.
    async function* stalled(): AsyncGenerator<Buffer> {
      for (let i = 0; i < 8; i++) yield Buffer.alloc(256 * 1024, i);
      await new Promise((r) => ac.signal.addEventListener('abort', r));
    }
    const upload = put('dora', 'cut.raw', stalled(), { length: 100 * MiB, signal: ac.signal }).catch((err: unknown) => err);
    // The part file exists and grows: the API is writing.
    await until('the part file', () => hidden('dora').length === 1 && statSync(join(folder('dora'), hidden('dora')[0]!)).size > MiB, 30_000, 20);
    ac.abort();
    expect(await upload).toBeInstanceOf(Error);
    await until('the part file removed', () => hidden('dora').length === 0, 10_000, 20);
    expect(readdirSync(folder('dora'))).toEqual([]);
    // The API still answers and takes the next upload.
    expect((await put('dora', 'after.txt', Buffer.from('ok'))).status).toBe(200);
  });

  it("a user's folder that is a symlink (or not a folder) is USER_FOLDER_REFUSED; nothing is written through it", async () => {
    const elsewhere = join(c.dir, 'elsewhere');
    mkdirSync(elsewhere);
    rmSync(folder('dora'), { recursive: true });
    symlinkSync(elsewhere, folder('dora'));
    const r = await put('dora', 'x.img', Buffer.from('x'));
    expect([r.status, r.body.code]).toEqual([409, 'USER_FOLDER_REFUSED']);
    expect(readdirSync(elsewhere)).toEqual([]);
    rmSync(folder('dora'));
    writeFileSync(folder('dora'), 'a file');
    const r2 = await put('dora', 'x.img', Buffer.from('x'));
    expect([r2.status, r2.body.code]).toEqual([409, 'USER_FOLDER_REFUSED']);
    rmSync(folder('dora'));
  });

  it('`ucloud file upload --wait` end to end: progress on stderr, sha512 shown, recorded; then image create without --store', async () => {
    const src = join(c.dir, 'disk.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', src, '64M']);
    const sha512 = sha512Of([readFileSync(src)]);
    const env = { UCLOUD_TOKEN: tokens.alice! };
    const up = await c.cli(['file', 'upload', src, '--wait', '-o', 'json'], env);
    expect(up.code, up.stderr).toBe(0);
    expect(JSON.parse(up.stdout)).toEqual({ name: 'disk.qcow2', sizeBytes: statSync(src).size, sha512 });
    expect(up.stderr).toMatch(/^hashing: 0%/m);
    expect(up.stderr).toMatch(/^uploading: 100%/m);
    expect(up.stderr).toContain(`sha512 ${sha512}`);
    expect(up.stderr).toContain('disk.qcow2: recorded');
    // --wait returned only once `file list` shows it: the next command can use it.
    const list = JSON.parse((await c.cli(['file', 'list', '-o', 'json'], env)).stdout) as UserFile[];
    expect(list.find((f) => f.name === 'disk.qcow2')?.sha512).toBe(sha512);
    const again = await c.cli(['file', 'upload', src], env);
    expect(again.code).toBe(4);
    expect(again.stderr).toContain('FILE_EXISTS');
    const renamed = await c.cli(['file', 'upload', src, '--name', 'copy.qcow2', '--replace'], env);
    expect(renamed.code, renamed.stderr).toBe(0);
    const badName = await c.cli(['file', 'upload', src, '--name', '../x'], env);
    expect(badName.code).toBe(2);
    expect(badName.stderr).toContain('INVALID_FILE_NAME');
    // One store (`local`): image create needs no --store.
    const img = await c.cli(['image', 'create', 'mine', '--from-file', 'disk.qcow2', '-o', 'json'], env);
    expect(img.code, img.stderr).toBe(0);
    expect(JSON.parse(img.stdout)).toMatchObject({ name: 'mine', store: 'local', owner: 'alice', source: { name: 'disk.qcow2', sha512 } });
  });

  it('a new user can upload at once: the folder is made on the first upload (and by the filescanner)', async () => {
    const { token } = await c.managers().users.create('erin', 'user');
    tokens.erin = token;
    await until("erin's folder made by the filescanner", () => existsSync(folder('erin')), 30_000);
    expect(statSync(folder('erin')).mode & 0o777).toBe(0o700);
    const { token: t2 } = await c.managers().users.create('fred', 'user');
    tokens.fred = t2;
    const r = await put('fred', 'first.txt', Buffer.from('hi'));
    expect(r.status).toBe(200);
    expect(realpathSync(join(folder('fred'), 'first.txt'))).toBe(join(realpathSync(c.filesPath), 'fred', 'first.txt'));
  });

  it('a part file moved away mid-upload and replaced by a symlink: USER_FOLDER_REFUSED, nothing placed or removed through it', async () => {
    const victimDir = join(c.dir, 'victim-etc');
    mkdirSync(victimDir);
    writeFileSync(join(victimDir, 'passwd'), 'root:x:0:0');
    let go!: () => void;
    const upload = put('gina', 'evil.img', held(4 * MiB, MiB, new Promise<void>((r) => (go = r))), { length: 4 * MiB });
    const part = await until('the part file', () => hidden('gina')[0], 30_000, 20);
    // What a user owning the folder can do: move our part into a sub-folder, swap that for a symlink, plant a symlink at the part's name.
    mkdirSync(join(folder('gina'), 'sub'));
    renameSync(join(folder('gina'), part), join(folder('gina'), 'sub', 'x'));
    renameSync(join(folder('gina'), 'sub'), join(folder('gina'), 'sub.moved'));
    symlinkSync(victimDir, join(folder('gina'), 'sub'));
    symlinkSync(join(victimDir, 'passwd'), join(folder('gina'), part));
    go();
    const r = await upload;
    expect([r.status, r.body.code], JSON.stringify(r.body)).toEqual([409, 'USER_FOLDER_REFUSED']);
    expect(readFileSync(join(victimDir, 'passwd'), 'utf8')).toBe('root:x:0:0');
    expect(readdirSync(victimDir)).toEqual(['passwd']);
    expect(existsSync(join(folder('gina'), 'evil.img'))).toBe(false);
    expect(lstatSync(join(folder('gina'), part)).isSymbolicLink()).toBe(true); // the user's own entry, left alone
    rmSync(folder('gina'), { recursive: true });
    mkdirSync(folder('gina'), { mode: 0o700 });
  });

  it('parallel uploads without a Content-Length share one quota, checked at every chunk', async () => {
    // hank holds QUOTA - 30 MiB (sparse); three 15 MiB uploads at once would hold 45.
    const filler = join(folder('hank'), 'filler.raw');
    mkdirSync(folder('hank'), { recursive: true });
    writeFileSync(filler, '');
    truncateSync(filler, QUOTA - 30 * MiB);
    let go!: () => void;
    const started = new Promise<void>((r) => (go = r));
    const all = Promise.all([0, 1, 2].map((i) => put('hank', `p${i}.raw`, held(15 * MiB, MiB, started, i), { length: null })));
    await until('three uploads running at once', () => hidden('hank').length === 3, 30_000, 20);
    go();
    const rs = await all;
    const ok = rs.filter((r) => r.status === 200).length;
    expect(rs.filter((r) => r.body.code === 'QUOTA_EXCEEDED').length, JSON.stringify(rs.map((r) => r.body))).toBe(3 - ok);
    expect(ok).toBeLessThanOrEqual(2);
    const stored = readdirSync(folder('hank')).filter((n) => /^p\d\.raw$/.test(n)).reduce((sum, n) => sum + statSync(join(folder('hank'), n)).size, 0);
    expect(QUOTA - 30 * MiB + stored).toBeLessThanOrEqual(QUOTA);
    await until('no part file left', () => hidden('hank').length === 0, 10_000, 20);
    rmSync(filler);
  });

  it('a fifth upload at once of one user is TOO_MANY_UPLOADS (429); the four go on', async () => {
    const ac = new AbortController();
    const four = [0, 1, 2, 3].map((i) => put('ivan', `s${i}.raw`, held(2 * MiB, MiB, new Promise((r) => ac.signal.addEventListener('abort', r))), { length: 2 * MiB, signal: ac.signal }).catch((e: unknown) => e));
    const settled: unknown[] = [];
    for (const f of four) void f.then((r) => settled.push(r));
    await until('four uploads running', () => (settled.length ? Promise.reject(new Error(JSON.stringify(settled))) : hidden('ivan').length === 4), 30_000, 20);
    const fifth = await put('ivan', 's4.raw', Buffer.from('x'));
    expect([fifth.status, fifth.body.code]).toEqual([429, 'TOO_MANY_UPLOADS']);
    // Another user is not held up by ivan's.
    expect((await put('judy', 'own.txt', Buffer.from('x'))).status).toBe(200);
    ac.abort();
    await Promise.all(four);
    await until('the part files removed', () => hidden('ivan').length === 0, 10_000, 20);
    expect((await put('ivan', 's4.raw', Buffer.from('x'))).status).toBe(200);
  });

  it('a client that stops sending is cut off after upload_idle_timeout: connection closed, part removed, UPLOAD_INCOMPLETE logged', async () => {
    const t0 = Date.now();
    const r = await put('judy', 'loris.raw', held(8 * MiB, MiB, never), { length: 8 * MiB }).catch((e: unknown) => e);
    const ms = Date.now() - t0;
    expect(r).toBeInstanceOf(Error); // the socket was destroyed: no answer to wait for
    expect(ms).toBeGreaterThanOrEqual(2900);
    await until('the part file removed', () => hidden('judy').length === 0, 10_000, 20);
    expect(existsSync(join(folder('judy'), 'loris.raw'))).toBe(false);
    await until('UPLOAD_INCOMPLETE logged', () => /upload idle: connection cut/.test(api.stderr()) && /UPLOAD_INCOMPLETE/.test(api.stderr()), 5_000, 20);
    console.log(`[file-upload] idle upload cut after ${ms} ms (upload_idle_timeout ${IDLE})`);
  });

  it('a JSON request whose body stalls is cut after api_body_timeout; an upload running longer than that is not', async () => {
    const t0 = Date.now();
    let go!: () => void;
    const upload = put('judy', 'slow.txt', held(2 * MiB, MiB, new Promise<void>((r) => (go = r)), 7), { length: 2 * MiB });
    await until('the upload running', () => hidden('judy').length === 1, 30_000, 20);
    const url = new URL(c.apiUrl);
    let answered = '';
    const sent = Date.now();
    const closedAt = await new Promise<number>((resolve) => {
      const s = connect({ host: '::1', port: Number(url.port) }, () => {
        s.write(`POST /v1/keys HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${tokens.judy}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"name":`);
      });
      s.on('data', (d: Buffer) => (answered += d.toString()));
      s.on('error', () => undefined); // the server's destroy may arrive as a reset
      s.on('close', () => resolve(Date.now()));
    });
    expect(closedAt - sent).toBeGreaterThanOrEqual(BODY_TIMEOUT_MS - 100);
    expect(answered).toBe('');
    go();
    const r = await upload;
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(Date.now() - t0).toBeGreaterThan(BODY_TIMEOUT_MS);
    console.log(`[file-upload] stalled JSON body cut after ${closedAt - sent} ms; the upload beside it took ${Date.now() - t0} ms and completed`);
  });

  it('part files left by a killed API are swept (at the next upload and by the filescanner); other names, owners and fresh ones stay', async () => {
    const old = (Date.now() - 3_600_000) / 1000;
    const stray = (user: string, name: string, uid?: number) => {
      mkdirSync(folder(user), { recursive: true });
      const p = join(folder(user), name);
      writeFileSync(p, Buffer.alloc(64 * 1024));
      if (uid !== undefined) chownSync(p, uid, uid);
      utimesSync(p, old, old);
      return p;
    };
    const dead = '.ucloud-upload-0123456789abcdef01234567.part';
    stray('kim', dead);
    stray('kim', '.ucloud-upload-not-ours.part'); // not the exact pattern
    stray('kim', '.ucloud-upload-aaaaaaaaaaaaaaaaaaaaaaaa.part', 1234); // not root's
    expect((await put('kim', 'next.txt', Buffer.from('x'))).status).toBe(200);
    expect(hidden('kim').sort()).toEqual(['.ucloud-upload-aaaaaaaaaaaaaaaaaaaaaaaa.part', '.ucloud-upload-not-ours.part']);
    // The filescanner's pass: a user who never uploads again.
    const p = stray('judy', '.ucloud-upload-fedcba9876543210fedcba98.part');
    await until('the filescanner swept it', () => !existsSync(p), 30_000);
    rmSync(join(folder('kim'), '.ucloud-upload-not-ours.part'));
    rmSync(join(folder('kim'), '.ucloud-upload-aaaaaaaaaaaaaaaaaaaaaaaa.part'));
  });

  it('the quota walk is bounded: a folder nested deeper than 32 is FOLDER_TOO_LARGE', async () => {
    let d = folder('kim');
    for (let i = 0; i < 34; i++) d = join(d, 'd');
    mkdirSync(d, { recursive: true });
    const r = await put('kim', 'deep.txt', Buffer.from('x'));
    expect([r.status, r.body.code]).toEqual([409, 'FOLDER_TOO_LARGE']);
    expect(hidden('kim')).toEqual([]);
    rmSync(join(folder('kim'), 'd'), { recursive: true });
  });

  it('`DELETE /v1/files/:name` and `ucloud file delete`: the file goes, then its record; symlinks are removed, never followed', async () => {
    const body = Buffer.from('delete me');
    expect((await put('kim', 'gone.txt', body)).status).toBe(200);
    await recorded('kim', 'gone.txt', sha512Of([body]));
    const del = await c.cli(['file', 'delete', 'gone.txt'], { UCLOUD_TOKEN: tokens.kim! });
    expect(del.code, del.stderr).toBe(0);
    expect(existsSync(join(folder('kim'), 'gone.txt'))).toBe(false);
    await until('its record dropped', async () => !((await c.client(tokens.kim).files.list()) as UserFile[]).some((f) => f.name === 'gone.txt'), 30_000);
    const again = await c.cli(['file', 'delete', 'gone.txt'], { UCLOUD_TOKEN: tokens.kim! });
    expect(again.code).toBe(3);
    expect(again.stderr).toContain('FILE_NOT_FOUND');
    const victim = join(c.dir, 'delete-victim.txt');
    writeFileSync(victim, 'keep');
    symlinkSync(victim, join(folder('kim'), 'link.txt'));
    const res = await fetch(`${c.apiUrl}/v1/files/link.txt`, { method: 'DELETE', headers: { authorization: `Bearer ${tokens.kim}` } });
    expect(res.status).toBe(204);
    expect(existsSync(join(folder('kim'), 'link.txt'))).toBe(false);
    expect(readFileSync(victim, 'utf8')).toBe('keep');
    for (const [path, code] of [[`/v1/files/${encodeURIComponent('../alice/big.raw')}`, 'INVALID_FILE_NAME'], ['/v1/files/.profile', 'INVALID_FILE_NAME']] as const) {
      const r = await fetch(`${c.apiUrl}${path}`, { method: 'DELETE', headers: { authorization: `Bearer ${tokens.kim}` } });
      expect(((await r.json()) as { code: string }).code, path).toBe(code);
    }
    expect(existsSync(join(folder('alice'), 'big.raw'))).toBe(true);
  });

  describe('disk full, in a private mount namespace over a small tmpfs', () => {
    let child: ChildProcess | undefined;
    let url = '';
    let files = '';
    /** The API's files_path as the API sees it (its own mount namespace). */
    const inside = (...p: string[]) => join(`/proc/${child!.pid}/root`, files, ...p);
    beforeAll(async () => {
      files = join(c.dir, 'files-tmpfs');
      mkdirSync(files);
      const port = await freePort('::1');
      url = `http://[::1]:${port}`;
      child = spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-c', `mount -t tmpfs -o size=48m,mode=755 ucloud-file-upload "${files}" && exec "$0" "$@"`, process.execPath, UCLOUD, 'api'], {
        env: { ...c.env, FILES_PATH: files, UCLOUD_API_LISTEN: `[::1]:${port}`, UCLOUD_UPLOAD_MAX_SIZE: `${MAX}`, UCLOUD_UPLOAD_IDLE_TIMEOUT: IDLE },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let err = '';
      await new Promise<void>((resolve, reject) => {
        child!.stderr!.on('data', (b: Buffer) => {
          err += b.toString();
          if (err.includes('api ready')) resolve();
        });
        child!.once('exit', (code) => reject(new Error(`tmpfs api exited (${code}):\n${err}`)));
      });
    });
    afterAll(async () => {
      if (child && child.exitCode === null) {
        child.kill('SIGTERM');
        await new Promise((r) => child!.once('exit', r));
      }
    });
    const partsInside = (user: string) => (existsSync(inside(user)) ? readdirSync(inside(user)).filter((n) => n.endsWith('.part')) : []);

    it('an announced length beyond free space (minus the reserve) is STORAGE_FULL (507) before anything is written', async () => {
      const r = await put('alice', 'big.raw', generated(64 * MiB, 20), { length: 64 * MiB, url });
      expect([r.status, r.body.code], JSON.stringify(r.body)).toEqual([507, 'STORAGE_FULL']);
      expect(partsInside('alice')).toEqual([]);
    });

    it('ENOSPC mid-stream is STORAGE_FULL (507); no part file stays, and the next small upload works', async () => {
      const r = await put('alice', 'big.raw', generated(64 * MiB, 21), { length: null, url });
      expect([r.status, r.body.code], JSON.stringify(r.body)).toEqual([507, 'STORAGE_FULL']);
      expect(r.body.message).toMatch(/ENOSPC/);
      expect(partsInside('alice')).toEqual([]);
      expect(existsSync(inside('alice', 'big.raw'))).toBe(false);
      const ok = await put('alice', 'small.txt', Buffer.from('fits'), { url });
      expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    });

    it('a files_path that does not exist is FILES_PATH_MISSING: the API never creates it', async () => {
      execFileSync('nsenter', ['-t', String(child!.pid), '-m', 'umount', files]);
      rmSync(files, { recursive: true });
      const r = await put('alice', 'x.txt', Buffer.from('x'), { url });
      expect([r.status, r.body.code], JSON.stringify(r.body)).toEqual([503, 'FILES_PATH_MISSING']);
      expect(existsSync(files)).toBe(false);
    });
  });
});
