import { Command, Option } from 'commander';
import type { User } from '../model/index.js';
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
  user.command('whoami')
    .description('the user your token belongs to')
    .action(async (_o: unknown, cmd: Command) => {
      const { client, output } = cliContext(cmd);
      const u = await client.users.whoami();
      printObject(u, output, [['name', u.name], ['role', u.role]]);
    });
  return user;
}
