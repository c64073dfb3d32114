import type { Command } from 'commander';
import { loadConfig, parseOverrides } from '../common/config.js';
import type { DaemonFlags } from '../store/daemon.js';
import { exitCodeOf, UcloudError } from '../common/errors.js';
import { daemonOptions } from './daemon-options.js';
import { parseOutput, printObject, safeText } from './output.js';

/** `ucloud host preflight`: a cluster member's checks, each ok or failed with its fix. */
export function hostPreflightCommand(host: Command): void {
  daemonOptions(
    host
      .command('preflight')
      .description("check this host as a cluster member: host_address, clock sync, migration ports, fence watchdog, etcd credentials, underlay, etcd health")
      .addHelpText(
        'after',
        [
          '',
          'Reads the configuration the daemons read (run it as they run, as root, with the',
          'same --config). Every check runs and prints ok, or FAIL with its fix:',
          '  host address           host_address is on an interface here; vxlan_underlay exists',
          '  clock synchronised     timedatectl, else chronyc, else ntpstat says so',
          '  migration ports free   nothing but incoming migrations listens on migration_ports',
          '  fence watchdog         `ucloud host fence` beats (the agent arms HA VMs only then)',
          '  etcd credentials       etcd_password_file is readable',
          '  underlay reachability  TCP to every etcd endpoint, ping to every other registered host',
          '  etcd health            every endpoint and member answers, a quorum, one known leader,',
          '                         no alarm, and a read of ucloud\'s keys succeeds',
          `Exit code 0 when all pass, else ${exitCodeOf('PREFLIGHT_FAILED')} (PREFLIGHT_FAILED). -o json prints {host, ok, checks}.`,
          '',
          'Examples:',
          '  sudo ucloud host preflight',
          '  sudo ucloud host preflight --config /etc/ucloud/ucloud.conf -o json',
        ].join('\n'),
      )
      .action(async (o: DaemonFlags, cmd: Command) => {
        const output = parseOutput(cmd.optsWithGlobals<{ output: string }>().output);
        const { config } = loadConfig({ ...(o.config ? { file: o.config } : {}), overrides: parseOverrides(o.set ?? []) });
        const { memberPreflight } = await import('../host/preflight/index.js');
        const checks = await memberPreflight(config);
        const failed = checks.filter((c) => !c.ok);
        if (output === 'table') {
          const w = Math.max(...checks.map((c) => c.name.length));
          const lines = checks.flatMap((c) => [
            `${c.ok ? 'ok  ' : 'FAIL'}  ${c.name.padEnd(w)}  ${c.message ?? ''}`.trimEnd(),
            ...(c.ok ? [] : [`${' '.repeat(w + 8)}fix: ${c.fix}`]),
          ]);
          process.stdout.write(`${lines.map(safeText).join('\n')}\n`);
        } else printObject({ host: config.hostName, ok: failed.length === 0, checks }, output);
        if (failed.length) {
          throw new UcloudError('PREFLIGHT_FAILED', `${failed.length} of ${checks.length} checks failed: ${failed.map((c) => c.name).join(', ')}`, { hint: 'apply each fix shown above, then run `ucloud host preflight` again' });
        }
      }),
  );
}
