import { FitAddon } from '@xterm/addon-fit';
import { Terminal } from '@xterm/xterm';
import { attachSocket, type ConsoleState } from './attach.js';
import { routeStyleElementsToSheets } from './style-shim.js';

let shimmed = false;

/**
 * A VM's serial console in `el` (docs/web.md, the console contract): a ticket
 * from `POST /v1/vms/:ref/console` (with the token), then a WebSocket to the
 * ticket's path whose first message is the ticket, so no secret is ever in a URL.
 * Returns a function that closes it.
 */
export function openConsole(el: HTMLElement, token: string, vmId: string, onState: (s: ConsoleState) => void): () => void {
  if (!shimmed) routeStyleElementsToSheets();
  shimmed = true;
  // Links the guest prints (OSC 8) are not followed: the guest is not to send people anywhere.
  const term = new Terminal({ cursorBlink: true, fontSize: 14, scrollback: 5000, fontFamily: 'ui-monospace, "DejaVu Sans Mono", monospace', linkHandler: { activate: () => undefined } });
  const fit = new FitAddon();
  term.loadAddon(fit);
  term.open(el);
  fit.fit();
  const onResize = () => fit.fit();
  window.addEventListener('resize', onResize);
  let ws: WebSocket | undefined;
  let closed = false;
  const ctl = new AbortController();
  onState({ kind: 'connecting', text: 'connecting…' });
  void (async () => {
    const a = await attachSocket(token, vmId, {}, ctl.signal);
    if (!a || closed) return;
    const sock = a.sock;
    ws = sock;
    sock.onopen = () => {
      sock.send(a.ticket);
      onState({ kind: 'open', text: 'connected' });
      term.focus();
    };
    sock.onmessage = (m: MessageEvent<ArrayBuffer | string>) => term.write(typeof m.data === 'string' ? m.data : new Uint8Array(m.data));
    sock.onclose = (e) => onState({ kind: 'closed', text: e.code === 1000 ? 'the VM stopped: console closed' : `console closed (${e.code}${e.reason ? ` ${e.reason}` : ''})` });
  })().catch((err: unknown) => {
    if (!closed) onState({ kind: 'unavailable', text: (err as Error).message });
  });
  term.onData((d) => {
    if (ws?.readyState === WebSocket.OPEN) ws.send(d);
  });
  return () => {
    closed = true;
    ctl.abort();
    ws?.close(1000);
    window.removeEventListener('resize', onResize);
    term.dispose();
  };
}
