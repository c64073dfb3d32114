import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { basename } from 'node:path';
import { Command, Option } from 'commander';
import { UcloudError } from '../common/errors.js';
import { formatSize, parseDuration } from '../common/units.js';
import { checkUploadName } from '../managers/user-folder.js';
import type { UploadedFile, UserFile } from '../model/index.js';
import { cliContext } from './context.js';
import { note, printList, printObject, type Column } from './output.js';
import { listed, pageOptions, type PageFlags } from './pages.js';
import { Progress } from './progress.js';
import { waitForFile } from './wait.js';

const COLUMNS: Column<UserFile>[] = [
  { header: 'NAME', get: (f) => f.name },
  { header: 'SIZE', get: (f) => formatSize(f.sizeBytes) },
  { header: 'SHA512', get: (f) => f.sha512 },
  { header: 'SEEN', get: (f) => f.seenAt },
];

const CHUNK = 1 << 20;

/** The file's bytes from offset 0, one reused 1 MiB buffer at a time (the fd stays open for the next pass). */
async function* readAll(fh: FileHandle, size: number, onBytes: (done: number) => void): AsyncGenerator<Buffer> {
  let done = 0;
  while (done < size) {
    // A fresh buffer per chunk: the consumer (fetch) may still hold the previous one.
    const buf = Buffer.allocUnsafe(Math.min(CHUNK, size - done));
    const { bytesRead } = await fh.read(buf, 0, buf.length, done);
    if (bytesRead === 0) throw new UcloudError('CHECKSUM_MISMATCH', 'the file got shorter while being uploaded', { hint: 'upload it again once nothing writes to it' });
    done += bytesRead;
    onBytes(done);
    yield buf.subarray(0, bytesRead);
  }
}

export function fileCommand(): Command {
  const cmd = new Command('file').description('your files: what you put in your folder under files_path');
  pageOptions(cmd.command('list').description('list your files with their size and sha512')).action(async (o: PageFlags, c: Command) => {
    const { client, output } = cliContext(c);
    printList(await listed(o, client.files), COLUMNS, output);
  });

  cmd.command('delete <name>')
    .description('delete a file from your folder (images made from it are copies and stay; its record goes at the next filescanner pass)')
    .addHelpText('after', '\nExample:\n  ucloud file delete debian-12-genericcloud-amd64.qcow2')
    .action(async (name: string, _o: unknown, c: Command) => {
      const { client } = cliContext(c);
      await client.files.delete(name);
      process.stderr.write(`${name}: deleted\n`);
    });

  cmd.command('upload <path>')
    .description('stream a local file through the API into your folder (progress on stderr; its sha512 is checked by the API before the file takes its name)')
    .option('--name <name>', "its name in your folder (default: the file's own name)")
    .option('--replace', 'replace a file of that name (without it, an existing name is FILE_EXISTS)')
    .option('--wait', 'wait until `ucloud file list` shows it with that sha512 (the filescanner recorded it), so `image create` can use it')
    .addOption(new Option('--timeout <duration>', 'how long --wait waits').default('10m'))
    .addHelpText('after', '\nExample:\n  ucloud file upload debian-12-genericcloud-amd64.qcow2 --wait\n  ucloud image create debian12 --from-file debian-12-genericcloud-amd64.qcow2 --wait')
    .action(async (path: string, o: { name?: string; replace?: boolean; wait?: boolean; timeout: string }, c: Command) => {
      const { client, output } = cliContext(c);
      const name = o.name ?? basename(path);
      checkUploadName(name);
      const timeoutMs = parseDuration(o.timeout);
      let fh: FileHandle;
      try {
        fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
      } catch (err) {
        throw new UcloudError('FILE_NOT_FOUND', `cannot open ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { hint: 'give the path of a local file' });
      }
      let sent: UploadedFile;
      let sha512: string;
      try {
        const st = await fh.stat();
        if (!st.isFile()) throw new UcloudError('FILE_REFUSED', `${path} is not a regular file`, { hint: 'upload a regular file' });
        // One read for the digest first: the API is told it up front (Content-Digest) and refuses other bytes.
        const hashing = new Progress('hashing', st.size);
        const hash = createHash('sha512');
        for await (const chunk of readAll(fh, st.size, (n) => hashing.update(n))) hash.update(chunk);
        hashing.finish();
        sha512 = hash.digest('hex');
        const sending = new Progress('uploading', st.size);
        sent = await client.files.upload(name, readAll(fh, st.size, (n) => sending.update(n)), { sizeBytes: st.size, sha512, ...(o.replace ? { replace: true } : {}) });
        sending.finish();
      } finally {
        await fh.close();
      }
      if (sent.sha512 !== sha512) throw new UcloudError('CHECKSUM_MISMATCH', `the API stored sha512 ${sent.sha512.slice(0, 16)}…, not ${sha512.slice(0, 16)}…`);
      note(`${name}: ${formatSize(sent.sizeBytes)}, sha512 ${sent.sha512}`);
      if (o.wait) await waitForFile(client, name, sha512, timeoutMs);
      printObject(sent, output, [
        ['name', sent.name],
        ['size', formatSize(sent.sizeBytes)],
        ['sha512', sent.sha512],
      ]);
    });
  return cmd;
}
