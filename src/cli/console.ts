import WebSocket from 'ws';
import type { Client } from '../client/client.js';
import { isErrorCode, UcloudError } from '../common/errors.js';

/** Ctrl-]: leaves the console, as in telnet and virsh. */
export const ESCAPE_BYTE = 0x1d;

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
      ws.on('message', (d: Buffer) => process.stdout.write(d));
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
    if (raw) stdin.setRawMode(false);
    stdin.off('data', onInput);
    stdin.pause();
    ws.terminate();
  }
}
