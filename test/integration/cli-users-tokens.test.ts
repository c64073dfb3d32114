import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster } from '../helpers/cluster.js';

describe('ucloud user / token / user totp through the CLI (real API)', () => {
  let c: TestCluster;

  beforeAll(async () => {
    c = await TestCluster.start();
    await c.bootstrap();
    await c.spawn('api').ready;
  }, 120_000);
  afterAll(async () => {
    await c?.stop();
  });

  const ok = async (args: string[], env: Record<string, string> = {}) => {
    const r = await c.cli(args, env);
    expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
    return r;
  };

  it('creates, lists and revokes tokens; disables, enables and deletes a user; prints an otpauth URI once', async () => {
    const kim = (await ok(['user', 'create', 'kim'])).stdout.trim();
    const as = { UCLOUD_TOKEN: kim };
    const made = await ok(['token', 'create', 'ci', '--expires', '30d'], as);
    const ci = made.stdout.trim();
    expect(ci).toMatch(/^uc_/);
    expect(made.stderr).toContain('expires');
    const listed = JSON.parse((await ok(['token', 'list', '-o', 'json'], as)).stdout) as { id: string; name: string; expiresAt?: string }[];
    expect(listed.map((t) => t.name)).toEqual(['first', 'ci']);
    const table = (await ok(['token', 'list'], as)).stdout;
    expect(table).toMatch(/^ID\s+NAME\s+CREATED\s+EXPIRES/);
    expect(table).not.toContain(ci);
    expect((await ok(['token', 'list', '--user', 'kim', '-o', 'json'])).stdout).toContain('"ci"');
    await ok(['token', 'revoke', listed[1]!.id], as);
    const gone = await c.cli(['user', 'whoami'], { UCLOUD_TOKEN: ci });
    expect(gone.code).not.toBe(0);
    expect(gone.stderr).toContain('UNAUTHENTICATED');

    await ok(['user', 'disable', 'kim']);
    expect((await ok(['user', 'list'])).stdout).toMatch(/kim\s+user\s+disabled/);
    const off = await c.cli(['user', 'whoami'], as);
    expect(off.stderr).toContain('USER_DISABLED');
    await ok(['user', 'enable', 'kim']);
    expect((await ok(['user', 'whoami'], as)).stdout).toContain('kim');

    const uri = (await ok(['user', 'totp', 'enable'], as)).stdout.trim();
    expect(uri).toMatch(/^otpauth:\/\/totp\/ucloud:kim\?secret=[A-Z2-7]+&issuer=ucloud/);
    expect(JSON.parse((await ok(['user', 'totp', 'status', '-o', 'json'], as)).stdout)).toEqual({ enabled: false, pending: true });

    await ok(['user', 'delete', 'kim']);
    expect((await c.cli(['user', 'whoami'], as)).stderr).toContain('UNAUTHENTICATED');
  });
});
