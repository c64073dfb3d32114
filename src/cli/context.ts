import { readFileSync } from 'node:fs';
import { InvalidArgumentError, type Command } from 'commander';
import { Client } from '../client/client.js';
import { UcloudError } from '../common/errors.js';
import { CONFIG_KEYS, parseListen } from '../common/config.js';
import { apiUrlFor, cliConfigPath } from '../common/paths.js';
import { parseOutput, type OutputFormat } from './output.js';

export interface CliContext {
  client: Client;
  output: OutputFormat;
}

/** The API url and token: UCLOUD_URL / UCLOUD_TOKEN, else the file `ucloud up` wrote. */
export function cliContext(cmd: Command): CliContext {
  const opts = cmd.optsWithGlobals<{ output: string }>();
  const file = cliConfigPath();
  let saved: { url?: string; token?: string } = {};
  try {
    saved = JSON.parse(readFileSync(file, 'utf8')) as typeof saved;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new UcloudError('INVALID_CONFIG', `cannot read ${file}: ${(err as Error).message}`);
  }
  const url = process.env.UCLOUD_URL ?? saved.url ?? apiUrlFor(parseListen('api_listen', CONFIG_KEYS.api_listen.default));
  const token = process.env.UCLOUD_TOKEN ?? saved.token;
  return { client: new Client({ url, ...(token ? { token } : {}) }), output: parseOutput(opts.output) };
}

/** commander argument parser for counts: a usage error (exit 2) before anything is sent. */
export function wholeNumber(v: string): number {
  if (!/^\d+$/.test(v)) throw new InvalidArgumentError('expected a whole number');
  return Number(v);
}

/** commander argument parser for a switch: on or off. */
export function onOff(v: string): boolean {
  if (v !== 'on' && v !== 'off') throw new InvalidArgumentError('expected on or off');
  return v === 'on';
}
