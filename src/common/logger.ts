import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';
import { safeText } from './safe-text.js';

export type { Logger } from 'pino';

// Each component writes structured JSON (with stack traces) to its own file and
// short human lines to stderr. Stacks never reach stderr: people read that.
const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const HIDDEN = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'component', 'err', 'stack']);

/**
 * One JSON log record as the short line people read on stderr. Names, file
 * names and messages may come from users (a file in a user's folder, a VM
 * name): the line is passed through safeText, so none of them drives the
 * operator's terminal.
 */
export function humanLine(json: string): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return `${safeText(json.replace(/\n$/, ''))}\n`;
  }
  const time = new Date(Number(rec.time)).toISOString().slice(11, 19);
  const level = LEVEL_NAMES[Number(rec.level)] ?? 'INFO';
  const extras = Object.entries(rec)
    .filter(([k]) => !HIDDEN.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  const err = rec.err as { code?: string; message?: string } | undefined;
  if (err) extras.push(`error=${err.code ? `${err.code}: ` : ''}${err.message ?? ''}`);
  return `${safeText(`${time} ${level.padEnd(5)} ${rec.component ?? ''}: ${rec.msg ?? ''}${extras.length ? ` ${extras.join(' ')}` : ''}`)}\n`;
}

export interface LoggerOptions {
  component: string;
  logDir?: string;
  level?: string;
  /** Human lines on stderr (default true). */
  stderr?: boolean;
}

export function createLogger(opts: LoggerOptions): Logger {
  const level = opts.level ?? 'info';
  const streams: pino.StreamEntry[] = [];
  if (opts.logDir) {
    mkdirSync(opts.logDir, { recursive: true });
    streams.push({ level: level as pino.Level, stream: pino.destination({ dest: join(opts.logDir, `${opts.component}.log`), sync: true, mkdir: true }) });
  }
  if (opts.stderr !== false) {
    const human = new Writable({
      write(chunk: Buffer, _enc, cb) {
        process.stderr.write(humanLine(chunk.toString()), () => cb());
      },
    });
    streams.push({ level: level as pino.Level, stream: human });
  }
  return pino({ level, base: { component: opts.component }, serializers: { err: pino.stdSerializers.err } }, pino.multistream(streams));
}

/** A logger that writes nowhere, for library code used without a daemon around it. */
export const silentLogger: Logger = pino({ level: 'silent' });
