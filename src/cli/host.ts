import { Command } from 'commander';
import type { HostView } from '../client/client.js';
import type { DaemonFlags } from '../common/daemon.js';
import { formatSize } from '../common/units.js';
import { cliContext, wholeNumber } from './context.js';
import { daemonOptions } from './daemon-options.js';
import { printList, printObject, type Column } from './output.js';

const COLUMNS: Column<HostView>[] = [
  { header: 'NAME', get: (h) => h.name },
  { header: 'ALIVE', get: (h) => (h.alive ? 'yes' : 'no') },
  { header: 'ACCEL', get: (h) => h.accel },
  { header: 'VMS', get: (h) => h.vms },
  { header: 'CPU (used/total)', get: (h) => `${h.used.cpu}/${h.capacity.cpu}` },
  { header: 'RAM (used/total)', get: (h) => `${formatSize(h.used.ramBytes)}/${formatSize(h.capacity.ramBytes)}` },
  { header: 'DISK (used/total)', get: (h) => `${formatSize(h.used.diskBytes)}/${formatSize(h.capacity.diskBytes)}` },
  { header: 'ADDRESS', get: (h) => h.address },
];

export function hostCommand(): Command {
  const host = new Command('host').description('hypervisor hosts: run the agent (default), add, list');

  daemonOptions(
    host
      .command('agent', { isDefault: true })
      .description('run the host agent on this hypervisor (what `ucloud host` alone does)')
      .action(async (o: DaemonFlags) => (await import('../host/main.js')).runHostAgent(o)),
  );

  host.command('add <name>')
    .description('register a hypervisor and the capacity the scheduler may use on it (admin)')
    .requiredOption('--cpu <n>', 'vCPUs to hand out', wholeNumber)
    .requiredOption('--ram <size>', 'RAM to hand out, e.g. 64GiB')
    .requiredOption('--disk <size>', 'disk to hand out, e.g. 2TiB')
    .option('--address <ipv6>', "the host's IPv6 address")
    .addHelpText('after', '\nExample:\n  ucloud host add hv2 --cpu 32 --ram 128GiB --disk 2TiB --address 2001:db8::2')
    .action(async (name: string, o: { cpu: number; ram: string; disk: string; address?: string }, cmd: Command) => {
      const { client, output } = cliContext(cmd);
      const h = await client.hosts.add({ name, cpu: o.cpu, ram: o.ram, disk: o.disk, ...(o.address ? { address: o.address } : {}) });
      printObject(h, output);
    });

  host.command('list')
    .description('list hosts, whether their agent is alive, and what is booked on them')
    .action(async (_o: unknown, cmd: Command) => {
      const { client, output } = cliContext(cmd);
      printList(await client.hosts.list(), COLUMNS, output);
    });

  return host;
}
