import { Command } from 'commander';
import { activeProfile, apiUrlOf } from './context.js';
import { note, parseOutput, printObject } from './output.js';

/** `ucloud web`: where the dashboard is (the API's own address, docs/web.md); the token stays out of it. */
export function webCommand(): Command {
  return new Command('web')
    .description("print the web dashboard's URL (the API of the profile in use serves it at /)")
    .addHelpText('after', '\nLog in there with an API token; `ucloud token create web --expires 12h` makes one.\n\nExample:\n  ucloud web\n  ucloud --profile lab web -o json')
    .action(async (_o: unknown, cmd: Command) => {
      const dashboard = `${apiUrlOf(activeProfile(cmd)?.profile).replace(/\/+$/, '')}/`;
      const output = parseOutput(cmd.optsWithGlobals<{ output: string }>().output);
      // Whether it is served there (web = off, or an API not running, is said, not hidden).
      const served = await fetch(dashboard, { signal: AbortSignal.timeout(5000) }).then(
        (r) => (r.ok && (r.headers.get('content-type') ?? '').startsWith('text/html') ? undefined : `the API at ${dashboard} serves no dashboard (HTTP ${r.status}; is web = off?)`),
        () => `the API at ${dashboard} does not answer (is \`ucloud up\` or \`ucloud api\` running?)`,
      );
      if (output === 'table') {
        process.stdout.write(`${dashboard}\n`);
        note(served ?? 'log in with an API token: `ucloud token create web --expires 12h` makes one (shown once)');
      } else {
        printObject({ url: dashboard, served: served === undefined }, output);
        if (served) note(served);
      }
    });
}
