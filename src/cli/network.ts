import { Command } from 'commander';
import type { Network } from '../model/index.js';
import { cliContext } from './context.js';
import { note, printList, printObject, type Column } from './output.js';

const COLUMNS: Column<Network>[] = [
  { header: 'NAME', get: (n) => n.name },
  { header: 'PREFIX', get: (n) => n.prefix },
  { header: 'VNI', get: (n) => n.vni },
];

export function networkCommand(): Command {
  const net = new Command('network').description('your IPv6 networks: each its own VXLAN segment and /64');
  net.command('create <name>')
    .description('create a network (a VNI and a /64 are allocated for it)')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const { client, output } = cliContext(cmd);
      const n = await client.networks.create(name);
      printObject(n, output, [['name', n.name], ['prefix', n.prefix], ['vni', n.vni]]);
    });
  net.command('list')
    .description('list your networks')
    .action(async (_o: unknown, cmd: Command) => {
      const { client, output } = cliContext(cmd);
      printList(await client.networks.list(), COLUMNS, output);
    });
  net.command('show <name>')
    .description('show a network')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const { client, output } = cliContext(cmd);
      const n = await client.networks.get(name);
      printObject(n, output, [['name', n.name], ['prefix', n.prefix], ['vni', n.vni], ['created', n.createdAt]]);
    });
  net.command('delete <name>')
    .description('delete a network (refused while VMs use it)')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const { client } = cliContext(cmd);
      await client.networks.delete(name);
      note(`${name}: deleted`);
    });
  return net;
}
