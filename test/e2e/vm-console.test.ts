import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { UcloudError } from '../../src/common/errors.js';
import { ticketHash } from '../../src/managers/consoles.js';
import type { ConsoleAttachTicket, Vm } from '../../src/model/index.js';
import { Keys, Kinds } from '../../src/store/keys.js';
import { TestCluster, UCLOUD, until, type Daemon } from '../helpers/cluster.js';
import { guestVariant } from '../helpers/guest-variant.js';

// The test guest with a root shell on ttyS0 (guest/build-image.sh: `ucloud.shell`).
const APPEND = 'console=ttyS0 quiet no_timer_check 8250.nr_uarts=1 i8042.noaux i8042.nopnp cryptomgr.notests ucloud.shell';

/** One WebSocket console: what it printed, and how it closed. */
interface Attached {
  ws: WebSocket;
  text: () => string;
  closed: Promise<{ code: number; reason: string }>;
  type: (s: string) => void;
}

// Issue 15: the interactive serial console, in the browser (WebSocket) and the terminal.
describe('vm console: the interactive serial console (real QEMU, daemons, etcd)', () => {
  let c: TestCluster;
  let alice = '';
  let bob = '';
  let vm: Vm;
  let daemons: Daemon[] = [];
  const attached: Attached[] = [];

  const open = (t: ConsoleAttachTicket, token = alice): Attached => {
    const ws = c.client(token).openConsole(t);
    let out = '';
    ws.on('message', (d: Buffer) => (out += d.toString('latin1')));
    ws.on('error', () => undefined);
    const closed = new Promise<{ code: number; reason: string }>((r) => ws.on('close', (code, why) => r({ code, reason: why.toString() })));
    const a = { ws, text: () => out, closed, type: (s: string) => ws.send(s) };
    attached.push(a);
    return a;
  };
  const attach = async (opts: { readOnly?: boolean } = {}) => open(await c.client(alice).vms.consoleTicket('sh1', opts));
  const sees = (a: Attached, re: RegExp, what = String(re)) => until(`the console shows ${what}`, () => re.test(a.text()), 30_000, 100);

  beforeAll(async () => {
    c = await TestCluster.start();
    await c.bootstrap({ guestImage: guestVariant('shell', undefined, c.dir, { append: APPEND }) });
    const m = c.managers();
    alice = (await m.users.create('alice', 'user')).token;
    bob = (await m.users.create('bob', 'user')).token;
    daemons = ['api', 'scheduler', 'host'].map((d) => c.spawn(d as 'api'));
    await Promise.all(daemons.map((d) => d.ready));
    await c.client(alice).vms.create({ name: 'sh1', image: 'ucloud-test', cpu: 1, ram: '128MiB', disk: '1GiB' });
    vm = await until('running', async () => {
      const v = await c.client(alice).vms.get('sh1');
      return v.status === 'running' && v;
    }, 90_000);
  }, 240_000);
  afterAll(async () => {
    for (const a of attached) a.ws.terminate();
    await c?.stop();
  });

  it('reaches the shell on ttyS0: a command typed runs and its output comes back', async () => {
    const a = await attach();
    // The shell starts late in the boot: type until it answers (the typed line shows `$((6*7))`, only the shell prints 42).
    await until('the shell answered', () => {
      if (a.ws.readyState === WebSocket.OPEN) a.type('echo $((6*7))\r');
      return /^42\r?$/m.test(a.text());
    }, 120_000, 1000).catch(async (err: Error) => {
      const closed = a.ws.readyState === WebSocket.CLOSED ? JSON.stringify(await a.closed) : `state ${a.ws.readyState}`;
      const logs = daemons.map((d) => `${d.name}: ${d.stderr().split('\n').filter((l) => /console|error|warn/i.test(l)).slice(-15).join('\n')}`).join('\n');
      throw new Error(`${err.message}; WebSocket ${closed}; the console showed: ${JSON.stringify(a.text().slice(-2000))}\n${logs}`);
    });
    expect(a.text()).toMatch(/root@ucloud-guest:\/# /);
    a.ws.close();
  }, 180_000);

  it('refuses a wrong, an expired, a reused, a console-log ticket and none within 5 s with 4403 CONSOLE_TICKET_INVALID', async () => {
    const refused = { code: 4403, reason: 'CONSOLE_TICKET_INVALID' };
    const t = await c.client(alice).vms.consoleTicket('sh1');
    expect(t.ticket).toMatch(/^[0-9a-f]{64}$/);
    expect(t.path).toBe('/v1/console');
    expect(Date.parse(t.expiresAt) - Date.now()).toBeGreaterThan(20_000);
    expect(await open({ ...t, ticket: randomBytes(32).toString('hex') }).closed).toEqual(refused);
    // Used once: it works; the second time it does not.
    const first = open(t);
    await sees(first, /# /, 'the replayed prompt');
    expect(await open(t).closed).toEqual(refused);
    first.ws.close();
    // No ticket at all: the API waits 5 s for it.
    const silent = new WebSocket(`${c.apiUrl.replace(/^http/, 'ws')}/v1/console`);
    silent.on('error', () => undefined);
    const t0 = Date.now();
    const silentClosed = await new Promise<{ code: number; reason: string }>((r) => silent.on('close', (code, why) => r({ code, reason: why.toString() })));
    expect(silentClosed).toEqual(refused);
    expect(Date.now() - t0).toBeGreaterThan(4_500);
    // Expired, though still in etcd; and one minted for the log's tail, not the console.
    const store = c.newStore();
    try {
      for (const extra of [{ kind: 'serial' as const, expiresAt: new Date(Date.now() - 1000).toISOString() }, { expiresAt: new Date(Date.now() + 20_000).toISOString() }]) {
        const secret = randomBytes(32).toString('hex');
        await store.put(Kinds.consoleTicket, Keys.consoleTicket(ticketHash(secret)), { vm: vm.id, host: vm.host!, ...extra });
        expect(await open({ ...t, ticket: secret }).closed).toEqual(refused);
      }
    } finally {
      store.close();
    }
  }, 60_000);

  it("another user's VM is not found, by name or by id", async () => {
    await expect(c.client(bob).vms.consoleTicket('sh1')).rejects.toMatchObject({ code: 'VM_NOT_FOUND' } satisfies Partial<UcloudError>);
    await expect(c.client(bob).vms.consoleTicket(vm.id)).rejects.toMatchObject({ code: 'VM_NOT_FOUND' });
  });

  it("several watch the same output; only the writer's keystrokes reach the guest", async () => {
    const writer = await attach();
    await sees(writer, /# /, 'the replayed prompt');
    const second = await attach(); // read-write, but the slot is taken: a viewer
    const viewer = await attach({ readOnly: true });
    await sees(second, /# /, 'the replayed prompt');
    await sees(viewer, /# /, 'the replayed prompt');
    second.type('echo second-$((2+3))\r');
    viewer.type('echo viewer-$((3+4))\r');
    writer.type('echo writer-$((1+1))\r');
    for (const a of [writer, second, viewer]) await sees(a, /^writer-2\r?$/m, 'writer-2');
    // Typed before the writer's command: had they reached the guest, their output would be there by now.
    for (const a of [writer, second, viewer]) expect(a.text()).not.toMatch(/second-5|viewer-7/);
    // The writer leaves: the read-write one takes the slot; the read-only one still cannot type.
    writer.ws.close();
    await writer.closed;
    viewer.type('echo viewer-$((4+4))\r');
    await until('the second takes the slot', () => {
      second.type('echo second-$((5+5))\r');
      return /^second-10\r?$/m.test(viewer.text());
    }, 10_000, 500);
    expect(viewer.text()).not.toMatch(/viewer-8/);
    second.ws.close();
    viewer.ws.close();
  }, 60_000);

  it('the CLI in a real terminal (script): runs a command, Ctrl-] leaves with exit 0', async () => {
    const env = { ...c.env, UCLOUD_URL: c.apiUrl, UCLOUD_TOKEN: alice };
    const child = spawn('script', ['-qefc', `${process.execPath} ${UCLOUD} vm console sh1`, '/dev/null'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('latin1')));
    child.stderr.on('data', (d: Buffer) => (out += d.toString('latin1')));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    await until('connected', () => out.includes('Ctrl-] leaves'), 20_000, 100);
    child.stdin.write('echo cli-$((7*6))\r');
    await until('the command ran', () => /^cli-42\r?$/m.test(out), 20_000, 100);
    child.stdin.write('\x1d');
    expect(await exited).toBe(0);
    expect(out).toContain('[left the console]');
  }, 60_000);

  it("one ticket on two sockets at once: one console opens, the other is refused by the API; a user racing so never gets the API turned away by the host", async () => {
    // The host turns away a source after 20 refused tickets a minute: had the API relayed both, the host would refuse one
    // of each pair (it takes a ticket once), and after 20 pairs every console through this API to that host.
    for (let i = 0; i < 25; i++) {
      const t = await c.client(alice).vms.consoleTicket('sh1', { readOnly: true });
      const pair = [open(t), open(t)];
      const first = await Promise.race(pair.map((a, k) => a.closed.then((why) => ({ k, why }))));
      expect(first.why).toEqual({ code: 4403, reason: 'CONSOLE_TICKET_INVALID' });
      const other = pair[1 - first.k]!;
      await sees(other, /# /, `the replayed prompt (pair ${i})`);
      other.ws.close();
    }
    const a = await attach({ readOnly: true });
    await sees(a, /# /, 'the replayed prompt after the races');
    a.ws.close();
  }, 120_000);

  it("ends when the token it was opened with is revoked (4401), within the API's re-check", async () => {
    const m = c.managers();
    const second = await m.users.issueToken('alice', { name: 'console-only' });
    const a = open(await c.client(second.token).vms.consoleTicket('sh1'), second.token);
    await sees(a, /# /, 'the replayed prompt');
    const t0 = Date.now();
    await m.users.revokeToken('alice', second.info.id);
    const closed = await a.closed;
    expect(closed.code).toBe(4401);
    expect(closed.reason).toMatch(/^(UNAUTHENTICATED|TOKEN_EXPIRED)$/);
    // CONSOLE_RECHECK_MS (10 s) and the API's token cache following the revocation.
    expect(Date.now() - t0).toBeLessThan(25_000);
  }, 60_000);

  it('the keeper its agent started holds the console itself (handed over, not relayed), past the agent\'s stop; after an agent restart it is relayed and works', async () => {
    const keeper = Number(readFileSync(join(c.runDir, 'vms', vm.id, 'keeper.pid'), 'utf8').split(' ')[0]);
    const a = await attach();
    await sees(a, /# /, 'the replayed prompt');
    expect(tcpConnections(keeper)).toBe(1);
    a.type('echo handed-$((20+3))\r');
    await sees(a, /^handed-23\r?$/m, 'handed-23');
    // The agent stops by itself (SIGTERM), not killed after 15 s waiting for the console it handed over…
    const agent = daemons[2]!;
    await agent.stop();
    expect(agent.child.signalCode).not.toBe('SIGKILL');
    // … and the console goes on without it.
    a.type('echo without-agent-$((1+1))\r');
    await sees(a, /^without-agent-2\r?$/m, 'without-agent-2');
    a.ws.close();
    await until('the keeper let the connection go', () => tcpConnections(keeper) === 0, 10_000);
    // A new agent did not start this keeper: no channel to it, so the console goes through the attach socket.
    daemons[2] = c.spawn('host');
    await daemons[2].ready;
    const b = await until('a console through the new agent', async () => attach().catch(() => undefined), 30_000, 500);
    await sees(b, /# /, 'the replayed prompt');
    b.type('echo relayed-$((40+2))\r');
    await sees(b, /^relayed-42\r?$/m, 'relayed-42');
    expect(tcpConnections(keeper)).toBe(0);
    b.ws.close();
    // The stopped agent's lease went with it: the VM may pass through HOST_DEAD until the new one takes it back.
    const store = c.newStore();
    try {
      await until('sh1 running under the new agent', async () => {
        const alive = await store.get(Kinds.hostAlive, Keys.hostAlive(vm.host!));
        const v = await c.client(alice).vms.get('sh1');
        return v.status === 'running' && alive !== undefined && v.epoch === alive.value.epoch;
      }, 60_000, 250);
    } finally {
      store.close();
    }
  }, 120_000);

  it('ends with 1000 when the VM stops', async () => {
    const a = await attach({ readOnly: true });
    await sees(a, /# /, 'the replayed prompt');
    await c.client(alice).vms.stop('sh1');
    expect((await a.closed).code).toBe(1000);
    await until('stopped', async () => (await c.client(alice).vms.get('sh1')).status === 'stopped', 60_000);
    await expect(c.client(alice).vms.consoleTicket('sh1')).rejects.toMatchObject({ code: 'VM_NOT_RUNNING' });
  }, 90_000);
});

/** TCP connections a process holds (its socket fds found in its network namespace's TCP tables). */
function tcpConnections(pid: number): number {
  const inodes = new Set<string>();
  for (const table of ['tcp', 'tcp6']) {
    for (const line of readFileSync(`/proc/${pid}/net/${table}`, 'utf8').split('\n').slice(1)) {
      const inode = line.trim().split(/\s+/)[9];
      if (inode && inode !== '0') inodes.add(inode);
    }
  }
  let n = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    const target = (() => {
      try {
        return readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        return '';
      }
    })();
    const m = /^socket:\[(\d+)\]$/.exec(target);
    if (m && inodes.has(m[1]!)) n++;
  }
  return n;
}
