import WebSocket from 'ws';
import type { Client } from '../client/client.js';
import { isErrorCode, UcloudError } from '../common/errors.js';

/** Ctrl-]: leaves the console, as in telnet and virsh. */
export const ESCAPE_BYTE = 0x1d;

/**
 * What a guest may not make the user's terminal do: OSC 52 (write the
 * clipboard, which a later paste into a host shell would run) and OSC 8
 * (hyperlinks), each ended by BEL or ST. Other output passes as the guest
 * wrote it; that is what a console is.
 */
// eslint-disable-next-line no-control-regex -- matching terminal control sequences is the point
const OSC_DENIED = /\x1b\](?:52|8);[^\x07\x1b]*(?:\x07|\x1b\\)/g;
/** An OSC 52/8 still open at the end of a chunk: held back until the next one ends it. */
// eslint-disable-next-line no-control-regex -- as above
const OSC_OPEN = /\x1b(?:\](?:(?:5|52|8)(?:;[^\x07\x1b]*)?)?)?$/;
/** Left behind by a guest, undone on leaving: attributes, alternate screen, mouse reporting, bracketed paste, a hidden cursor. */
export const TERMINAL_RESET = '\x1b[0m\x1b[?1049l\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l\x1b[?2004l\x1b[?25h';

/** Filters the guest's output stream chunk by chunk (latin1: one char per byte, so nothing is re-encoded). */
export function guestOutputFilter(): (chunk: Buffer) => Buffer {
  let held = '';
  return (chunk) => {
    let text = (held + chunk.toString('latin1')).replace(OSC_DENIED, '');
    const open = OSC_OPEN.exec(text);
    // A sequence held back longer than any real one is no sequence: let it go.
    held = open && open[0].length < 4096 ? open[0] : '';
    if (held) text = text.slice(0, text.length - held.length);
    return Buffer.from(text, 'latin1');
  };
}

/**
 * `ucloud vm console`: the terminal becomes the VM's serial console (raw mode,
 * so Ctrl-C, arrows and tab reach the guest) until Ctrl-] or the VM stops.
 * Resolves when the user left or the VM's console ended; anything else that
 * ends it is an error with its catalogue code (and so its exit code).
 */
export async function runConsole(client: Client, name: string, readOnly: boolean): Promise<void> {
  const ticket = await client.vms.consoleTicket(name, { readOnly });
  const ws = client.openConsole(ticket);
  const stdin = process.stdin;
  const raw = stdin.isTTY === true;
  let left = false;

  const say = (s: string) => process.stderr.write(`${raw ? '\r\n' : ''}${s}${raw ? '\r\n' : '\n'}`);
  const onInput = (d: Buffer) => {
    const at = d.indexOf(ESCAPE_BYTE);
    const keys = at < 0 ? d : d.subarray(0, at);
    if (keys.length && !readOnly && ws.readyState === WebSocket.OPEN) ws.send(keys);
    if (at >= 0) {
      left = true;
      ws.close(1000);
    }
  };

  try {
    await new Promise<void>((resolve, reject) => {
      ws.on('open', () => {
        say(`[connected to the console of ${name}${readOnly ? ', read-only' : ''}; Ctrl-] leaves]`);
        if (raw) stdin.setRawMode(true);
        stdin.on('data', onInput);
        stdin.resume();
      });
      const filter = guestOutputFilter();
      ws.on('message', (d: Buffer) => process.stdout.write(filter(d)));
      ws.on('error', (err) => {
        if (!left) reject(new UcloudError('API_UNREACHABLE', `the console WebSocket failed: ${err.message}`, { cause: err }));
      });
      ws.on('close', (code, why) => {
        const reason = why.toString();
        if (left) return resolve();
        if (code === 1000) {
          say(`[the console of ${name} ended: the VM stopped]`);
          return resolve();
        }
        const errCode = isErrorCode(reason) ? reason : 'CONSOLE_UNAVAILABLE';
        reject(new UcloudError(errCode, `the console of ${name} closed (${code}${reason ? ` ${reason}` : ''})`));
      });
    });
    if (left) say('[left the console]');
  } finally {
    if (process.stdout.isTTY) process.stdout.write(TERMINAL_RESET);
    if (raw) stdin.setRawMode(false);
    stdin.off('data', onInput);
    stdin.pause();
    ws.terminate();
  }
}
