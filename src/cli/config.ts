import { Command } from 'commander';
import { CONFIG_KEYS, loadConfig, parseOverrides, type ConfigKey } from '../common/config.js';
import { daemonOptions } from './daemon-options.js';
import { printList } from './output.js';

interface Row {
  key: ConfigKey;
  value: string;
  source: string;
  env: string;
  doc: string;
}

export function configCommand(): Command {
  const config = new Command('config').description('ucloud configuration');
  daemonOptions(
    config
      .command('show')
      .description('every configuration key: its effective value, where it came from, its env variable and meaning')
      .action((o: { config?: string; set?: string[] }, cmd: Command) => {
        const loaded = loadConfig({ ...(o.config ? { file: o.config } : {}), overrides: parseOverrides(o.set ?? []) });
        const rows: Row[] = (Object.keys(CONFIG_KEYS) as ConfigKey[]).map((key) => {
          const spec = CONFIG_KEYS[key] as { env?: readonly string[]; doc: string };
          return { key, value: loaded.raw[key], source: loaded.sources[key], env: spec.env?.join(', ') ?? '', doc: spec.doc };
        });
        const output = cmd.optsWithGlobals<{ output: 'table' | 'json' | 'yaml' }>().output;
        printList(rows, [
          { header: 'KEY', get: (r) => r.key },
          { header: 'VALUE', get: (r) => r.value || '""' },
          { header: 'FROM', get: (r) => r.source },
          { header: 'ENV', get: (r) => r.env },
        ], output);
      }),
  );
  return config;
}
