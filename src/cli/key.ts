import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { UcloudError } from '../common/errors.js';
import type { SshKey } from '../model/index.js';
import { cliContext } from './context.js';
import { note, printList, printObject, type Column } from './output.js';
import { listed, pageOptions, type PageFlags } from './pages.js';

const COLUMNS: Column<SshKey>[] = [
  { header: 'NAME', get: (k) => k.name },
  { header: 'TYPE', get: (k) => k.type },
  { header: 'BITS', get: (k) => k.bits },
  { header: 'FINGERPRINT', get: (k) => k.fingerprint },
];

const fields = (k: SshKey): [string, string | number | undefined][] => [
  ['name', k.name],
  ['type', k.type],
  ['bits', k.bits],
  ['fingerprint', k.fingerprint],
  ['key', k.publicKey],
  ['added', k.createdAt],
];

export function keyCommand(): Command {
  const key = new Command('key').description('your SSH public keys: every VM you own gets them (through the metadata server)');
  key.command('add <name>')
    .description('add an OpenSSH public key (ed25519, ecdsa, or rsa of 2048 bits or more)')
    .requiredOption('--file <path>', 'the .pub file, or - for standard input')
    .addHelpText('after', '\nExample:\n  ucloud key add laptop --file ~/.ssh/id_ed25519.pub')
    .action(async (name: string, o: { file: string }, cmd: Command) => {
      const { client, output } = cliContext(cmd);
      let text: string;
      try {
        text = readFileSync(o.file === '-' ? 0 : o.file, 'utf8');
      } catch (err) {
        throw new UcloudError('VALIDATION_FAILED', `cannot read ${o.file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
      const k = await client.keys.add(name, text.trim());
      printObject(k, output, fields(k));
    });
  pageOptions(key.command('list').description('list your keys with their fingerprints')).action(async (o: PageFlags, cmd: Command) => {
    const { client, output } = cliContext(cmd);
    printList(await listed(o, client.keys), COLUMNS, output);
  });
  key.command('show <name>')
    .description('show a key')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const { client, output } = cliContext(cmd);
      const k = await client.keys.get(name);
      printObject(k, output, fields(k));
    });
  key.command('delete <name>')
    .description('delete a key (VMs that already installed it keep it)')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const { client } = cliContext(cmd);
      await client.keys.delete(name);
      note(`${name}: deleted`);
    });
  return key;
}
