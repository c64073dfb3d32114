import { Command, Option } from 'commander';
import { formatSize, parseDuration } from '../common/units.js';
import type { Image } from '../model/index.js';
import { cliContext } from './context.js';
import { note, printList, printObject, type Column } from './output.js';
import { listed, pageOptions, type PageFlags } from './pages.js';
import { waitForImage } from './wait.js';

const COLUMNS: Column<Image>[] = [
  { header: 'NAME', get: (i) => i.name },
  { header: 'OWNER', get: (i) => i.owner },
  { header: 'STORE', get: (i) => i.store },
  { header: 'STATUS', get: (i) => (i.status === 'importing' ? `importing ${Math.round((i.progress ?? 0) * 100)}%` : i.status) },
  { header: 'SIZE', get: (i) => (i.volume ? formatSize(i.volume.virtualSize) : undefined) },
  { header: 'PUBLIC', get: (i) => (i.public ? 'yes' : 'no') },
];

function fields(i: Image): [string, string | number | undefined][] {
  return [
    ['name', i.name],
    ['store', i.store],
    ['status', i.status],
    ['progress', i.progress === undefined ? undefined : `${Math.round(i.progress * 100)}%`],
    ['size', i.volume ? formatSize(i.volume.virtualSize) : undefined],
    ['format', i.volume?.format],
    ['owner', i.owner],
    ['public', i.public ? 'yes' : 'no'],
    ['from file', i.source ? `${i.source.name} (sha512 ${i.source.sha512.slice(0, 16)}…)` : undefined],
    ['last error', i.error ? `${i.error.code}: ${i.error.message}` : undefined],
    ['created', i.createdAt],
  ];
}

export function imageCommand(): Command {
  const image = new Command('image').description('OS images VMs are made from');

  pageOptions(image.command('list').description('list the images you can use (yours and the public ones)')).action(async (o: PageFlags, cmd: Command) => {
    const { client, output } = cliContext(cmd);
    printList(await listed(o, client.images), COLUMNS, output);
  });

  image.command('show <image>')
    .description('show an image: "name" (yours, else an admin\'s public one) or "owner/name"; status, import progress, size, source file')
    .action(async (ref: string, _o: unknown, cmd: Command) => {
      const { client, output } = cliContext(cmd);
      const img = await client.images.get(ref);
      printObject(img, output, fields(img));
    });

  image.command('create <name>')
    .description('make an image from one of your files (see `ucloud file list`): qcow2 or raw, converted and imported into a store; names are yours alone (others use it as "<you>/<name>" if --public)')
    .requiredOption('--from-file <file>', 'file name (as `ucloud file list` shows it) or id')
    .option('--store <store>', 'image store, see `ucloud image-store list` (default: default_image_store, else the only store)')
    .option('--public', 'let every user make VMs from it')
    .option('--wait', 'follow the import until the image is ready (progress on stderr)')
    .addOption(new Option('--timeout <duration>', 'how long --wait waits').default('30m'))
    .addHelpText('after', '\nExamples:\n  ucloud image create debian12 --from-file debian.qcow2 --wait\n  ucloud image create debian12 --from-file debian.qcow2 --store rbd --wait')
    .action(async (name: string, o: { fromFile: string; store?: string; public?: boolean; wait?: boolean; timeout: string }, cmd: Command) => {
      const { client, output } = cliContext(cmd);
      let img = await client.images.create({ name, file: o.fromFile, ...(o.store ? { store: o.store } : {}), ...(o.public ? { public: true } : {}) });
      if (o.wait) img = (await waitForImage(client, `${img.owner}/${img.name}`, 'ready', parseDuration(o.timeout)))!;
      printObject(img, output, fields(img));
    });

  image.command('delete <image>')
    .description('delete an image, "name" or "owner/name" (refused while VMs use it)')
    .option('--wait', 'wait until it is gone')
    .action(async (ref: string, o: { wait?: boolean }, cmd: Command) => {
      const { client } = cliContext(cmd);
      const img = await client.images.delete(ref);
      if (o.wait) await waitForImage(client, `${img.owner}/${img.name}`, 'deleted', 10 * 60_000);
      note(`${img.name}: ${o.wait ? 'deleted' : 'deleting'}`);
    });

  return image;
}
