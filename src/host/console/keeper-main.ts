// `ucloud console-keeper --dir D --socket S --log L --size BYTES [--attach A]`: what the
// host agent runs, one per VM. bin/ucloud comes here before loading the CLI
// (commander, the API client, every command), which would double the keeper's
// memory for nothing; it is not in `ucloud --help` because people never run it.

import { parseArgs } from 'node:util';
import { runKeeper } from './keeper.js';

export async function keeperMain(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { dir: { type: 'string' }, socket: { type: 'string' }, log: { type: 'string' }, size: { type: 'string' }, attach: { type: 'string' } },
    strict: true,
  });
  const { dir, socket, log, size, attach } = values;
  if (!dir || !socket || !log || !size || !/^\d+$/.test(size)) {
    process.stderr.write('usage: ucloud console-keeper --dir DIR --socket PATH --log PATH --size BYTES [--attach PATH]\n');
    process.exit(2);
  }
  await runKeeper({ dir, socket, log, capBytes: Number(size), ...(attach ? { attach } : {}) });
  process.exit(0);
}
