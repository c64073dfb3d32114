import { InvalidArgumentError, type Command } from 'commander';
import { Client } from '../client/client.js';
import { readCliConfig, type CliProfile } from '../common/cli-config.js';
import { UcloudError } from '../common/errors.js';
import { CONFIG_KEYS, parseListen } from '../common/config.js';
import { apiUrlFor, cliConfigPath } from '../common/paths.js';
import { parseOutput, type OutputFormat } from './output.js';

export interface CliContext {
  client: Client;
  output: OutputFormat;
}

export function profileNotFound(name: string): UcloudError {
  return new UcloudError('PROFILE_NOT_FOUND', `no profile "${name}" in ${cliConfigPath()}`);
}

/**
 * The profile the command runs with: --profile, else UCLOUD_PROFILE, else the
 * file's current one. A profile named but absent is an error, never a silent
 * fall-back to another cloud. Undefined when none is named and none is current.
 */
export function activeProfile(cmd: Command): { name: string; profile: CliProfile } | undefined {
  const named = cmd.optsWithGlobals<{ profile?: string }>().profile ?? (process.env.UCLOUD_PROFILE || undefined);
  const config = readCliConfig();
  const name = named ?? config.current;
  if (name === undefined) return undefined;
  const profile = config.profiles[name];
  if (!profile) {
    if (named === undefined) return undefined;
    throw profileNotFound(name);
  }
  return { name, profile };
}

/** The API url and token: UCLOUD_URL / UCLOUD_TOKEN, else the active profile's. */
export function cliContext(cmd: Command): CliContext {
  const opts = cmd.optsWithGlobals<{ output: string }>();
  const saved = activeProfile(cmd)?.profile;
  const url = apiUrlOf(saved);
  const token = process.env.UCLOUD_TOKEN ?? saved?.token;
  return { client: new Client({ url, ...(token ? { token } : {}) }), output: parseOutput(opts.output) };
}

/** The API url: UCLOUD_URL, else the profile's, else api_listen's default. */
export function apiUrlOf(profile: { url?: string } | undefined): string {
  return process.env.UCLOUD_URL ?? profile?.url ?? apiUrlFor(parseListen('api_listen', CONFIG_KEYS.api_listen.default));
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
