import { join } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import type { HostView } from '../client/client.js';
import type { DaemonFlags } from '../store/daemon.js';
import { parseRatio } from '../common/capacity.js';
import { UcloudError } from '../common/errors.js';
import type { AllocationRatio } from '../model/index.js';
import { formatSize } from '../common/units.js';
import { cliContext, wholeNumber } from './context.js';
import { daemonOptions } from './daemon-options.js';
import { note, parseOutput, printList, printObject, safeText, type Column } from './output.js';
import { listed, pageOptions, type PageFlags } from './pages.js';
import { waitForDrain } from './drain-wait.js';
import { hostPreflightCommand } from './preflight.js';

// used/allowed (physical): allowed is physical × the host's allocation ratio.
const COLUMNS: Column<HostView>[] = [
  { header: 'NAME', get: (h) => h.name },
  { header: 'ALIVE', get: (h) => (h.alive ? 'yes' : 'no') },
  { header: 'DRAINED', get: (h) => (h.drained ? 'yes' : 'no') },
  { header: 'ACCEL', get: (h) => h.accel },
  { header: 'VMS', get: (h) => h.vms },
  { header: 'CPU used/allowed (physical)', get: (h) => `${h.used.cpu}/${h.allowed.cpu} (${h.capacity.cpu})` },
  { header: 'RAM used/allowed (physical)', get: (h) => `${formatSize(h.used.ramBytes)}/${formatSize(h.allowed.ramBytes)} (${formatSize(h.capacity.ramBytes)})` },
  { header: 'DISK used/allowed (physical)', get: (h) => `${formatSize(h.used.diskBytes)}/${formatSize(h.allowed.diskBytes)} (${formatSize(h.capacity.diskBytes)})` },
  { header: 'RATIO cpu/ram/disk', get: (h) => `${h.allocationRatio.cpu}/${h.allocationRatio.ram}/${h.allocationRatio.disk}` },
  { header: 'ADDRESS', get: (h) => h.address },
];

/** commander parser for allocation ratios: a usage error (exit 2) before anything is sent. */
function ratio(v: string): number {
  const n = parseRatio(v);
  if (n === undefined) throw new InvalidArgumentError('expected a number above 0 and at most 100, e.g. 4 or 1.5');
  return n;
}

interface RatioFlags {
  cpuRatio?: number;
  ramRatio?: number;
  diskRatio?: number;
}

function ratiosOf(o: RatioFlags): Partial<AllocationRatio> | undefined {
  const r = { ...(o.cpuRatio !== undefined ? { cpu: o.cpuRatio } : {}), ...(o.ramRatio !== undefined ? { ram: o.ramRatio } : {}), ...(o.diskRatio !== undefined ? { disk: o.diskRatio } : {}) };
  return Object.keys(r).length ? r : undefined;
}

export function hostCommand(): Command {
  const host = new Command('host').description('hypervisor hosts: run the agent (default) or its fence watchdog, add, set, list, drain, undrain, remove');

  daemonOptions(
    host
      .command('agent', { isDefault: true })
      .description('run the host agent on this hypervisor (what `ucloud host` alone does)')
      .action(async (o: DaemonFlags) => (await import('../host/main.js')).runHostAgent(o)),
  );

  daemonOptions(
    host
      .command('fence')
      .description("run this host's fence watchdog: kills the host's HA VMs when the agent stops renewing its presence (run it beside `ucloud host` on every host that runs HA VMs; it needs no etcd)")
      .addHelpText('after', '\nSee docs/architecture.md, "HA and fencing". Without it running, the agent arms no HA VM here (they are marked HOST_DEAD, not restarted, when the host dies).')
      .action(async (o: DaemonFlags) => (await import('../host/fence/main.js')).runFenceWatchdog(o)),
  );

  host.command('add <name>')
    .description('register a hypervisor, its physical capacity and allocation ratios (admin)')
    .requiredOption('--cpu <n>', 'physical CPU cores', wholeNumber)
    .requiredOption('--ram <size>', 'RAM, e.g. 64GiB')
    .requiredOption('--disk <size>', 'disk, e.g. 2TiB')
    .option('--address <ipv6>', "the host's IPv6 address")
    .option('--cpu-ratio <x>', 'vCPUs booked per core (default: the API\'s cpu_allocation_ratio, 4)', ratio)
    .option('--ram-ratio <x>', 'RAM booked per byte of RAM (default: ram_allocation_ratio, 1)', ratio)
    .option('--disk-ratio <x>', 'disk booked per byte of disk (default: disk_allocation_ratio, 1)', ratio)
    .addHelpText('after', '\nThe scheduler books up to capacity × ratio on it (see `ucloud host list`).\n\nExample:\n  ucloud host add hv2 --cpu 32 --ram 128GiB --disk 2TiB --address 2001:db8::2')
    .action(async (name: string, o: { cpu: number; ram: string; disk: string; address?: string } & RatioFlags, cmd: Command) => {
      const { client, output } = cliContext(cmd);
      const allocationRatio = ratiosOf(o);
      const h = await client.hosts.add({ name, cpu: o.cpu, ram: o.ram, disk: o.disk, ...(o.address ? { address: o.address } : {}), ...(allocationRatio ? { allocationRatio } : {}) });
      printObject(h, output);
    });

  host.command('set <name>')
    .description("change a host's physical capacity or allocation ratios (admin); never below what is booked on it")
    .option('--cpu <n>', 'physical CPU cores', wholeNumber)
    .option('--ram <size>', 'RAM, e.g. 64GiB')
    .option('--disk <size>', 'disk, e.g. 2TiB')
    .option('--cpu-ratio <x>', 'vCPUs booked per core, e.g. 4 or 1.5', ratio)
    .option('--ram-ratio <x>', 'RAM booked per byte of RAM', ratio)
    .option('--disk-ratio <x>', 'disk booked per byte of disk', ratio)
    .addHelpText(
      'after',
      [
        '',
        'The scheduler books up to floor(capacity × ratio) per resource and uses the new',
        'values at once. A change that lowers a resource below what the VMs on the host',
        'book is refused (CAPACITY_BELOW_BOOKED) and changes nothing. `ucloud up` keeps',
        'what is set here; its capacity_* and *_allocation_ratio settings apply only when',
        'it first registers the host.',
        '',
        'A host recorded by a ucloud from before ratios counts 1:1 (its CPU number was',
        'vCPUs); give it its physical cores and a ratio here.',
        '',
        'Examples:',
        '  ucloud host set hv1 --cpu-ratio 8',
        '  ucloud host set hv1 --cpu 16 --ram 64GiB --disk 2TiB',
        '  ucloud host set hv1 --cpu 2 --cpu-ratio 4     # an older record: 2 cores, 8 vCPUs',
      ].join('\n'),
    )
    .action(async (name: string, o: { cpu?: number; ram?: string; disk?: string } & RatioFlags, cmd: Command) => {
      const { client, output } = cliContext(cmd);
      const allocationRatio = ratiosOf(o);
      if (o.cpu === undefined && o.ram === undefined && o.disk === undefined && !allocationRatio) {
        throw new UcloudError('VALIDATION_FAILED', 'nothing to change: give --cpu, --ram, --disk, --cpu-ratio, --ram-ratio or --disk-ratio');
      }
      const h = await client.hosts.set(name, {
        ...(o.cpu !== undefined ? { cpu: o.cpu } : {}),
        ...(o.ram !== undefined ? { ram: o.ram } : {}),
        ...(o.disk !== undefined ? { disk: o.disk } : {}),
        ...(allocationRatio ? { allocationRatio } : {}),
      });
      printObject(h, output);
    });

  host.command('drain <name>')
    .description('take no new VMs on a host and migrate its running VMs away (admin)')
    .option('--wait', 'follow until the host holds no VM, one line per VM that left; stops naming the VMs that stay and why')
    .option('--timeout <seconds>', 'give up waiting after this long (the drain goes on)', wholeNumber, 3600)
    .addHelpText(
      'after',
      [
        '',
        'The scheduler places no new VM on a drained host and live-migrates its running',
        'VMs to hosts that pass every placement check. A VM that fits nowhere stays,',
        'its reason saying why (`ucloud vm status`); a stopped VM is not moved. Undo with',
        '`ucloud host undrain`. An empty host can then be removed.',
        '',
        'Examples:',
        '  ucloud host drain hv2 --wait',
        '  ucloud host drain hv2 --wait && ucloud host remove hv2',
      ].join('\n'),
    )
    .action(async (name: string, o: { wait?: boolean; timeout: number }, cmd: Command) => {
      const { client, output } = cliContext(cmd);
      const h = await client.hosts.drain(name);
      if (o.wait) await waitForDrain(client, name, o.timeout * 1000);
      printObject(h, output);
    });

  host.command('undrain <name>')
    .description('let the scheduler place VMs on a drained host again (admin)')
    .addHelpText('after', '\nExample:\n  ucloud host undrain hv2')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const { client, output } = cliContext(cmd);
      printObject(await client.hosts.undrain(name), output);
    });

  host.command('remove <name>')
    .description('forget a host that holds no VM (admin): its record and bookings')
    .addHelpText(
      'after',
      [
        '',
        'Refused with HOST_NOT_EMPTY while any VM is booked there (placed, or arriving by',
        'migration); drain it first. Its agent, if still running, is not stopped.',
        '',
        'Example:',
        '  ucloud host drain hv2 --wait && ucloud host remove hv2',
      ].join('\n'),
    )
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const { client } = cliContext(cmd);
      await client.hosts.remove(name);
      note(`host ${name} removed`);
    });

  host.command('certs')
    .description("make the cluster's migration CA (once) and one host's TLS certificates for migration_tls (run where the CA is kept)")
    .requiredOption('--ca-dir <dir>', 'the cluster CA: ca-cert.pem and ca-key.pem, made here if absent (keep it off the hypervisors)')
    .requiredOption('--host <name>', 'the host the certificates are for (as in `ucloud host list`)')
    .requiredOption('--address <ipv6>', 'its underlay IPv6 address (host_address): the name a source checks')
    .option('--out <dir>', "where the host's five files go: its migration_tls_dir, or a directory to copy there (default: <ca-dir>/<host>)")
    .option('--days <n>', 'how long the host certificates are valid', wholeNumber, 825)
    .option('--force', 'replace host files already in --out (renewal)')
    .addHelpText(
      'after',
      [
        '',
        'Writes ca-cert.pem, server-cert.pem, server-key.pem, client-cert.pem, client-key.pem',
        '(keys mode 600): copy them to the host\'s migration_tls_dir and set migration_tls=on',
        'on every host. Run it again with --force to renew one host; the CA stays.',
        '',
        'Example:',
        '  ucloud host certs --ca-dir /root/ucloud-ca --host hv2 --address 2001:db8::2',
        '  scp -r /root/ucloud-ca/hv2/. root@[2001:db8::2]:/etc/ucloud/pki/migration/',
      ].join('\n'),
    )
    .action(async (o: { caDir: string; host: string; address: string; out?: string; days: number; force?: boolean }, cmd: Command) => {
      const output = parseOutput(cmd.optsWithGlobals<{ output: string }>().output);
      const { makeHostCerts } = await import('../host/migration/pki.js');
      const outDir = o.out ?? join(o.caDir, o.host);
      const r = await makeHostCerts({ caDir: o.caDir, host: o.host, address: o.address, outDir, days: o.days, force: o.force === true });
      if (r.caCreated) note(`made the cluster CA in ${o.caDir} (keep ${o.caDir}/ca-key.pem secret)`);
      if (output === 'table') process.stdout.write(r.files.map((f) => `${safeText(f)}\n`).join(''));
      else printObject({ caCreated: r.caCreated, files: r.files }, output);
    });

  hostPreflightCommand(host);

  pageOptions(host.command('list').description('list hosts, whether their agent is alive, and what is booked on them: used/allowed (physical), allowed = physical × ratio')).action(async (o: PageFlags, cmd: Command) => {
    const { client, output } = cliContext(cmd);
    printList(await listed(o, client.hosts), COLUMNS, output);
  });

  return host;
}
