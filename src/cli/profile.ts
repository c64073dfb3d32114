import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { checkProfileName, checkProfileUrl, readCliConfig, writeCliConfig } from '../common/cli-config.js';
import { UcloudError } from '../common/errors.js';
import { activeProfile, profileNotFound } from './context.js';
import { note, parseOutput, printList, type Column } from './output.js';

/** What list prints: never the token itself, which json or yaml output would otherwise put in logs and pastes. */
interface ProfileRow {
  name: string;
  url: string;
  current: boolean;
  token: boolean;
}

const COLUMNS: Column<ProfileRow>[] = [
  { header: 'CURRENT', get: (p) => (p.current ? '*' : '') },
  { header: 'NAME', get: (p) => p.name },
  { header: 'URL', get: (p) => p.url },
  { header: 'TOKEN', get: (p) => (p.token ? 'set' : 'none') },
];

export function profileCommand(): Command {
  const profile = new Command('profile').description('the clouds this CLI talks to: named API urls and tokens in ~/.config/ucloud/config.json');
  profile.addHelpText(
    'after',
    [
      '',
      'A command uses --profile NAME, else $UCLOUD_PROFILE, else the current profile;',
      'UCLOUD_URL and UCLOUD_TOKEN override what the profile says. `ucloud up` keeps',
      'its own profile "local" up to date and leaves the others alone.',
      '',
      'Examples:',
      '  ucloud profile add prod --url https://api.example.net --token "$TOKEN"',
      '  pass show ucloud/prod | ucloud profile add prod --url https://api.example.net',
      '  ucloud profile use prod',
      '  ucloud --profile local vm list',
    ].join('\n'),
  );

  profile.command('list')
    .description('list profiles; CURRENT marks the one used when none is named')
    .action((_o: unknown, cmd: Command) => {
      const config = readCliConfig();
      const named = cmd.optsWithGlobals<{ profile?: string }>().profile ?? (process.env.UCLOUD_PROFILE || undefined);
      // A --profile or UCLOUD_PROFILE naming none is what list helps to fix: it marks none rather than failing.
      const active = named && !config.profiles[named] ? undefined : activeProfile(cmd)?.name;
      const rows = Object.entries(config.profiles)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([name, p]) => ({ name, url: p.url, current: name === active, token: p.token !== undefined }));
      printList(rows, COLUMNS, parseOutput(cmd.optsWithGlobals<{ output: string }>().output));
    });

  profile.command('use <name>')
    .description('make a profile the current one')
    .action((name: string) => {
      const config = readCliConfig();
      if (!config.profiles[name]) throw profileNotFound(name);
      writeCliConfig({ ...config, current: name });
      note(`now using profile ${name} (${config.profiles[name].url})`);
    });

  profile.command('add <name>')
    .description("add a profile, or replace that profile's url and token; the first one added becomes current")
    .requiredOption('--url <url>', 'the API, e.g. http://[2001:db8::1]:8080')
    .option('--token <token>', 'your API token (without it: read from standard input, so it stays out of shell history)')
    .option('--no-token', 'no token (an API you only reach unauthenticated)')
    .option('--use', 'make it the current profile too')
    .action((name: string, o: { url: string; token?: string | false; use?: boolean }) => {
      checkProfileName(name);
      checkProfileUrl(o.url);
      let token = typeof o.token === 'string' ? o.token : undefined;
      if (o.token === undefined) {
        if (process.stdin.isTTY) note('the token, then Ctrl-D:');
        token = readFileSync(0, 'utf8').trim();
        if (!token) throw new UcloudError('VALIDATION_FAILED', 'no token on standard input', { hint: 'pipe it in, pass --token, or --no-token for none' });
      }
      const config = readCliConfig();
      const existed = config.profiles[name] !== undefined;
      config.profiles[name] = { url: o.url, ...(token ? { token } : {}) };
      if (o.use || config.current === undefined || !config.profiles[config.current]) config.current = name;
      writeCliConfig(config);
      note(`profile ${name} ${existed ? 'updated' : 'added'}${config.current === name ? ' (current)' : ''}`);
    });

  profile.command('remove <name>')
    .description('remove a profile (removing the current one leaves none current)')
    .action((name: string) => {
      const config = readCliConfig();
      if (!config.profiles[name]) throw profileNotFound(name);
      delete config.profiles[name];
      if (config.current === name) delete config.current;
      writeCliConfig(config);
      note(`profile ${name} removed`);
    });

  return profile;
}
