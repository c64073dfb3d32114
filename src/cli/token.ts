import { Command } from 'commander';
import type { TokenInfo } from '../model/index.js';
import { cliContext } from './context.js';
import { note, printList, printObject, type Column } from './output.js';
import { listed, pageOptions, type PageFlags } from './pages.js';

const COLUMNS: Column<TokenInfo>[] = [
  { header: 'ID', get: (t) => t.id },
  { header: 'NAME', get: (t) => t.name ?? `(${t.description || 'unnamed'})` },
  { header: 'CREATED', get: (t) => t.createdAt },
  { header: 'EXPIRES', get: (t) => t.expiresAt ?? 'never' },
];

export function tokenCommand(): Command {
  const token = new Command('token').description('your API tokens: list, create, revoke');
  pageOptions(token.command('list').description('list your tokens (ids, names, expiry; never the secret)'))
    .option('--user <name>', "another user's tokens (admin)")
    .addHelpText('after', '\nExample:\n  ucloud token list\n  ucloud token list --user alice --output json')
    .action(async (o: PageFlags & { user?: string }, cmd: Command) => {
      const { client, output } = cliContext(cmd);
      const lister = { list: () => client.tokens.list(o.user), page: (p: PageFlags) => client.tokens.page(p, o.user) };
      printList(await listed(o, lister), COLUMNS, output);
    });
  token.command('create <name>')
    .description('make a new token for yourself and print it (shown once; only its hash is stored)')
    .option('--expires <duration>', 'it stops working after this long, e.g. 30d, 12h, 90m (default: never)')
    .option('--totp <code>', 'your authenticator\'s current code, once you enabled a second factor (`ucloud user totp enable`)')
    .addHelpText('after', '\nExample:\n  ucloud token create ci --expires 30d\n  ucloud token create laptop --totp 123456\n  UCLOUD_TOKEN=<the token> ucloud vm list')
    .action(async (name: string, o: { expires?: string; totp?: string }, cmd: Command) => {
      const { client, output } = cliContext(cmd);
      const res = await client.tokens.create(name, { ...(o.expires ? { expiresIn: o.expires } : {}), ...(o.totp ? { totp: o.totp } : {}) });
      if (output === 'table') {
        note(`token ${res.info.name} (${res.info.id}) created${res.info.expiresAt ? `, expires ${res.info.expiresAt}` : ''}; it is shown once:`);
        process.stdout.write(`${res.token}\n`);
      } else printObject(res, output);
    });
  token.command('revoke <id>')
    .description('revoke a token at once (its id from `ucloud token list`)')
    .option('--user <name>', "another user's token (admin)")
    .addHelpText('after', '\nExample:\n  ucloud token revoke 3f9c0a1b2c4d')
    .action(async (id: string, o: { user?: string }, cmd: Command) => {
      const { client } = cliContext(cmd);
      await client.tokens.revoke(id, o.user);
      note(`token ${id} revoked`);
    });
  return token;
}
