import { run } from '../common/exec.js';
import { UcloudError } from '../common/errors.js';
import type { DiskFormat } from './driver.js';

// A small wrapper of the qemu-img commands ucloud uses; JSON output only, so no
// human text is ever parsed.

export interface ImageInfo {
  format: string;
  virtualSize: number;
  actualSize: number;
  backingFile?: string;
  dirty: boolean;
}

export async function info(path: string): Promise<ImageInfo> {
  // -U: read even while a running VM holds the write lock.
  const { stdout } = await run('qemu-img', ['info', '-U', '--output=json', path], { timeoutMs: 30_000 });
  const j = JSON.parse(stdout) as Record<string, unknown>;
  const backing = (j['backing-filename'] ?? j['full-backing-filename']) as string | undefined;
  return {
    format: String(j.format),
    virtualSize: Number(j['virtual-size']),
    actualSize: Number(j['actual-size'] ?? 0),
    dirty: Boolean(j['dirty-flag']),
    ...(backing ? { backingFile: backing } : {}),
  };
}

export async function createOverlay(path: string, backing: { path: string; format: DiskFormat }, sizeBytes: number): Promise<void> {
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', 'lazy_refcounts=on', '-b', backing.path, '-F', backing.format, path, String(sizeBytes)]);
}

export async function createEmpty(path: string, sizeBytes: number): Promise<void> {
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', path, String(sizeBytes)]);
}

export async function convert(src: { path: string; format: DiskFormat }, dst: { path: string; format: DiskFormat }, onProgress?: (fraction: number) => void): Promise<void> {
  // -p prints "(12.34/100%)" progress; -W writes out of order for speed.
  const args = ['convert', '-f', src.format, '-O', dst.format, '-W', src.path, dst.path];
  if (!onProgress) {
    await run('qemu-img', args, { timeoutMs: 6 * 3600_000 });
    return;
  }
  const { spawn } = await import('node:child_process');
  await new Promise<void>((resolve, reject) => {
    const child = spawn('qemu-img', ['convert', '-p', ...args.slice(1)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stdout.on('data', (b: Buffer) => {
      const m = /\((\d+(?:\.\d+)?)\/100%\)/g;
      let last: RegExpExecArray | null = null;
      for (let x = m.exec(b.toString()); x; x = m.exec(b.toString())) last = x;
      if (last) onProgress(Number(last[1]) / 100);
    });
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new UcloudError('COMMAND_FAILED', `qemu-img convert failed: ${err.trim().split('\n').pop() ?? ''}`, { details: { stderr: err.slice(-2000) } })),
    );
  });
}

export async function resize(path: string, format: DiskFormat, sizeBytes: number): Promise<void> {
  await run('qemu-img', ['resize', '-q', '-f', format, path, String(sizeBytes)]);
}
