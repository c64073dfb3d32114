import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ticketHash } from '../../src/managers/consoles.js';
import type { ConsoleAttachTicket, Vm } from '../../src/model/index.js';
import { Keys, Kinds } from '../../src/store/keys.js';
import { BrowserSession, click, logIn } from '../helpers/browser.js';
import { TestCluster, until } from '../helpers/cluster.js';

/** The bytes a WebSocket received, read in order as a stream (RFB has no message framing of its own). */
class Stream {
  private buf = Buffer.alloc(0);
  private wake: (() => void) | undefined;
  readonly closed: Promise<{ code: number; reason: string }>;
  constructor(readonly ws: WebSocket) {
    ws.on('message', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.wake?.();
    });
    ws.on('error', () => undefined);
    this.closed = new Promise((r) =>
      ws.on('close', (code, why) => {
        r({ code, reason: why.toString() });
        this.wake?.();
      }),
    );
  }
  /** The next `n` bytes, woken by each message or the close; fails at the deadline or once closed short of them. */
  async read(n: number, timeoutMs = 20_000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    while (this.buf.length < n) {
      if (this.ws.readyState === WebSocket.CLOSED || Date.now() >= deadline) throw new Error(`wanted ${n} bytes, have ${this.buf.length} (WebSocket state ${this.ws.readyState})`);
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((r) => {
        this.wake = r;
        timer = setTimeout(r, deadline - Date.now());
      });
      clearTimeout(timer);
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }
}

// Issue 15: a VM's screen (display vnc): QEMU's VNC server on a unix socket on its host, reached through the console ticket path.
describe('vm display vnc: the VM screen over the console WebSocket (real QEMU, daemons, etcd)', () => {
  let c: TestCluster;
  let alice = '';
  let bob = '';
  let vm: Vm;
  const opened: WebSocket[] = [];

  const open = (t: ConsoleAttachTicket) => {
    const s = new Stream(c.client(alice).openConsole(t));
    opened.push(s.ws);
    return s;
  };
  /** The host endpoint's URL for a ticket the API minted (exchanged, as the API does, for one of the relay's own), with its path's last part swapped. */
  const hostUrl = async (t: ConsoleAttachTicket, last: 'console' | 'vnc') => {
    const target = await c.managers().consoles.attachTarget(t.ticket);
    return { url: target.url.replace(/\/(console|vnc)$/, `/${last}`), headers: target.headers };
  };
  /** What the host answers a WebSocket upgrade: the HTTP status and error code of a refusal, or 101. */
  const upgrade = ({ url, headers }: { url: string; headers: Record<string, string> }) =>
    new Promise<{ status: number; code?: string }>((resolve) => {
      const ws = new WebSocket(url, { headers });
      ws.on('error', () => undefined);
      ws.on('open', () => {
        ws.terminate();
        resolve({ status: 101 });
      });
      ws.on('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, code: (JSON.parse(body) as { code?: string }).code }));
      });
    });

  beforeAll(async () => {
    c = await TestCluster.start();
    // An empty disk: SeaBIOS writes "No bootable device" on the VGA text screen and QEMU keeps running: pixels without a guest to boot.
    await c.bootstrap({ guestImage: c.tinyImage() });
    const m = c.managers();
    alice = (await m.users.create('alice', 'user')).token;
    bob = (await m.users.create('bob', 'user')).token;
    const daemons = ['api', 'scheduler', 'host'].map((d) => c.spawn(d as 'api'));
    await Promise.all(daemons.map((d) => d.ready));
    await c.client(alice).vms.create({ name: 'desk1', image: 'ucloud-test', cpu: 1, ram: '64MiB', disk: '1GiB', display: 'vnc' });
    vm = await until('running', async () => {
      const v = await c.client(alice).vms.get('desk1');
      return v.status === 'running' && v;
    }, 90_000);
  }, 180_000);
  afterAll(async () => {
    for (const ws of opened) ws.terminate();
    await c?.stop();
  });

  it('is recorded on the VM and given to QEMU as a VGA card with VNC on a unix socket only', async () => {
    expect(vm.display).toBe('vnc');
    const argv = readFileSync(`/proc/${vm.qemu!.pid}/cmdline`, 'latin1').split('\0');
    expect(argv[argv.indexOf('-vnc') + 1]).toMatch(/^unix:\/.*\/vnc\.sock,share=force-shared$/);
    expect(argv.filter((a) => a === '-vnc')).toHaveLength(1);
    expect(argv[argv.indexOf('-device', argv.indexOf('-vga')) + 1]).toBe('VGA');
  });

  /** A screen through a fresh ticket, up to ServerInit: RFB 3.8, security None (the ticket was the authentication). */
  const screen = async (shared = true) => {
    const s = open(await c.client(alice).vms.consoleTicket('desk1', { display: 'vnc' }));
    expect((await s.read(12)).toString('latin1')).toBe('RFB 003.008\n');
    s.ws.send(Buffer.from('RFB 003.008\n', 'latin1'));
    const n = (await s.read(1))[0]!;
    expect([...(await s.read(n))]).toContain(1); // None
    s.ws.send(Buffer.from([1]));
    expect((await s.read(4)).readUInt32BE(0)).toBe(0); // SecurityResult OK
    s.ws.send(Buffer.from([shared ? 1 : 0])); // ClientInit
    // Asking for the screen alone, QEMU (share=force-shared) answers no ServerInit: it drops that client.
    if (!shared) return { s, width: 0, height: 0, bpp: 0 };
    const init = await s.read(24);
    await s.read(init.readUInt32BE(20)); // the desktop's name
    return { s, width: init.readUInt16BE(0), height: init.readUInt16BE(2), bpp: init[4]! };
  };

  it('speaks RFB 3.8 through the ticket: security None, a framebuffer, and pixels that are not all black', async () => {
    const { s, width, height, bpp } = await screen();
    expect(width).toBeGreaterThan(0);
    expect(height).toBeGreaterThan(0);
    expect([8, 16, 32]).toContain(bpp);
    // SetEncodings: Raw only, so every rectangle is plain pixels in the server's format.
    s.ws.send(Buffer.from([2, 0, 0, 1, 0, 0, 0, 0]));
    // Whole-screen updates until one shows something other than black (SeaBIOS's text; the screen may still be blank just after start).
    let lit = 0;
    let pixels = 0;
    await until('the screen shows something', async () => {
      const req = Buffer.alloc(10);
      req.writeUInt8(3, 0); // FramebufferUpdateRequest, not incremental
      req.writeUInt16BE(width, 6);
      req.writeUInt16BE(height, 8);
      s.ws.send(req);
      let head = await s.read(1);
      // Bell (2) or cut text (3) may come first; this test asks for nothing else.
      while (head[0] !== 0) {
        if (head[0] === 3) await s.read((await s.read(7)).readUInt32BE(3));
        head = await s.read(1);
      }
      const rects = (await s.read(3)).readUInt16BE(1);
      for (let i = 0; i < rects; i++) {
        const r = await s.read(12);
        expect(r.readInt32BE(8)).toBe(0); // Raw
        const data = await s.read(r.readUInt16BE(4) * r.readUInt16BE(6) * (bpp / 8));
        pixels += data.length / (bpp / 8);
        for (const b of data) if (b !== 0) lit++;
      }
      return lit > 0;
    }, 30_000, 500);
    expect(pixels).toBeGreaterThan(0);
    expect(lit).toBeGreaterThan(0);
    console.log(`vm-vnc: ServerInit ${width}x${height} ${bpp} bpp; ${pixels} pixels received, ${lit} bytes not black`);
    s.ws.close();
  }, 60_000);

  it('several watch one screen: a client asking for it alone is dropped, the others stay (share=force-shared)', async () => {
    const first = await screen();
    const second = await screen();
    const alone = await screen(false);
    expect((await alone.s.closed).code).toBe(1000);
    // The others still get answers: an update of one pixel each.
    for (const { s } of [first, second]) {
      s.ws.send(Buffer.from([3, 0, 0, 0, 0, 0, 0, 1, 0, 1]));
      expect((await s.read(1))[0]).toBe(0); // FramebufferUpdate
      expect(s.ws.readyState).toBe(WebSocket.OPEN);
      s.ws.close();
    }
  }, 60_000);

  it('a serial ticket does not open the screen, nor a vnc ticket the serial console (403 CONSOLE_TICKET_INVALID at the host)', async () => {
    const serial = await c.client(alice).vms.consoleTicket('desk1');
    expect(await upgrade(await hostUrl(serial, 'vnc'))).toEqual({ status: 403, code: 'CONSOLE_TICKET_INVALID' });
    const vnc = await c.client(alice).vms.consoleTicket('desk1', { display: 'vnc' });
    expect(await upgrade(await hostUrl(vnc, 'console'))).toEqual({ status: 403, code: 'CONSOLE_TICKET_INVALID' });
    // The host took each ticket on the wrong path: it is spent, not left for the right one.
    expect(await c.managers().store.get(Kinds.consoleTicket, Keys.consoleTicket(ticketHash(vnc.ticket)))).toBeUndefined();
    // On its own path each kind opens (101 only once the host has connected QEMU's VNC socket, or the keeper's).
    expect(await upgrade(await hostUrl(await c.client(alice).vms.consoleTicket('desk1', { display: 'vnc' }), 'vnc'))).toEqual({ status: 101 });
    expect(await upgrade(await hostUrl(await c.client(alice).vms.consoleTicket('desk1'), 'console'))).toEqual({ status: 101 });
  }, 60_000);

  it('refuses a screen for a VM created without a display (409 VM_NO_DISPLAY) and a read-only screen (VALIDATION_FAILED)', async () => {
    await c.client(alice).vms.create({ name: 'plain', image: 'ucloud-test', cpu: 1, ram: '64MiB', disk: '1GiB' });
    try {
      expect((await c.client(alice).vms.get('plain')).display).toBeUndefined();
      await expect(c.client(alice).vms.consoleTicket('plain', { display: 'vnc' })).rejects.toMatchObject({ code: 'VM_NO_DISPLAY' });
    } finally {
      await c.client(alice).vms.delete('plain');
    }
    await expect(c.client(alice).vms.consoleTicket('desk1', { display: 'vnc', readOnly: true })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
  });

  it("another user's VM is not found, by name or by id", async () => {
    await expect(c.client(bob).vms.consoleTicket('desk1', { display: 'vnc' })).rejects.toMatchObject({ code: 'VM_NOT_FOUND' });
    await expect(c.client(bob).vms.consoleTicket(vm.id, { display: 'vnc' })).rejects.toMatchObject({ code: 'VM_NOT_FOUND' });
  });

  it('the dashboard shows it: Screen opens noVNC under the strict CSP, and its canvas is not blank', async () => {
    const web = await BrowserSession.launch('web');
    try {
      const { page } = await web.newPage('alice');
      await page.goto(`${c.apiUrl}/`);
      await logIn(page, alice);
      await click(page, 'tr[data-vm="desk1"] [data-act="screen"]');
      // Under load (the whole suite on 2 cores) the RFB handshake through API, agent and QEMU has taken over 30 s.
      await page.waitForSelector('#screen-state[data-state="open"]', { timeout: 90_000 }).catch(async (err: unknown) => {
        throw new Error(`the screen did not open: ${(await page.$eval('#screen-state', (e) => `${e.getAttribute('data-state')}: ${e.textContent}`).catch(() => '?'))}`, { cause: err });
      });
      // Lit pixels in noVNC's canvas: the framebuffer arrived and was drawn (black would be a screen that never came).
      const lit = `(() => {
        const cv = document.querySelector('#screen canvas');
        if (!cv || cv.width === 0) return 0;
        const px = cv.getContext('2d').getImageData(0, 0, cv.width, cv.height).data;
        let n = 0;
        for (let i = 0; i < px.length; i += 4) if (px[i] + px[i + 1] + px[i + 2] > 96) n++;
        return n;
      })()`;
      await page.waitForFunction(`${lit} > 0`, { timeout: 60_000, polling: 250 });
      const [width, height, lighted] = (await page.evaluate(`[document.querySelector('#screen canvas').width, document.querySelector('#screen canvas').height, ${lit}]`)) as number[];
      expect(width! * height!).toBeGreaterThan(0);
      expect(lighted).toBeGreaterThan(100);
      console.log(`vm-vnc: noVNC canvas ${width}x${height}, ${lighted} lit pixels`);
      await web.shot(page, 'screen-vnc');
    } finally {
      await web.close();
    }
    expect(web.problems).toEqual([]);
    expect(web.urls.filter((u) => u.includes(alice))).toEqual([]);
  }, 240_000);

  // Deleted rather than stopped: a guest with nothing booted ignores the ACPI power button until stop_timeout.
  it('ends with 1000 when the VM\'s QEMU goes away', async () => {
    const s = open(await c.client(alice).vms.consoleTicket('desk1', { display: 'vnc' }));
    expect((await s.read(12)).toString('latin1')).toBe('RFB 003.008\n');
    await c.client(alice).vms.delete('desk1');
    expect((await s.closed).code).toBe(1000);
  }, 90_000);
});
