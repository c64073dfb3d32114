import RFB from '@novnc/novnc';
import { attachSocket, type ConsoleState } from './attach.js';

/**
 * A VM's VNC screen in `el` (display vnc): the serial console's ticket path
 * with `display: 'vnc'`. The page opens the WebSocket itself and sends the
 * ticket as its first message, so the secret never is in a URL; from then on
 * the socket carries RFB, and noVNC takes it over. Returns a function that
 * closes it, and one that sends Ctrl-Alt-Del.
 */
export function openScreen(el: HTMLElement, token: string, vmId: string, onState: (s: ConsoleState) => void): { close: () => void; ctrlAltDel: () => void } {
  let rfb: RFB | undefined;
  let ws: WebSocket | undefined;
  let closed = false;
  const ctl = new AbortController();
  onState({ kind: 'connecting', text: 'connecting…' });
  void (async () => {
    const a = await attachSocket(token, vmId, { display: 'vnc' }, ctl.signal);
    if (!a || closed) return;
    const sock = a.sock;
    ws = sock;
    sock.onopen = () => {
      sock.send(a.ticket);
      // In the same task as the send: no frame of the server's can arrive before noVNC listens.
      const r = new RFB(el, sock, { shared: true });
      r.scaleViewport = true;
      r.addEventListener('connect', () => onState({ kind: 'open', text: 'connected' }));
      rfb = r;
    };
    // Before noVNC has it, or a refusal: the close code says why (the console's codes).
    sock.addEventListener('close', (e) => onState({ kind: 'closed', text: e.code === 1000 ? 'the VM stopped: screen closed' : `screen closed (${e.code}${e.reason ? ` ${e.reason}` : ''})` }));
  })().catch((err: unknown) => {
    if (!closed) onState({ kind: 'unavailable', text: (err as Error).message });
  });
  return {
    close: () => {
      closed = true;
      ctl.abort();
      if (rfb) rfb.disconnect();
      else ws?.close(1000);
    },
    ctrlAltDel: () => rfb?.sendCtrlAltDel(),
  };
}
