import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { safeText } from '../../src/cli/output.js';
import type { Image, UserFile } from '../../src/model/index.js';
import { TestCluster, until } from '../helpers/cluster.js';

// A file name is the one string a user fully controls that others see: a public
// image shows the file it was made from. Escape sequences in it must reach
// another user's terminal (and the admin's) as visible text, never as control.
const EVIL = 'x\x1b]0;pwned\x07\x1b[2J\x1b[1A\u009b31m\x7f\u202egpj.qcow2';
/** Every byte that would drive a terminal (or reorder text) if printed raw. */
// eslint-disable-next-line no-control-regex -- finding raw control characters is the point
const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e]/;

describe('control characters in user-supplied strings are escaped on CLI output (real API, filescanner, CLI)', () => {
  let c: TestCluster;
  const tokens: Record<string, string> = {};
  const as = (user: string) => ({ UCLOUD_TOKEN: tokens[user]! });

  beforeAll(async () => {
    c = await TestCluster.start();
    await c.bootstrap();
    const m = c.managers();
    for (const u of ['alice', 'bob']) tokens[u] = (await m.users.create(u, 'user')).token;
    tokens.admin = c.adminToken;
    mkdirSync(join(c.filesPath, 'bob'), { recursive: true });
    writeFileSync(join(c.filesPath, 'bob', EVIL), 'not really an image');
    await Promise.all([c.spawn('api').ready, c.spawn('filescanner').ready]);
    const file = await until('the file recorded', async () => (await c.client(tokens.bob).files.list())[0]);
    expect(file.name).toBe(EVIL);
    // The name is refused as a reference (control characters), so bob names it by id.
    const img = await c.client(tokens.bob).images.create({ name: 'shiny', file: file.id, store: 'local', public: true });
    expect(img.source?.name).toBe(EVIL);
  }, 120_000);
  afterAll(async () => {
    await c?.stop();
  });

  it('escapes C0, C1, DEL and bidi overrides as visible \\x and \\u escapes', () => {
    expect(safeText('a\x1b[2Jb\u009bc\x7fd\u202ee\n\tf')).toBe('a\\x1b[2Jb\\x9bc\\x7fd\\u202ee\\x0a\\x09f');
    expect(safeText('plain ñ 日本 😀')).toBe('plain ñ 日本 😀');
  });

  for (const viewer of ['alice', 'admin', 'bob']) {
    it(`${viewer} sees the name escaped in table, yaml and json output`, async () => {
      const ref = viewer === 'bob' ? 'shiny' : 'bob/shiny';
      for (const format of ['table', 'yaml', 'json']) {
        const r = await c.cli(['image', 'show', ref, '-o', format], as(viewer));
        expect(r.code, r.stderr).toBe(0);
        expect(r.stdout, `${viewer} ${format}`).not.toMatch(RAW_CONTROL);
        if (format === 'json') expect((JSON.parse(r.stdout) as Image).source?.name).toBe(EVIL); // data stays exact
        else expect(r.stdout).toContain('x\\x1b]0;pwned\\x07\\x1b[2J\\x1b[1A\\x9b31m\\x7f\\u202egpj.qcow2');
      }
    });
  }

  it('the owner sees it escaped in `file list` too, and error messages are escaped', async () => {
    for (const format of ['table', 'yaml', 'json']) {
      const r = await c.cli(['file', 'list', '-o', format], as('bob'));
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).not.toMatch(RAW_CONTROL);
      if (format === 'json') expect((JSON.parse(r.stdout) as UserFile[])[0]!.name).toBe(EVIL);
    }
    const r = await c.cli(['image', 'create', 'other', '--from-file', 'no\x1b[2Jsuch', '--store', 'local'], as('bob'));
    expect(r.code).not.toBe(0);
    expect(r.stderr).not.toMatch(RAW_CONTROL);
  });
});
