import { Command, CommanderError, Option } from 'commander';
import { EXIT_CODES, exitCodeOf, toUcloudError } from '../common/errors.js';
import type { DaemonFlags } from '../store/daemon.js';
import { completionCommand } from './completion.js';
import { configCommand } from './config.js';
import { daemonOptions } from './daemon-options.js';
import { eventsCommand } from './events.js';
import { webCommand } from './web.js';
import { hostCommand } from './host.js';
import { fileCommand } from './file.js';
import { imageCommand } from './image.js';
import { imageStoreCommand } from './image-store.js';
import { keyCommand } from './key.js';
import { networkCommand } from './network.js';
import { profileCommand } from './profile.js';
import { OUTPUT_FORMATS, safeText } from './output.js';
import { tokenCommand } from './token.js';
import { userCommand } from './user.js';
import { vmCommand } from './vm.js';
import { FailedState } from './wait.js';

const EXIT_HELP = `
Exit codes:
  ${EXIT_CODES.ok}  success
  ${EXIT_CODES.internal}  internal error (details in the component's log)
  ${EXIT_CODES.usage}  bad usage or invalid input (VALIDATION_FAILED, UNKNOWN_FIELD, INVALID_SIZE, ...)
  ${EXIT_CODES.not_found}  not found (VM_NOT_FOUND, IMAGE_NOT_FOUND, ...)
  ${EXIT_CODES.conflict}  conflict with what exists (VM_NAME_TAKEN, ...)
  ${EXIT_CODES.unauthenticated}  not authenticated or not allowed (UNAUTHENTICATED, FORBIDDEN)
  ${EXIT_CODES.unavailable}  a service is unavailable or --wait timed out (API_UNREACHABLE, ETCD_UNAVAILABLE, WAIT_TIMEOUT)
  ${EXIT_CODES.failed_state}  --wait ended with the VM in error

Errors print one line "error: CODE: message" and a hint on stderr; never a stack trace.
Config: ~/.config/ucloud/config.json holds profiles, one per cloud (\`ucloud up\` keeps "local";
\`ucloud profile add\` adds others); --profile or UCLOUD_PROFILE picks one; UCLOUD_URL and
UCLOUD_TOKEN override it.

Examples:
  ucloud vm list -o json | jq -r '.[].name'
  ucloud --profile prod vm list -o yaml
  source <(ucloud completion bash)`;

function program(): Command {
  const p = new Command('ucloud')
    .description('ucloud: IPv6-first virtual machine hosting')
    .addOption(new Option('-o, --output <format>', 'output format: table for people; json and yaml print the API\'s objects whole').choices(OUTPUT_FORMATS).default('table'))
    .addOption(new Option('--profile <name>', 'which cloud: a profile of the config file (default: $UCLOUD_PROFILE, else the current one; see `ucloud profile`)'))
    .showSuggestionAfterError()
    .addHelpText('after', EXIT_HELP)
    .exitOverride();
  // Daemons load their (heavy) modules only when run, so people's commands start fast.
  daemonOptions(
    p
      .command('up')
      .description('run all of ucloud on this machine: local etcd, api, scheduler, host agent, metadata, scanners')
      .addHelpText(
        'after',
        `
Supervises them like a service manager: one \`up\` per state_dir (a second is
refused with UP_ALREADY_RUNNING); a daemon or etcd that dies is restarted
(0.5 s doubling to 10 s, reset after 30 s of healthy running; crash loops are
logged with the daemon's last lines); they all stop when \`up\` stops, even on
kill -9, and what a killed \`up\` left running is stopped by the next one.
VMs keep running throughout and are re-attached.

Examples:
  sudo ucloud up
  sudo ucloud up --config /etc/ucloud/ucloud.conf
  ucloud host set "$(hostname)" --cpu-ratio 2   # less overcommit, while it runs`,
      )
      .action(async (o: DaemonFlags) => (await import('../up/up.js')).runUp(o)),
  );
  daemonOptions(p.command('api').description('run the REST API server').action(async (o: DaemonFlags) => (await import('../api/main.js')).runApi(o)));
  daemonOptions(p.command('scheduler').description('run the scheduler: places VMs; one leads per cluster, others stand by (leader_lease_ttl)').action(async (o: DaemonFlags) => (await import('../scheduler/main.js')).runScheduler(o)));
  daemonOptions(p.command('filescanner').description("run the filescanner: records users' files (name, size, sha512)").action(async (o: DaemonFlags) => (await import('../scanners/filescanner-main.js')).runFileScanner(o)));
  daemonOptions(p.command('metadata').description('run the metadata server VMs ask for their SSH keys').action(async (o: DaemonFlags) => (await import('../metadata/main.js')).runMetadata(o)));
  daemonOptions(p.command('imagescanner').description('run the imagescanner: turns image requests into images; one leads per cluster, others stand by (leader_lease_ttl)').action(async (o: DaemonFlags) => (await import('../scanners/imagescanner-main.js')).runImageScanner(o)));
  p.addCommand(hostCommand());
  p.addCommand(vmCommand());
  p.addCommand(imageCommand());
  p.addCommand(imageStoreCommand());
  p.addCommand(fileCommand());
  p.addCommand(keyCommand());
  p.addCommand(networkCommand());
  p.addCommand(userCommand());
  p.addCommand(tokenCommand());
  p.addCommand(eventsCommand());
  p.addCommand(webCommand());
  p.addCommand(configCommand());
  p.addCommand(profileCommand());
  p.addCommand(completionCommand(program));
  // commander quotes what was typed in its errors: shown escaped, as data is.
  const output = { writeErr: (s: string) => process.stderr.write(s.split('\n').map(safeText).join('\n')) };
  const inherit = (c: Command): void => {
    c.exitOverride().showSuggestionAfterError().configureOutput(output);
    c.commands.forEach(inherit);
  };
  inherit(p);
  return p;
}

async function main(): Promise<void> {
  try {
    await program().parseAsync(process.argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exit(err.exitCode === 0 ? 0 : EXIT_CODES.usage);
    }
    if (err instanceof FailedState) {
      process.stderr.write(`error: ${safeText(err.message)}\n`);
      process.exit(EXIT_CODES.failed_state);
    }
    const e = toUcloudError(err);
    // Messages quote what users typed or named: printed as safely as data.
    process.stderr.write(`error: ${e.code}: ${safeText(e.message)}\n${e.hint ? `  hint: ${safeText(e.hint)}\n` : ''}`);
    process.exit(exitCodeOf(e.code));
  }
}

void main();
