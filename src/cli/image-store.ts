import { Command } from 'commander';
import type { ImageStore } from '../model/index.js';
import { cliContext } from './context.js';
import { printList, printObject, type Column } from './output.js';
import { listed, pageOptions, type PageFlags } from './pages.js';

const COLUMNS: Column<ImageStore>[] = [
  { header: 'NAME', get: (s) => s.name },
  { header: 'DRIVER', get: (s) => s.driver },
  { header: 'SETTINGS', get: (s) => Object.entries(s.settings).map(([k, v]) => `${k}=${String(v)}`).join(' ') },
];

export function imageStoreCommand(): Command {
  const cmd = new Command('image-store').description('where images and VM disks are kept (admin)');
  cmd.command('create <name>')
    .description('create an image store; the same name and settings again is a no-op')
    .requiredOption('--driver <driver>', 'fs or ceph')
    .option('--path <dir>', 'fs: the directory (images and VM disks go below it)')
    .option('--shared', 'fs: the directory is the same mount on every host (makes VMs migratable)')
    .option('--pool <pool>', 'ceph: the RBD pool')
    .option('--conf <file>', 'ceph: the ceph.conf to use (default: Ceph\'s own default)')
    .option('--user <id>', 'ceph: the client id (default: ucloud, created with caps on this pool only)')
    .addHelpText('after', '\nExamples:\n  ucloud image-store create local --driver fs --path /var/lib/ucloud/images\n  ucloud image-store create rbd --driver ceph --pool images --conf /etc/ceph/ceph.conf')
    .action(async (name: string, o: { driver: string; path?: string; shared?: boolean; pool?: string; conf?: string; user?: string }, c: Command) => {
      const { client, output } = cliContext(c);
      const settings: Record<string, string | boolean> = {};
      if (o.path) settings.path = o.path;
      if (o.shared) settings.shared = true;
      if (o.pool) settings.pool = o.pool;
      if (o.conf) settings.conf = o.conf;
      if (o.user) settings.user = o.user;
      printObject(await client.imageStores.create({ name, driver: o.driver, settings }), output);
    });
  pageOptions(cmd.command('list').description('list image stores')).action(async (o: PageFlags, c: Command) => {
    const { client, output } = cliContext(c);
    printList(await listed(o, client.imageStores), COLUMNS, output);
  });
  return cmd;
}
