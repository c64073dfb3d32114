import { closeSync, openSync, readSync } from 'node:fs';
import { Command, Option } from 'commander';
import { formatSize, parseDuration } from '../common/units.js';
import { UcloudError } from '../common/errors.js';
import { MAX_USER_DATA_BYTES, userDataFromBytes } from '../common/user-data.js';
import type { VmListQuery } from '../client/client.js';
import { VmStatus, type Vm } from '../model/index.js';
import { cliContext, onOff, wholeNumber } from './context.js';
import { note, printList, printObject, safeText, type Column } from './output.js';
import { listed, pageOptions, type PageFlags } from './pages.js';
import { describeMigration, migrateVm } from './migrate.js';
import { runConsole } from './console.js';
import { waitForReboot, waitForRecovery, waitForVm } from './wait.js';

/** "owner/name" of the VM's image ("store/name" for VMs made before image names were per owner). */
const imageOf = (v: Vm) => `${v.image.owner ?? v.image.store}/${v.image.name}`;

/** Every status a VM can be in, for --status's choices. */
const VM_STATUSES = VmStatus.anyOf.map((s) => String(s.const));

const COLUMNS: Column<Vm>[] = [
  { header: 'NAME', get: (v) => v.name },
  { header: 'STATUS', get: (v) => v.status },
  { header: 'HOST', get: (v) => v.host },
  { header: 'CPU', get: (v) => v.cpu },
  { header: 'RAM', get: (v) => formatSize(v.ramBytes) },
  { header: 'DISK', get: (v) => formatSize(v.diskBytes) },
  { header: 'IMAGE', get: imageOf },
  { header: 'OWNER', get: (v) => v.owner },
];

function statusFields(vm: Vm): [string, string | number | undefined][] {
  return [
    ['name', vm.name],
    ['id', vm.id],
    ['owner', vm.owner],
    ['status', vm.status],
    ['desired', vm.desired],
    ['reason', vm.reason],
    ['host', vm.host],
    ['cpu', vm.cpu],
    ['ram', formatSize(vm.ramBytes)],
    ['disk', vm.disks.length ? vm.disks.map((d) => `${d.name} ${formatSize(d.sizeBytes)} on ${d.store} (${d.ref})`).join(', ') : formatSize(vm.diskBytes)],
    ['image', imageOf(vm)],
    ['nics', (vm.nics ?? []).map((n) => `${n.network} ${n.mac} ${n.address}`).join(', ') || undefined],
    ['user-data', vm.hasUserData ? 'set' : 'none'],
    ['display', vm.display ?? 'none'],
    ['ha', vm.ha ? (vm.haArmed ? 'on (armed)' : vm.host ? 'on (not armed: no fence watchdog on its host)' : 'on') : 'off'],
    ['last failover', vm.lastFailover ? `${vm.lastFailover.restarted ? 'restarted off' : 'left on'} dead host ${vm.lastFailover.from} (${vm.lastFailover.code}, ${vm.lastFailover.at})` : undefined],
    ['storage fenced', vm.lastFailover?.fenced?.length ? vm.lastFailover.fenced.join(', ') : undefined],
    ['qemu pid', vm.qemu?.pid],
    ['accel', vm.qemu?.accel],
    ['serial log', vm.qemu?.serialLog],
    ['migration', vm.migration ? describeMigration(vm.name, vm.migration).slice(vm.name.length + 2) : undefined],
    ['last migration', vm.lastMigration ? `${describeMigration(vm.name, vm.lastMigration).slice(vm.name.length + 2)} (${vm.lastMigration.updatedAt})` : undefined],
    ['reboot', vm.reboot && vm.reboot.id !== vm.lastReboot?.id ? `asked by ${vm.reboot.by} at ${vm.reboot.at}${vm.reboot.force ? ' (force)' : ''}` : undefined],
    ['last reboot', vm.lastReboot ? `${vm.lastReboot.mode}${vm.lastReboot.error ? ` ${vm.lastReboot.error.code}: ${vm.lastReboot.error.message}` : ''} (${vm.lastReboot.at})` : undefined],
    ['last error', vm.error ? `${vm.error.code}: ${vm.error.message} (${vm.error.at})` : undefined],
    ['created', vm.createdAt],
    ['updated', vm.updatedAt],
  ];
}

/** The --user-data file ("-": standard input), read only up to one byte past the limit. */
function readUserData(path: string): string | undefined {
  const buf = Buffer.alloc(MAX_USER_DATA_BYTES + 1);
  let len = 0;
  try {
    const fd = path === '-' ? 0 : openSync(path, 'r');
    try {
      for (let n = 1; n > 0 && len < buf.length; len += n) n = readSync(fd, buf, len, buf.length - len, null);
    } finally {
      if (fd !== 0) closeSync(fd);
    }
  } catch (err) {
    throw new UcloudError('VALIDATION_FAILED', `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return userDataFromBytes(buf.subarray(0, len), path);
}

const waitOption = () => new Option('--wait', 'follow the VM until the operation finishes (progress on stderr)');
const timeoutOption = () => new Option('--timeout <duration>', 'how long --wait waits').default('5m');

export function vmCommand(): Command {
  const vm = new Command('vm').description('virtual machines: create, list, show, start, stop, migrate, recover, delete');

  vm.command('create <name>')
    .description('create a VM from an image and start it')
    .requiredOption('--image <image>', 'image: your own by name, an admin\'s public one by name, another user\'s public one as owner/name (see `ucloud image list`)')
    .option('--cpu <n>', 'vCPUs', wholeNumber, 1)
    .option('--ram <size>', 'memory, e.g. 256MiB or 2GiB', '256MiB')
    .option('--os-ssd <size>', 'OS disk size, at least the image size, e.g. 10GiB', '1GiB')
    .option('--hdd <size>', 'an extra empty disk (repeatable), e.g. 50GiB', (v: string, prev: string[] = []) => [...prev, v])
    .option('--network <name>', 'attach to this network of yours (repeatable; default: your network "default")', (v: string, prev: string[] = []) => [...prev, v])
    .option('--ha', 'high availability: restarted on another host when its host dies (shared storage; docs/architecture.md, "HA and fencing")')
    .option('--no-ha', 'not HA, whatever the cluster\'s ha_default says')
    .addOption(new Option('--display <display>', 'vnc: a VGA screen, seen in the dashboard (Screen) through the console ticket; fixed for the VM\'s life').choices(['none', 'vnc']).default('none'))
    .option('--user-data <file>', 'cloud-init user-data: a #cloud-config, a #! script or a MIME multipart; UTF-8, at most 16 KiB (docs/networking.md#user-data-and-vendor-data)')
    .addOption(waitOption())
    .addOption(timeoutOption())
    .addHelpText('after', '\nExamples:\n  ucloud vm create web1 --image ucloud-test --cpu 1 --ram 256MiB --os-ssd 1GiB --wait\n  ucloud vm create web2 --image debian12 --network lab --os-ssd 10GiB --user-data cloud-config.yaml --wait\n  ucloud vm create desk1 --image ucloud-test --display vnc --wait    # then Screen in `ucloud web`')
    .action(async (name: string, o: { image: string; cpu: number; ram: string; osSsd: string; hdd?: string[]; network?: string[]; userData?: string; ha?: boolean; display: 'none' | 'vnc'; wait?: boolean; timeout: string }, cmd: Command) => {
      const { client, output } = cliContext(cmd);
      const userData = o.userData === undefined ? undefined : readUserData(o.userData);
      let v = await client.vms.create({
        name,
        image: o.image,
        cpu: o.cpu,
        ram: o.ram,
        disk: o.osSsd,
        ...(o.hdd ? { hdd: o.hdd } : {}),
        ...(o.network ? { networks: o.network } : {}),
        ...(userData ? { userData } : {}),
        ...(o.ha !== undefined ? { ha: o.ha } : {}),
        ...(o.display === 'vnc' ? { display: 'vnc' as const } : {}),
      });
      note(`${v.name}: created (${v.id})`);
      if (o.wait) v = (await waitForVm(client, v.id, 'running', parseDuration(o.timeout)))!;
      printObject(v, output, statusFields(v));
    });

  pageOptions(
    vm
      .command('list')
      .description('list your VMs, by owner then name')
      .option('--all', "admins: every user's VMs")
      .option('--owner <user>', "admins: that user's VMs")
      .addOption(new Option('--status <status>', 'only VMs in this status').choices(VM_STATUSES))
      .option('--host <host>', 'only VMs placed on this host'),
  )
    .addHelpText(
      'after',
      '\nExamples:\n  ucloud vm list\n  ucloud vm list --status running --host hv1\n  ucloud vm list --all --status error        # admins\n  ucloud vm list --owner alice               # admins\n  ucloud vm list --limit 100                 # one page; stderr names the cursor of the next\n  ucloud vm list --limit 100 --cursor <that cursor>',
    )
    .action(async (o: PageFlags & { all?: boolean } & VmListQuery, cmd: Command) => {
      const { client, output } = cliContext(cmd);
      const filter: VmListQuery = { ...(o.status ? { status: o.status } : {}), ...(o.host ? { host: o.host } : {}), ...(o.owner ? { owner: o.owner } : {}) };
      printList(await listed(o, { list: () => client.vms.list(o.all, filter), page: (p) => client.vms.page({ ...p, ...filter, ...(o.all ? { all: true } : {}) }) }), COLUMNS, output);
    });

  for (const verb of ['show', 'status'] as const) {
    vm.command(`${verb} <name>`)
      .description(verb === 'show' ? 'show a VM (everything the API knows)' : 'state, host, disk, QEMU pid and last error of a VM')
      .action(async (name: string, _o: unknown, cmd: Command) => {
        const { client, output } = cliContext(cmd);
        const v = await client.vms.get(name);
        printObject(v, output, statusFields(v));
      });
  }

  for (const [verb, target] of [
    ['start', 'running'],
    ['stop', 'stopped'],
  ] as const) {
    vm.command(`${verb} <name>`)
      .description(verb === 'start' ? 'start a stopped VM' : 'stop a VM (ACPI power-off, then forced after stop_timeout)')
      .addOption(waitOption())
      .addOption(timeoutOption())
      .action(async (name: string, o: { wait?: boolean; timeout: string }, cmd: Command) => {
        const { client, output } = cliContext(cmd);
        let v = await client.vms[verb](name);
        if (o.wait) v = (await waitForVm(client, v.id, target, parseDuration(o.timeout)))!;
        printObject(v, output, statusFields(v));
      });
  }

  vm.command('reboot <name>')
    .description('reboot a running VM in place: the ACPI power button, then a reset if the guest has not powered off after stop_timeout')
    .option('--force', 'reset at once, without asking the guest (as the reset button does)')
    .addOption(waitOption())
    .addOption(timeoutOption())
    .addHelpText('after', '\nExamples:\n  ucloud vm reboot web1 --wait\n  ucloud vm reboot web1 --force --wait\n  ucloud vm show web1 -o json | jq .lastReboot   # {id, mode: acpi|reset|start|failed, at}')
    .action(async (name: string, o: { force?: boolean; wait?: boolean; timeout: string }, cmd: Command) => {
      const { client, output } = cliContext(cmd);
      let v = await client.vms.reboot(name, o.force === true);
      if (o.wait) v = await waitForReboot(client, v.id, v.reboot!.id, parseDuration(o.timeout));
      printObject(v, output, statusFields(v));
    });

  vm.command('set <name>')
    .description('change a VM\'s settings without a restart')
    .requiredOption('--ha <on|off>', 'high availability: on, the host arms it (its fence watchdog kills it when the host is cut off) and the scheduler restarts it elsewhere when its host dies', onOff)
    .addHelpText('after', '\nExamples:\n  ucloud vm set web1 --ha on\n  ucloud vm show web1 -o json | jq .haArmed   # true once its host armed it')
    .action(async (name: string, o: { ha: boolean }, cmd: Command) => {
      const { client, output } = cliContext(cmd);
      const v = await client.vms.set(name, { ha: o.ha });
      printObject(v, output, statusFields(v));
    });

  vm.command('resize <name>')
    .description('grow the OS disk (online when running), or change CPU/RAM of a stopped VM')
    .option('--os-ssd <size>', 'new OS disk size (grow only)')
    .option('--cpu <n>', 'vCPUs (VM must be stopped)', wholeNumber)
    .option('--ram <size>', 'memory (VM must be stopped)')
    .addHelpText('after', '\nExamples:\n  ucloud vm resize db1 --os-ssd 40GiB\n  ucloud vm stop db1 --wait && ucloud vm resize db1 --cpu 4 --ram 8GiB')
    .action(async (name: string, o: { osSsd?: string; cpu?: number; ram?: string }, cmd: Command) => {
      const { client, output } = cliContext(cmd);
      const v = await client.vms.resize(name, { ...(o.osSsd ? { disk: o.osSsd } : {}), ...(o.cpu ? { cpu: o.cpu } : {}), ...(o.ram ? { ram: o.ram } : {}) });
      printObject(v, output, statusFields(v));
    });

  vm.command('migrate <name>')
    .description('admins: live-migrate a running VM to another host (the guest keeps running)')
    .option('--to <host>', 'destination host (see `ucloud host list`); default: the scheduler picks one')
    .option('--cancel', 'cancel the migration under way (the VM stays where it runs)')
    .addOption(new Option('--wait', 'follow the migration until it ends: phase, RAM copied and rate on stderr, then the downtime'))
    .addOption(new Option('--timeout <duration>', 'how long --wait waits').default('30m'))
    .addHelpText('after', '\nExamples:\n  ucloud vm migrate web1 --to hv2 --wait\n  ucloud vm migrate web1 --wait              # the scheduler picks the host\n  ucloud vm migrate web1 --cancel')
    .action(async (name: string, o: { to?: string; cancel?: boolean; wait?: boolean; timeout: string }, cmd: Command) => {
      const { client, output } = cliContext(cmd);
      if (o.cancel && o.to !== undefined) throw new UcloudError('VALIDATION_FAILED', 'give either --to or --cancel, not both');
      const v = await migrateVm(client, name, { ...o, timeoutMs: parseDuration(o.timeout) });
      printObject(v, output, statusFields(v));
    });

  vm.command('recover <name>')
    .description('admins: start a VM left on a dead host (error HOST_DEAD) on another host, its storage fenced first')
    .option('--host-is-off', 'you made sure the dead host is powered off: needed when a disk is on a store that cannot fence (a shared filesystem)')
    .addOption(waitOption())
    .addOption(timeoutOption())
    .addHelpText(
      'after',
      [
        '',
        'The VM must be marked HOST_DEAD (`ucloud vm show`), its host still dead, and every disk on',
        'shared storage. On Ceph the scheduler blocklists the dead host\'s clients of its disks first;',
        'a shared filesystem cannot revoke a host\'s access, so there you vouch the host is off.',
        '',
        'Examples:',
        '  ucloud vm recover db1 --wait',
        '  ucloud vm recover db1 --host-is-off --wait   # disks on a shared filesystem store',
      ].join('\n'),
    )
    .action(async (name: string, o: { hostIsOff?: boolean; wait?: boolean; timeout: string }, cmd: Command) => {
      const { client, output } = cliContext(cmd);
      let v = await client.vms.recover(name, o.hostIsOff ? { hostIsOff: true } : {});
      if (o.wait) v = await waitForRecovery(client, v.id, parseDuration(o.timeout));
      printObject(v, output, statusFields(v));
    });

  vm.command('console <name>')
    .description("the VM's serial console in this terminal (ttyS0): what it prints, and what you type; Ctrl-] leaves")
    .option('--read-only', 'watch only: what you type is not sent')
    .addHelpText(
      'after',
      [
        '',
        'Several people may watch one console; the first one attached read-write types, the others watch',
        '(they type once it leaves). You first see the last 16 KiB of output, then live output.',
        '',
        'Exit codes: 0 you left (Ctrl-]) or the VM stopped; 3 no such VM; 4 the VM is not running;',
        '5 the ticket was refused; 6 the console is unavailable (its host, or the connection, went away).',
        '',
        'Examples:',
        '  ucloud vm console web1',
        '  ucloud vm console web1 --read-only     # watch a boot without typing into it',
      ].join('\n'),
    )
    .action(async (name: string, o: { readOnly?: boolean }, cmd: Command) => {
      const { client } = cliContext(cmd);
      await runConsole(client, name, o.readOnly === true);
    });

  vm.command('console-log <name>')
    .description("the latest output of the VM's serial console (kept on its host, capped by console_log_size)")
    .option('--lines <n>', 'how many lines, 1-10000', wholeNumber, 100)
    .addHelpText('after', '\nExample:\n  ucloud vm console-log web1 --lines 20')
    .action(async (name: string, o: { lines: number }, cmd: Command) => {
      const { client, output } = cliContext(cmd);
      const log = await client.vms.consoleLog(name, o.lines);
      if (output !== 'table') return printObject(log, output);
      // The guest wrote this: its control characters (colours, cursor moves,
      // terminal titles) are shown escaped, never run by your terminal.
      const lines = log.text.split('\n').map((l) => l.replace(/\r$/, '').split('\t').map(safeText).join('\t'));
      const text = lines.join('\n');
      // A guest's last line may lack its newline: the prompt must not follow it on the same line.
      process.stdout.write(text && !text.endsWith('\n') ? `${text}\n` : text);
    });

  vm.command('stats <name>')
    .description("the VM's counters now, as its host reads them: CPU seconds, memory, disk and network (the figures of its Prometheus metrics)")
    .addHelpText('after', '\nExamples:\n  ucloud vm stats web1\n  ucloud vm stats web1 --output json   # the counters to compute rates from')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const { client, output } = cliContext(cmd);
      const s = await client.vms.stats(name);
      printObject(s, output, [
        ['vm', s.vm],
        ['host', s.host],
        ['at', s.at],
        ['cpu seconds', s.cpuSeconds?.toFixed(2)],
        ['memory (rss)', s.memoryRssBytes === undefined ? undefined : formatSize(s.memoryRssBytes)],
        ...s.disks.map((d): [string, string] => [`disk ${d.disk}`, `read ${formatSize(d.readBytes)} (${d.reads}), written ${formatSize(d.writtenBytes)} (${d.writes})`]),
        ...s.nics.map((n): [string, string] => [`nic ${n.nic}`, `received ${formatSize(n.receiveBytes)} (${n.receivePackets} packets), sent ${formatSize(n.transmitBytes)} (${n.transmitPackets} packets)`]),
      ]);
    });

  vm.command('delete <name>')
    .description('delete a VM, its disks and its record')
    .addOption(waitOption())
    .addOption(timeoutOption())
    .action(async (name: string, o: { wait?: boolean; timeout: string }, cmd: Command) => {
      const { client } = cliContext(cmd);
      const v = await client.vms.delete(name);
      if (v && o.wait) await waitForVm(client, v.id, 'deleted', parseDuration(o.timeout));
      else note(`${name}: ${v ? 'deleting' : 'deleted'}`);
    });

  return vm;
}
