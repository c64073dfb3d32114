import { Command, Option } from 'commander';
import { formatSize } from '../common/units.js';
import type { QuotaSetRequest, QuotaView, User } from '../model/index.js';
import { cliContext } from './context.js';
import { note, printList, printObject, type Column } from './output.js';
import { listed, pageOptions, type PageFlags } from './pages.js';

const COLUMNS: Column<User>[] = [
  { header: 'NAME', get: (u) => u.name },
  { header: 'ROLE', get: (u) => u.role },
  { header: 'STATE', get: (u) => (u.disabled ? 'disabled' : 'enabled') },
  { header: 'CREATED', get: (u) => u.createdAt },
];

export function userCommand(): Command {
  const user = new Command('user').description('users (admin) and who you are');
  user.command('create <name>')
    .description('create a user and print their first token (shown once; only its hash is stored)')
    .addOption(new Option('--role <role>', 'user or admin').choices(['user', 'admin']).default('user'))
    .addHelpText('after', '\nExample:\n  ucloud user create alice\n  UCLOUD_TOKEN=<the token> ucloud vm list')
    .action(async (name: string, o: { role: 'user' | 'admin' }, cmd: Command) => {
      const { client, output } = cliContext(cmd);
      const res = await client.users.create(name, o.role);
      if (output === 'table') {
        note(`user ${res.user.name} created; the token below is shown once:`);
        process.stdout.write(`${res.token}\n`);
      } else printObject(res, output);
    });
  pageOptions(user.command('list').description('list users (admin)')).action(async (o: PageFlags, cmd: Command) => {
    const { client, output } = cliContext(cmd);
    printList(await listed(o, client.users), COLUMNS, output);
  });
  const LINES = ['vms', 'vcpus', 'ram', 'disk', 'networks', 'images', 'files', 'rate'] as const;
  const SIZES = new Set<string>(['ram', 'disk', 'files']);
  const show = (k: string, v: number | 'unlimited' | undefined) => (v === undefined || v === 'unlimited' || !SIZES.has(k) ? v : formatSize(v));
  user.command('quota <name>')
    .description("show a user's quotas and usage (yours: your own name); with flags, change them (admin)")
    .option('--vms <n>', 'VMs')
    .option('--vcpus <n>', 'vCPUs of all their VMs together')
    .option('--ram <size>', 'RAM of all their VMs together, e.g. 64GiB')
    .option('--disk <size>', 'disk of all their VMs together (OS disks and hdds), e.g. 2TiB')
    .option('--networks <n>', 'networks')
    .option('--images <n>', 'images')
    .option('--files <size>', "bytes in their folder under files_path")
    .option('--rate <n>', 'API requests a minute')
    .addHelpText(
      'after',
      '\nEach value is a number (sizes for --ram, --disk, --files), "unlimited", or "default" for the cluster\'s\n(quota_* and rate_limit_per_minute in the configuration).\n\nExamples:\n  ucloud user quota alice\n  ucloud user quota alice --vms 10 --ram 64GiB --disk 1TiB\n  ucloud user quota alice --rate unlimited --vms default',
    )
    .action(async (name: string, o: Partial<Record<(typeof LINES)[number], string>>, cmd: Command) => {
      const { client, output } = cliContext(cmd);
      const changes: QuotaSetRequest = {};
      for (const k of LINES) if (o[k] !== undefined) changes[k] = o[k] === 'default' ? null : o[k];
      const view: QuotaView = Object.keys(changes).length ? await client.users.setQuota(name, changes) : await client.users.quota(name);
      const rows = LINES.map((k) => ({ quota: k, ...view[k] }));
      if (output !== 'table') return printObject(view, output);
      printList(rows, [
        { header: 'QUOTA', get: (r) => r.quota },
        { header: 'LIMIT', get: (r) => show(r.quota, r.limit) },
        { header: 'USED', get: (r) => show(r.quota, r.used) },
        { header: 'SOURCE', get: (r) => r.source },
      ], output);
    });
  for (const [verb, disabled, what] of [['disable', true, 'refuse every token of a user (their VMs and other objects stay)'], ['enable', false, 'let a disabled user in again']] as const) {
    user.command(`${verb} <name>`)
      .description(`${what} (admin)`)
      .addHelpText('after', `\nExample:\n  ucloud user ${verb} alice`)
      .action(async (name: string, _o: unknown, cmd: Command) => {
        const { client, output } = cliContext(cmd);
        const u = await client.users.setDisabled(name, disabled);
        printObject(u, output, [['name', u.name], ['state', u.disabled ? 'disabled' : 'enabled']]);
      });
  }
  user.command('delete <name>')
    .description('delete a user with their tokens and SSH keys (admin); refused (USER_HAS_RESOURCES) while they own VMs, networks, images or files')
    .addHelpText('after', '\nExample:\n  ucloud user disable alice   # first, so nothing new appears meanwhile\n  ucloud user delete alice')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const { client } = cliContext(cmd);
      await client.users.delete(name);
      note(`user ${name} deleted`);
    });
  user.addCommand(totpCommand());
  user.command('whoami')
    .description('the user your token belongs to')
    .action(async (_o: unknown, cmd: Command) => {
      const { client, output } = cliContext(cmd);
      const u = await client.users.whoami();
      printObject(u, output, [['name', u.name], ['role', u.role]]);
    });
  return user;
}

/** `ucloud user totp …`: the caller's second factor for making tokens. */
function totpCommand(): Command {
  const totp = new Command('totp').description('a second factor (TOTP, RFC 6238) that `ucloud token create` then asks for');
  totp.command('enable')
    .description('make a TOTP secret and print its otpauth:// URI (shown once); then confirm with a first code')
    .addHelpText('after', "\nExample:\n  ucloud user totp enable                 # scan or paste the URI into an authenticator app\n  ucloud user totp enable | qrencode -t ansiutf8   # or show it as a QR code\n  ucloud user totp confirm 123456         # the code it shows: now token create needs one")
    .action(async (_o: unknown, cmd: Command) => {
      const { client, output } = cliContext(cmd);
      const res = await client.totp.enable();
      if (output === 'table') {
        note('add this to your authenticator app (shown once), then run `ucloud user totp confirm CODE`:');
        process.stdout.write(`${res.otpauthUri}\n`);
      } else printObject(res, output);
    });
  totp.command('confirm <code>')
    .description('turn the second factor on with the code the authenticator shows')
    .action(async (code: string, _o: unknown, cmd: Command) => {
      const { client } = cliContext(cmd);
      await client.totp.confirm(code);
      note('second factor on: `ucloud token create NAME --totp CODE` from now on');
    });
  totp.command('disable')
    .description('turn the second factor off: yours with a current code, or (admin) another user\'s')
    .option('--totp <code>', 'the code your authenticator shows now')
    .option('--user <name>', "another user's, e.g. a lost phone (admin; no code)")
    .addHelpText('after', '\nExample:\n  ucloud user totp disable --totp 123456\n  ucloud user totp disable --user alice')
    .action(async (o: { totp?: string; user?: string }, cmd: Command) => {
      const { client } = cliContext(cmd);
      await client.totp.disable(o);
      note('second factor off');
    });
  totp.command('status')
    .description('whether your second factor is on (or started and not confirmed)')
    .action(async (_o: unknown, cmd: Command) => {
      const { client, output } = cliContext(cmd);
      const s = await client.totp.status();
      printObject(s, output, [['enabled', String(s.enabled)], ['pending', String(s.pending)]]);
    });
  return totp;
}
