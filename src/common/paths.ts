import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package's root directory, whether running from src (tests) or dist. */
export function packageRoot(): string {
  const here = fileURLToPath(new URL('.', import.meta.url));
  return here.includes('/dist/') ? join(here, '..', '..', '..') : join(here, '..', '..');
}

/** The CLI's config file: UCLOUD_CLI_CONFIG, else $XDG_CONFIG_HOME/ucloud/config.json. */
export function cliConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.UCLOUD_CLI_CONFIG ?? join(env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'ucloud', 'config.json');
}

export function apiUrlFor(listen: { host: string; port: number }): string {
  const host = listen.host === '::' || listen.host === '' ? '::1' : listen.host === '0.0.0.0' ? '127.0.0.1' : listen.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${listen.port}`;
}
