import { Command } from 'commander';
import { formatSize } from '../common/units.js';
import type { UserFile } from '../model/index.js';
import { cliContext } from './context.js';
import { printList, type Column } from './output.js';

const COLUMNS: Column<UserFile>[] = [
  { header: 'NAME', get: (f) => f.name },
  { header: 'SIZE', get: (f) => formatSize(f.sizeBytes) },
  { header: 'SHA512', get: (f) => f.sha512 },
  { header: 'SEEN', get: (f) => f.seenAt },
];

export function fileCommand(): Command {
  const cmd = new Command('file').description('your files: what you put in your folder under files_path');
  cmd.command('list')
    .description('list your files with their size and sha512')
    .action(async (_o: unknown, c: Command) => {
      const { client, output } = cliContext(c);
      printList(await client.files.list(), COLUMNS, output);
    });
  return cmd;
}
