import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { readCliConfig, writeCliConfig } from '../../src/common/cli-config.js';
import type { Config } from '../../src/common/config.js';
import { EXIT_CODES } from '../../src/common/errors.js';
import { silentLogger } from '../../src/common/logger.js';
import { ensureAdminAndCliConfig } from '../../src/up/bootstrap.js';
import { TestCluster, UCLOUD, until, type CliResult, type Daemon } from '../helpers/cluster.js';
import { freePort } from '../helpers/ports.js';

// What a user of the CLI relies on, against a real API process on real etcd:
// the three output formats carry the API's objects, exit codes follow the
// catalogue, what others named cannot drive the terminal, completion loads in
// a real bash, and profiles reach the cloud they name.
// eslint-disable-next-line no-control-regex -- finding raw control characters is the point
const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;
const EVIL = 'evil\x1b[31mred\nline.qcow2';

function bash(script: string, env: NodeJS.ProcessEnv): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile('bash', ['-c', script], { env }, (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}

describe('the CLI against a real API: output formats, exit codes, escaping, completion, profiles', () => {
  let c: TestCluster;
  let api2: Daemon;
  let api2Url = '';
  const tokens: Record<string, string> = {};
  const as = (user: string, env: NodeJS.ProcessEnv = {}) => ({ UCLOUD_TOKEN: tokens[user]!, ...env });

  beforeAll(async () => {
    c = await TestCluster.start();
    await c.bootstrap({ guestImage: c.tinyImage() });
    const m = c.managers();
    for (const u of ['alice', 'bob']) tokens[u] = (await m.users.create(u, 'user')).token;
    tokens.admin = c.adminToken;
    mkdirSync(join(c.filesPath, 'alice'), { recursive: true });
    writeFileSync(join(c.filesPath, 'alice', EVIL), 'not an image');
    const port2 = await freePort('::1');
    api2Url = `http://[::1]:${port2}`;
    api2 = c.spawn('api', { UCLOUD_API_LISTEN: `[::1]:${port2}` });
    await Promise.all([c.spawn('api').ready, api2.ready, c.spawn('filescanner').ready]);
    const alice = c.client(tokens.alice);
    await alice.vms.create({ name: 'web1', image: 'ucloud-test', cpu: 1, ram: '256MiB', disk: '1GiB' });
    await alice.vms.create({ name: 'web2', image: 'ucloud-test', cpu: 2, ram: '512MiB', disk: '1GiB' });
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'alice@laptop', '-f', join(c.dir, 'alice-key')]);
    await alice.keys.add('laptop', readFileSync(join(c.dir, 'alice-key.pub'), 'utf8').trim());
    await until('the file recorded', async () => (await alice.files.list()).length > 0);
  }, 120_000);
  afterAll(async () => {
    await c?.stop();
  });

  describe('output formats', () => {
    it('vm list: json and yaml are the API objects; the table has one row per VM', async () => {
      const [json, yaml, table] = await Promise.all(['json', 'yaml', 'table'].map((f) => c.cli(['vm', 'list', '-o', f], as('alice'))));
      const api = await c.client(tokens.alice).vms.list();
      for (const r of [json!, yaml!, table!]) expect(r.code, r.stderr).toBe(0);
      expect(api.map((v) => v.name)).toEqual(['web1', 'web2']);
      expect(JSON.parse(json!.stdout)).toEqual(api);
      expect(parseYaml(yaml!.stdout)).toEqual(api);
      const lines = table!.stdout.split('\n');
      expect(lines[0]).toMatch(/^NAME +STATUS +HOST +CPU +RAM +DISK +IMAGE +OWNER$/);
      expect(lines.slice(1, 3).map((l) => l.split(/ +/))).toEqual([
        ['web1', 'pending', '-', '1', '256MiB', '1GiB', 'admin/ucloud-test', 'alice'],
        ['web2', 'pending', '-', '2', '512MiB', '1GiB', 'admin/ucloud-test', 'alice'],
      ]);
      expect(lines.slice(3)).toEqual(['']); // ends with its newline, nothing after
    });

    it('key list and user whoami: json and yaml are the API objects; the table and the details name them', async () => {
      const alice = c.client(tokens.alice);
      const keys = await alice.keys.list();
      const me = await alice.users.whoami();
      for (const [args, api] of [
        [['key', 'list'], keys],
        [['user', 'whoami'], me],
      ] as const) {
        const json = await c.cli([...args, '-o', 'json'], as('alice'));
        const yaml = await c.cli([...args, '--output', 'yaml'], as('alice'));
        expect(JSON.parse(json.stdout)).toEqual(api);
        expect(parseYaml(yaml.stdout)).toEqual(api);
      }
      const keyTable = await c.cli(['key', 'list'], as('alice'));
      expect(keyTable.stdout).toBe(`NAME    TYPE         BITS  FINGERPRINT\nlaptop  ssh-ed25519  256   ${keys[0]!.fingerprint}\n`);
      const who = await c.cli(['user', 'whoami'], as('alice'));
      expect(who.stdout).toBe('name: alice\nrole: user\n');
    });

    it('an empty list: the table is its header line ending in a newline, json [] and yaml []', async () => {
      const table = await c.cli(['vm', 'list'], as('bob'));
      expect(table.stdout).toBe('NAME  STATUS  HOST  CPU  RAM  DISK  IMAGE  OWNER\n');
      expect((await c.cli(['key', 'list'], as('bob'))).stdout).toBe('NAME  TYPE  BITS  FINGERPRINT\n');
      expect((await c.cli(['vm', 'list', '-o', 'json'], as('bob'))).stdout).toBe('[]\n');
      expect(parseYaml((await c.cli(['vm', 'list', '-o', 'yaml'], as('bob'))).stdout)).toEqual([]);
    });

    it('an ESC[31m and a newline in a name are escaped in table and yaml; json keeps them exact', async () => {
      const table = await c.cli(['file', 'list'], as('alice'));
      expect(table.code, table.stderr).toBe(0);
      expect(table.stdout).not.toMatch(RAW_CONTROL);
      expect(table.stdout.split('\n')).toHaveLength(3); // header, one row, the final newline: the name's \n broke no line
      expect(table.stdout.split('\n')[1]).toMatch(/^evil\\x1b\[31mred\\x0aline\.qcow2 +12B +[0-9a-f]{128} /);
      const yaml = await c.cli(['file', 'list', '-o', 'yaml'], as('alice'));
      expect(yaml.stdout).not.toMatch(RAW_CONTROL);
      expect(yaml.stdout).toContain('evil\\x1b[31mred\\x0aline.qcow2');
      const json = await c.cli(['file', 'list', '-o', 'json'], as('alice'));
      expect((JSON.parse(json.stdout) as { name: string }[])[0]!.name).toBe(EVIL);
    });
  });

  describe('exit codes follow the catalogue', () => {
    it('not found, usage, unauthenticated, API unreachable, conflict', async () => {
      const unused = `http://[::1]:${await freePort('::1')}`;
      const cases: [string, string[], NodeJS.ProcessEnv, number, string][] = [
        ['not found', ['vm', 'show', 'nosuch'], as('alice'), EXIT_CODES.not_found, 'error: VM_NOT_FOUND:'],
        ['unknown verb', ['vm', 'frobnicate'], as('alice'), EXIT_CODES.usage, "unknown command 'frobnicate'"],
        ['missing option', ['vm', 'create', 'x'], as('alice'), EXIT_CODES.usage, "required option '--image <image>' not specified"],
        ['bad --output', ['vm', 'list', '-o', 'xml'], as('alice'), EXIT_CODES.usage, "argument 'xml' is invalid"],
        ['bad token', ['vm', 'list'], { UCLOUD_TOKEN: 'uc_nobody' }, EXIT_CODES.unauthenticated, 'error: UNAUTHENTICATED:'],
        ['API unreachable', ['vm', 'list'], as('alice', { UCLOUD_URL: unused }), EXIT_CODES.unavailable, 'error: API_UNREACHABLE:'],
        ['name taken', ['key', 'add', 'laptop', '--file', join(c.dir, 'alice-key.pub')], as('alice'), EXIT_CODES.conflict, 'error: KEY_EXISTS:'],
        ['no such profile', ['--profile', 'nosuch', 'vm', 'list'], {}, EXIT_CODES.not_found, 'error: PROFILE_NOT_FOUND:'],
      ];
      for (const [what, args, env, code, text] of cases) {
        const r = await c.cli(args, env);
        expect(r.code, `${what}: ${r.stderr}`).toBe(code);
        expect(r.stderr, what).toContain(text);
        expect(r.stdout, what).toBe('');
        expect(r.stderr, what).not.toMatch(/\n\s+at /); // never a stack trace
      }
    });

    it("commander's own errors quote what was typed escaped", async () => {
      const r = await c.cli(['vm', 'fr\x1b[2Job'], as('alice'));
      expect(r.code).toBe(EXIT_CODES.usage);
      expect(r.stderr).toContain("unknown command 'fr\\x1b[2Job'");
      expect(r.stderr).not.toMatch(RAW_CONTROL);
    });
  });

  describe('completion', () => {
    const complete = async (words: string[]) => {
      const script = `source <("${process.execPath}" "${UCLOUD}" completion bash) || exit 9
COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}
_ucloud_complete; printf '%s\\n' "\${COMPREPLY[@]}"`;
      const r = await bash(script, c.env);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toBe('');
      return r.stdout.split('\n').filter(Boolean);
    };

    it('the bash script loads and completes nouns, verbs, options and --output values from the command tree', async () => {
      expect(await complete(['ucloud', 'v'])).toEqual(['vm']);
      expect(await complete(['ucloud', 'vm', ''])).toEqual(['create', 'list', 'show', 'status', 'start', 'stop', 'reboot', 'set', 'resize', 'migrate', 'recover', 'console', 'console-log', 'stats', 'delete']);
      expect(await complete(['ucloud', 'vm', 'list', '--o'])).toEqual(['--owner', '--output']);
      expect(await complete(['ucloud', 'vm', 'list', '--output', ''])).toEqual(['table', 'json', 'yaml']);
      expect(await complete(['ucloud', '-o', 'json', 'profile', ''])).toEqual(['list', 'use', 'add', 'remove']);
      expect(await complete(['ucloud', 'user', 'create', 'x', '--role', ''])).toEqual(['user', 'admin']);
      expect(await complete(['ucloud', 'completion', ''])).toEqual(['bash', 'zsh', 'fish']);
    });

    it('zsh and fish scripts are valid for their shells where installed; an unknown shell is a usage error', async () => {
      for (const shell of ['zsh', 'fish']) {
        const r = await c.cli(['completion', shell]);
        expect(r.code, r.stderr).toBe(0);
        const file = join(c.dir, `completion.${shell}`);
        writeFileSync(file, r.stdout);
        const check = await bash(`command -v ${shell} >/dev/null || exit 0; ${shell} -n ${file}`, c.env);
        expect(check.code, check.stderr).toBe(0);
      }
      expect((await c.cli(['completion', 'tcsh'])).code).toBe(EXIT_CODES.usage);
    });
  });

  describe('profiles', () => {
    const config = () => join(c.dir, 'profiles.json');
    const inProfiles = (env: NodeJS.ProcessEnv = {}) => ({ UCLOUD_CLI_CONFIG: config(), ...env });

    it('the flat {url, token} file of before reads as profile "default"', async () => {
      const r = await c.cli(['user', 'whoami', '-o', 'json']);
      expect(JSON.parse(r.stdout)).toMatchObject({ name: 'admin' });
      expect((await c.cli(['profile', 'list'])).stdout).toBe(`CURRENT  NAME     ${'URL'.padEnd(c.apiUrl.length)}  TOKEN\n*        default  ${c.apiUrl}  set\n`);
    });

    it('add, use, --profile and UCLOUD_PROFILE switch between two APIs and tokens; UCLOUD_URL/UCLOUD_TOKEN still win', async () => {
      const add1 = await c.cli(['profile', 'add', 'one', '--url', c.apiUrl, '--token', tokens.alice!], inProfiles());
      expect(add1.code, add1.stderr).toBe(0);
      // The token from standard input, as `pass show … | ucloud profile add` gives it.
      const add2 = await bash(`printf '%s\\n' "$T" | "${process.execPath}" "${UCLOUD}" profile add two --url ${api2Url}`, { ...c.env, ...inProfiles(), T: tokens.bob });
      expect(add2.code, add2.stderr).toBe(0);
      const whoami = async (args: string[], env: NodeJS.ProcessEnv = {}) => {
        const r = await c.cli([...args, 'user', 'whoami', '-o', 'json'], inProfiles(env));
        expect(r.code, r.stderr).toBe(0);
        return (JSON.parse(r.stdout) as { name: string }).name;
      };
      expect(await whoami([])).toBe('alice'); // the first added is current
      expect(await whoami(['--profile', 'two'])).toBe('bob');
      expect(await whoami([], { UCLOUD_PROFILE: 'two' })).toBe('bob');
      expect(await whoami(['--profile', 'one'], { UCLOUD_PROFILE: 'two' })).toBe('alice');
      expect(await whoami(['--profile', 'two'], { UCLOUD_TOKEN: tokens.admin })).toBe('admin');
      expect((await c.cli(['profile', 'use', 'two'], inProfiles())).code).toBe(0);
      expect(await whoami([])).toBe('bob');
      const list = await c.cli(['profile', 'list', '-o', 'json'], inProfiles());
      expect(JSON.parse(list.stdout)).toEqual([
        { name: 'one', url: c.apiUrl, current: false, token: true },
        { name: 'two', url: api2Url, current: true, token: true },
      ]);
      expect(list.stdout).not.toContain(tokens.bob); // tokens are never printed
      const file = readCliConfig(config());
      expect(file).toEqual({ current: 'two', profiles: { one: { url: c.apiUrl, token: tokens.alice }, two: { url: api2Url, token: tokens.bob } } });
      // Profile "two" is the second API: with it stopped, only that profile is unreachable.
      await api2.stop();
      expect((await c.cli(['vm', 'list'], inProfiles())).code).toBe(EXIT_CODES.unavailable);
      expect(await whoami(['--profile', 'one'])).toBe('alice');
      expect((await c.cli(['profile', 'remove', 'two'], inProfiles())).code).toBe(0);
      expect(readCliConfig(config())).toEqual({ profiles: { one: { url: c.apiUrl, token: tokens.alice } } });
      expect((await c.cli(['profile', 'use', 'two'], inProfiles())).code).toBe(EXIT_CODES.not_found);
      expect((await c.cli(['profile', 'add', 'x', '--url', 'ftp://nope', '--no-token'], inProfiles())).code).toBe(EXIT_CODES.usage);
    });

    it('`ucloud up` writes its own profile "local" and leaves the others, and the one chosen, alone', async () => {
      const file = join(c.dir, 'up-profiles.json');
      const upConfig = { apiListen: { host: '::1', port: 7777 }, hostName: 'hv1', stateDir: mkdtempSync(join(c.dir, 'up-state-')) } as Config;
      const upUrl = 'http://[::1]:7777';
      const env = process.env.UCLOUD_CLI_CONFIG;
      process.env.UCLOUD_CLI_CONFIG = file;
      try {
        // A file from before profiles, of this very cloud: it becomes "local", its valid token kept.
        writeFileSync(file, JSON.stringify({ url: upUrl, token: tokens.admin }));
        await ensureAdminAndCliConfig(upConfig, c.store, silentLogger);
        expect(readCliConfig(file)).toEqual({ current: 'local', profiles: { local: { url: upUrl, token: tokens.admin } } });
        // Another cloud chosen meanwhile stays chosen and untouched.
        const prod = { url: 'https://api.example.net', token: 'uc_prod' };
        writeCliConfig({ current: 'prod', profiles: { prod, local: { url: upUrl, token: 'uc_stale' } } }, file);
        await ensureAdminAndCliConfig(upConfig, c.store, silentLogger);
        const after = readCliConfig(file);
        expect(after.current).toBe('prod');
        expect(after.profiles.prod).toEqual(prod);
        expect(after.profiles.local!.url).toBe(upUrl);
        expect(after.profiles.local!.token).toMatch(/^uc_/);
        expect(after.profiles.local!.token).not.toBe('uc_stale'); // an invalid token is replaced by a fresh one
        expect((await c.client(after.profiles.local!.token).users.whoami()).name).toBe('admin');
      } finally {
        if (env === undefined) delete process.env.UCLOUD_CLI_CONFIG;
        else process.env.UCLOUD_CLI_CONFIG = env;
      }
    });
  });
});
