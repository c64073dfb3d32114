import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { UcloudError } from './errors.js';
import { cliConfigPath } from './paths.js';

/** Where one cloud's API is and who you are there. */
export interface CliProfile {
  url: string;
  token?: string;
}

/** The CLI's config file: named profiles, one of them current. */
export interface CliConfig {
  current?: string;
  profiles: Record<string, CliProfile>;
}

/** The profile a file of the old flat `{url, token}` form becomes. */
export const LEGACY_PROFILE = 'default';

const PROFILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export function checkProfileName(name: string): string {
  if (!PROFILE_NAME.test(name)) {
    throw new UcloudError('VALIDATION_FAILED', `profile name "${name}" is not 1-63 letters, digits, ".", "_" or "-" starting with a letter or digit`);
  }
  return name;
}

/** A profile's url as the Client takes it: http(s) only, so a typo fails here and not as API_UNREACHABLE later. */
export function checkProfileUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UcloudError('VALIDATION_FAILED', `--url "${url}" is not a URL, e.g. http://[2001:db8::1]:8080`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UcloudError('VALIDATION_FAILED', `--url "${url}" must be http or https`);
  return url;
}

function isProfile(v: unknown): v is CliProfile {
  const p = v as CliProfile;
  return !!p && typeof p === 'object' && typeof p.url === 'string' && (p.token === undefined || typeof p.token === 'string');
}

/**
 * The file as profiles; a file `ucloud up` wrote before profiles existed (a
 * flat `{url, token}`) reads as the one profile "default", so nobody's CLI
 * stops working on upgrade. No file: no profiles.
 */
export function readCliConfig(file = cliConfigPath()): CliConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { profiles: {} };
    throw new UcloudError('INVALID_CONFIG', `cannot read ${file}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new UcloudError('INVALID_CONFIG', `${file} is not JSON: ${(err as Error).message}`, { hint: `fix or remove ${file}; \`ucloud up\` and \`ucloud profile add\` write it` });
  }
  const obj = raw as { current?: unknown; profiles?: unknown };
  if (obj && typeof obj === 'object' && obj.profiles !== undefined) {
    const profiles = obj.profiles as Record<string, unknown>;
    if (!profiles || typeof profiles !== 'object' || !Object.values(profiles).every(isProfile) || (obj.current !== undefined && typeof obj.current !== 'string')) {
      throw new UcloudError('INVALID_CONFIG', `${file}: "profiles" must map names to {url, token}, "current" must be a name`, { hint: `fix or remove ${file}` });
    }
    return { ...(obj.current !== undefined ? { current: obj.current as string } : {}), profiles: profiles as Record<string, CliProfile> };
  }
  if (isProfile(raw)) return { current: LEGACY_PROFILE, profiles: { [LEGACY_PROFILE]: { url: raw.url, ...(raw.token ? { token: raw.token } : {}) } } };
  throw new UcloudError('INVALID_CONFIG', `${file} holds neither profiles nor {url, token}`, { hint: `fix or remove ${file}` });
}

/** Written whole through a private temporary file and a rename: a reader never sees half of it, and tokens stay the user's alone. */
export function writeCliConfig(config: CliConfig, file = cliConfigPath()): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  // Made afresh ('wx'): never written through a file or link already there (the token must stay 0600).
  rmSync(tmp, { force: true });
  writeFileSync(tmp, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  renameSync(tmp, file);
}
