import { Command } from 'commander';
import type { EventQuery } from '../client/client.js';
import type { Event } from '../model/index.js';
import { cliContext } from './context.js';
import { followEvents } from './event-stream.js';
import { note, printList, safeText, type Column, type OutputFormat } from './output.js';
import { listed, pageOptions, type PageFlags } from './pages.js';

const COLUMNS: Column<Event>[] = [
  { header: 'TIME', get: (e) => e.time },
  { header: 'ACTOR', get: (e) => `${e.actor.kind}:${e.actor.name || '-'}` },
  { header: 'ACTION', get: (e) => e.action },
  { header: 'OBJECT', get: (e) => `${e.object.owner ? `${e.object.owner}/` : ''}${e.object.name ?? e.object.id ?? '-'}` },
  { header: 'RESULT', get: (e) => (e.result === 'ok' ? 'ok' : `error ${e.code ?? ''}`.trim()) },
  { header: 'MESSAGE', get: (e) => e.message },
];

/** One line per event as it comes: tab-separated for a table, one JSON object per line otherwise. */
function line(e: Event, output: OutputFormat): string {
  if (output !== 'table') return JSON.stringify(e);
  return COLUMNS.map((c) => safeText(String(c.get(e) ?? '-'))).join('\t');
}

export function eventsCommand(): Command {
  return pageOptions(
    new Command('events')
      .description('audit events: who changed what, when, and how it ended (your objects; an admin: --all or --owner)')
      .option('-f, --follow', 'stream events as they happen (from now) until interrupted')
      .option('--vm <name>', 'only events about this VM (name or id)')
      .option('--all', "every user's events (admins)")
      .option('--owner <user>', "one user's events (admins)"),
  )
    .addHelpText(
      'after',
      `
Every change is an event: a user's request through the API (refused ones too,
with their error code), the scheduler placing or failing over a VM, a host's
VM starting, running, stopping or failing, the imagescanner's imports. Events
are kept for event_retention (a week by default).
With --follow, each event is one line as it comes: tab-separated columns for
--output table, one JSON object per line for json or yaml.

Examples:
  ucloud events
  ucloud events --vm web1 --output json
  ucloud events --follow --vm web1
  ucloud events --follow --all -o json | jq 'select(.result == "error")'`,
    )
    .action(async (o: PageFlags & { follow?: boolean; vm?: string; all?: boolean; owner?: string }, cmd: Command) => {
      const { client, output } = cliContext(cmd);
      const q: EventQuery = { ...(o.vm ? { vm: o.vm } : {}), ...(o.all ? { all: true } : {}), ...(o.owner ? { owner: o.owner } : {}) };
      if (!o.follow) {
        const events = await listed(o, { list: () => client.events.list(q), page: (p) => client.events.page({ ...p, ...q }) });
        return printList(events, COLUMNS, output);
      }
      const stop = new AbortController();
      process.once('SIGINT', () => stop.abort());
      process.once('SIGTERM', () => stop.abort());
      if (output === 'table') process.stdout.write(`${COLUMNS.map((c) => c.header).join('\t')}\n`);
      await followEvents(client, q, { onEvent: (e) => process.stdout.write(`${line(e, output)}\n`), onBreak: (err) => note(`event stream broke (${(err as Error).message}); reconnecting`) }, stop.signal);
    });
}
