/** What a console or screen shows above itself. */
export type ConsoleState = { kind: 'connecting' | 'open' | 'closed' | 'unavailable'; text: string };

/**
 * A ticket from `POST /v1/vms/:ref/console` (with the token; `display: 'vnc'`
 * for the screen), then a WebSocket to the ticket's path. The ticket is its
 * first message, sent by the caller's `onopen`, so no secret is ever in a URL.
 * Undefined when the view closed meanwhile; an Error with the API's code and
 * hint when it refused.
 */
export async function attachSocket(token: string, vmId: string, request: { display?: 'vnc' }, signal: AbortSignal): Promise<{ sock: WebSocket; ticket: string } | undefined> {
  const res = await fetch(`/v1/vms/${encodeURIComponent(vmId)}/console`, {
    method: 'POST',
    // No body for the serial console: every field is optional (the contract), and none is wanted.
    headers: { authorization: `Bearer ${token}`, ...(request.display ? { 'content-type': 'application/json' } : {}) },
    ...(request.display ? { body: JSON.stringify(request) } : {}),
    signal,
  });
  const body = (await res.json().catch(() => ({}))) as { ticket?: string; path?: string; code?: string; message?: string; hint?: string };
  if (!res.ok || !body.ticket || !body.path) {
    throw new Error(res.status === 404 && /^no route/.test(body.message ?? '') ? 'this API serves no interactive console yet' : `${body.code ?? res.status}: ${body.message ?? ''}${body.hint ? ` (${body.hint})` : ''}`);
  }
  if (signal.aborted) return undefined;
  const url = new URL(body.path, location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const sock = new WebSocket(url);
  sock.binaryType = 'arraybuffer';
  return { sock, ticket: body.ticket };
}
