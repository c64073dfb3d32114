import { spawn } from 'node:child_process';
import { basename, dirname } from 'node:path';
import { run } from '../common/exec.js';
import { UcloudError } from '../common/errors.js';
import type { DiskFormat } from './driver.js';
import { sandboxed, type SandboxFile } from './sandbox.js';

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

/** A user's file, open: qemu-img gets this descriptor, never a path it could be tricked into. */
export interface ConvertSource {
  fd: number;
  format: DiskFormat;
}

/**
 * Where the raw bytes go: an open file already `size` bytes long (nothing is
 * written past it), or the unix socket of an NBD server (see storage-daemon.ts), which
 * refuses writes past the size it exports.
 */
export type ConvertTarget = { fd: number; size: number } | { nbdSocket: string };

export interface ConvertOptions {
  onProgress?: (fraction: number) => void;
  /** Killed when it shows no progress for this long (default 5 min); fails with details.stalled. */
  idleMs?: number;
  /** Parallel requests (qemu-img -m); more helps a network target. */
  coroutines?: number;
  signal?: AbortSignal;
  /**
   * qemu-img starts only once this resolves (the sandbox around it is set up
   * meanwhile). For an NBD target whose export is still being made: QEMU's NBD
   * client tries a socket that is not there yet again only after 1 s, then 2,
   * 4… s (qemu 7.2, `open-timeout`), so a conversion that came too soon sat out
   * a whole second or three of every import. Rejected: the conversion is killed.
   */
  startWhen?: Promise<void>;
}

/**
 * The one conversion of a user's file into raw, used by every driver.
 *
 * qemu-img runs in the sandbox (sandbox.ts) and sees only the source as /in
 * (read-only) and the target; the format is forced to the one that was
 * inspected, and a qcow2 is opened with `backing: null`, so no backing file is
 * ever opened. An external data file cannot be switched off from the command
 * line (qemu 7.2 refuses a `data-file` option for an image without one), so a
 * header rewritten after inspection to name one makes qemu-img look for it in
 * the sandbox, where nothing exists: the conversion fails, no host byte is read.
 */
export async function convert(src: ConvertSource, target: ConvertTarget, opts: ConvertOptions = {}): Promise<void> {
  const file = { driver: 'file', filename: '/in', locking: 'off' };
  const spec = src.format === 'qcow2' ? { driver: 'qcow2', file, backing: null } : { driver: 'raw', file };
  // -n: the target exists (the driver made it, sized) and is all zeros: zero runs are skipped.
  const args = ['convert', '-p', '-n', '--target-is-zero', '-W', ...(opts.coroutines ? ['-m', String(opts.coroutines)] : []), `json:${JSON.stringify(spec)}`];
  const files: SandboxFile[] = [{ fd: src.fd, at: '/in' }];
  let dirs: { path: string; at: string }[] = [];
  let maxFileSize: number | undefined;
  if ('fd' in target) {
    // qemu-img checks the sizes itself; the kernel limit holds even if a header rewritten after inspection fools it.
    maxFileSize = target.size;
    files.push({ fd: target.fd, at: '/out', writable: true });
    args.push('-O', 'raw', '/out');
  } else {
    // Without startWhen the server may still be starting: open-timeout retries the connection (after 1 s, 2 s, …).
    dirs = [{ path: dirname(target.nbdSocket), at: '/nbd' }];
    args.push('--target-image-opts', `driver=raw,file.driver=nbd,file.server.type=unix,file.server.path=/nbd/${basename(target.nbdSocket)},file.open-timeout=30`);
  }
  const box = sandboxed(['qemu-img', ...args], { files, dirs, gated: opts.startWhen !== undefined, ...(maxFileSize === undefined ? {} : { maxFileSize }) });
  const idleMs = opts.idleMs ?? 300_000;
  await new Promise<void>((resolve, reject) => {
    const child = spawn(box.cmd, box.args, { stdio: box.stdio, env: {} });
    const err: Buffer[] = [];
    let buf = '';
    let stalled = false;
    let closed = false;
    const kill = () => child.kill('SIGKILL');
    opts.signal?.addEventListener('abort', kill, { once: true });
    if (opts.signal?.aborted) kill(); // aborted before the spawn: its 'abort' has fired already
    // Progress is watched from qemu-img's start: a wait at the gate is not a stall.
    let timer = opts.startWhen ? undefined : setTimeout(stall, idleMs);
    if (opts.startWhen) {
      child.stdin!.on('error', () => undefined); // gone already: its exit is reported below
      opts.startWhen.then(
        () => {
          if (closed) return;
          timer = setTimeout(stall, idleMs);
          child.stdin!.end('\n');
        },
        kill,
      );
    }
    function stall(): void {
      stalled = true;
      kill();
    }
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      buf += chunk;
      // progress lines look like "    (12.34/100%)\r"
      const parts = buf.split(/[\r\n]/);
      buf = parts.pop() ?? '';
      for (const p of parts) {
        const m = /\((\d+(?:\.\d+)?)\/100%\)/.exec(p);
        if (!m) continue;
        clearTimeout(timer);
        timer = setTimeout(stall, idleMs);
        opts.onProgress?.(Number(m[1]) / 100);
      }
    });
    child.stderr!.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => {
      closed = true;
      clearTimeout(timer);
      reject(new UcloudError('STORAGE_FAILED', `cannot run the import sandbox: ${e.message}`, { hint: 'apt-get install bubblewrap qemu-utils', cause: e }));
    });
    child.on('close', (code, signal) => {
      closed = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', kill);
      const stderr = Buffer.concat(err).toString('utf8').trim();
      const details = { command: ['qemu-img', ...args].join(' '), stderr: stderr.slice(-2000), ...(stalled ? { stalled: true } : {}) };
      if (stalled) reject(new UcloudError('STORAGE_FAILED', `qemu-img convert made no progress for ${idleMs / 1000} s`, { details }));
      else if (code !== 0) reject(new UcloudError('STORAGE_FAILED', `qemu-img convert failed (exit ${code ?? signal}): ${stderr.split('\n').pop() ?? ''}`, { details }));
      else resolve();
    });
  });
}

/**
 * Grows a VM disk that no process holds open. The format is forced and a qcow2
 * opens with `backing: null`, so nothing but this file is opened, whatever
 * backing file its header names; the caller has checked the header names no
 * external data file (fs driver's verifyDisk), which no option can switch off.
 */
export async function resize(path: string, format: DiskFormat, sizeBytes: number): Promise<void> {
  const file = { driver: 'file', filename: path };
  const spec = format === 'qcow2' ? { driver: 'qcow2', file, backing: null } : { driver: 'raw', file };
  await run('qemu-img', ['resize', '-q', '-f', format, `json:${JSON.stringify(spec)}`, String(sizeBytes)]);
}
