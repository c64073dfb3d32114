import { Command } from 'commander';
import { UcloudError } from '../common/errors.js';
import type { Network } from '../model/index.js';
import { cliContext } from './context.js';
import { note, printList, printObject, type Column } from './output.js';
import { listed, pageOptions, type PageFlags } from './pages.js';

const COLUMNS: Column<Network>[] = [
  { header: 'NAME', get: (n) => n.name },
  { header: 'PREFIX', get: (n) => n.prefix },
  { header: 'VNI', get: (n) => n.vni },
  { header: 'DNS', get: dns },
  { header: 'ROUTED', get: (n) => (n.routed ? 'yes' : 'no') },
];

/** A network's resolvers as shown: its own, or the cluster's (dns_resolvers, which only the operator sees). */
function dns(n: Network): string {
  if (!n.resolvers) return 'default';
  return n.resolvers.join(' ') || 'none';
}

export function networkCommand(): Command {
  const net = new Command('network').description('your IPv6 networks: each its own VXLAN segment and /64');
  net.command('create <name>')
    .description('create a network (a VNI and a /64 are allocated for it)')
    .option('--dns <ipv6>', "a DNS resolver its VMs use (repeatable, at most 3; fixed at create; default: the cluster's dns_resolvers)", (v: string, prev: string[] = []) => [...prev, v])
    .option('--routed', "routed: its VMs get a default route and are reachable from outside (needs the cluster's route_mode static or bgp; default: network_routed_default)")
    .option('--isolated', 'isolated: its VMs reach only each other and the metadata server')
    .action(async (name: string, o: { dns?: string[]; routed?: boolean; isolated?: boolean }, cmd: Command) => {
      const { client, output } = cliContext(cmd);
      if (o.routed && o.isolated) throw new UcloudError('VALIDATION_FAILED', '--routed and --isolated exclude each other');
      const routed = o.routed ? { routed: true } : o.isolated ? { routed: false } : {};
      const n = await client.networks.create(name, { ...(o.dns ? { resolvers: o.dns } : {}), ...routed });
      printObject(n, output, [['name', n.name], ['prefix', n.prefix], ['vni', n.vni], ['dns', dns(n)], ['routed', n.routed ? 'yes' : 'no']]);
    });
  pageOptions(net.command('list').description('list your networks')).action(async (o: PageFlags, cmd: Command) => {
    const { client, output } = cliContext(cmd);
    printList(await listed(o, client.networks), COLUMNS, output);
  });
  net.command('show <name>')
    .description("show a network; a routed one with where each running VM's /128 is routed (the host, and for admins its address: the next hop with route_mode static)")
    .option('--owner <user>', "admins: another user's network")
    .action(async (name: string, o: { owner?: string }, cmd: Command) => {
      const { client, output } = cliContext(cmd);
      const n = await client.networks.get(name, o.owner);
      const routes = n.routed ? (await client.networks.routes(name, o.owner)).items : undefined;
      const lines = (routes ?? []).map((r): [string, string] => ['route', `${r.destination} → ${r.host}${r.via ? ` via ${r.via}` : ''} (vm ${r.vm})`]);
      printObject(routes ? { ...n, routes } : n, output, [['name', n.name], ['prefix', n.prefix], ['vni', n.vni], ['dns', dns(n)], ['routed', n.routed ? 'yes' : 'no'], ['created', n.createdAt], ...lines]);
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
