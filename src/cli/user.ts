import { Command, Option } from 'commander';
import type { User } from '../model/index.js';
import { cliContext } from './context.js';
import { note, printList, printObject, type Column } from './output.js';
import { listed, pageOptions, type PageFlags } from './pages.js';

const COLUMNS: Column<User>[] = [
  { header: 'NAME', get: (u) => u.name },
  { header: 'ROLE', get: (u) => u.role },
  { header: 'CREATED', get: (u) => u.createdAt },
];

export function userCommand(): Command {
  const user = new Command('user').description('users and their API tokens (admin)');
  user.command('create <name>')
    .description('create a user and print their token (shown once; only its hash is stored)')
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
  pageOptions(user.command('list').description('list users')).action(async (o: PageFlags, cmd: Command) => {
    const { client, output } = cliContext(cmd);
    printList(await listed(o, client.users), COLUMNS, output);
  });
  user.command('whoami')
    .description('the user your token belongs to')
    .action(async (_o: unknown, cmd: Command) => {
      const { client, output } = cliContext(cmd);
      const u = await client.users.whoami();
      printObject(u, output, [['name', u.name], ['role', u.role]]);
    });
  return user;
}
