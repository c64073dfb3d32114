import type { Command } from 'commander';

/** Options every daemon takes: its config file and key=value overrides (highest precedence). */
export function daemonOptions(cmd: Command): Command {
  return cmd
    .option('-c, --config <file>', 'config file (default: $UCLOUD_CONFIG or /etc/ucloud/ucloud.conf)')
    .option('--set <key=value>', 'override a config key (repeatable); see `ucloud config show`', (v: string, prev: string[] = []) => [...prev, v]);
}
