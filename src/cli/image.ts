import { Command } from 'commander';
import { formatSize } from '../common/units.js';
import type { Image } from '../model/index.js';
import { cliContext } from './context.js';
import { printList, type Column } from './output.js';

const COLUMNS: Column<Image>[] = [
  { header: 'NAME', get: (i) => i.name },
  { header: 'STORE', get: (i) => i.store },
  { header: 'STATUS', get: (i) => i.status },
  { header: 'SIZE', get: (i) => (i.volume ? formatSize(i.volume.virtualSize) : undefined) },
  { header: 'OWNER', get: (i) => i.owner },
  { header: 'PUBLIC', get: (i) => (i.public ? 'yes' : 'no') },
];

export function imageCommand(): Command {
  const image = new Command('image').description('OS images VMs are made from');
  image.command('list')
    .description('list the images you can use (yours and the public ones)')
    .action(async (_o: unknown, cmd: Command) => {
      const { client, output } = cliContext(cmd);
      printList(await client.images.list(), COLUMNS, output);
    });
  return image;
}
