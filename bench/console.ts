// bench/console: keystroke → echo round trip through the WebSocket console
// (client → API → console keeper, handed the connection by the host agent →
// QEMU's serial socket → guest's tty echo → back) against a direct connection to the serial socket of a plain
// QEMU running the same guest image (same shell, same TCG), alternating one
// keystroke each. Prints medians side by side and what the console path adds;
// then the same after a restart of the host agent, whose consoles it relays
// (a keeper from an earlier agent has no channel to the new one).
// Usage: node dist/bench/console.js [keystrokes=200]   (root: real daemons and QEMU)
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import WebSocket from 'ws';
import { run } from '../src/common/exec.js';
import { readArgv } from '../src/common/proc.js';
import { TestCluster, until } from '../test/helpers/cluster.js';
import { guestVariant } from '../test/helpers/guest-variant.js';
import { benchArgs } from './args.js';
import { median } from './harness.js';

const { keystrokes: N } = benchArgs('usage: node dist/bench/console.js [keystrokes=200]   (or --keystrokes N; root: real daemons and QEMU)', { keystrokes: 200 }, { positional: ['keystrokes'] });
const APPEND = 'console=ttyS0 quiet no_timer_check 8250.nr_uarts=1 i8042.noaux i8042.nopnp cryptomgr.notests ucloud.shell';

/** One side: send bytes, and be told of every byte that comes back. */
interface Side {
  send(s: string): void;
  onData(f: (s: string) => void): void;
}

/** Types until the shell answers with 42: its prompt is up. */
async function shellUp(side: Side, what: string): Promise<void> {
  let out = '';
  side.onData((s) => (out += s));
  await until(`${what}: the shell answers`, () => {
    side.send('echo $((6*7))\r');
    return /^42\r?$/m.test(out);
  }, 180_000, 1000);
}

/** ms from sending one key to the first byte of its echo; `a` then backspace, so the line never grows. */
async function roundTrip(side: Side, key: string): Promise<number> {
  // Quiet first: the previous echo (and any guest noise) has passed.
  let last = performance.now();
  side.onData(() => (last = performance.now()));
  while (performance.now() - last < 30) await new Promise((r) => setTimeout(r, 10));
  return new Promise((resolve) => {
    const t0 = performance.now();
    side.onData(() => resolve(performance.now() - t0));
    side.send(key);
  });
}

function wsSide(ws: WebSocket): Side {
  let f: (s: string) => void = () => undefined;
  ws.on('message', (d: Buffer) => f(d.toString('latin1')));
  return { send: (s) => ws.send(s), onData: (g) => (f = g) };
}

function sockSide(s: Socket): Side {
  let f: (s: string) => void = () => undefined;
  s.on('data', (d: Buffer) => f(d.toString('latin1')));
  return { send: (x) => s.write(x), onData: (g) => (f = g) };
}

async function main(): Promise<void> {
  const c = await TestCluster.start();
  const image = guestVariant('shell', undefined, c.dir, { append: APPEND });
  let plain: ReturnType<typeof spawn> | undefined;
  try {
    await c.bootstrap({ guestImage: image });
    const alice = (await c.managers().users.create('alice', 'user')).token;
    const host = c.spawn('host');
    await Promise.all([c.spawn('api').ready, c.spawn('scheduler').ready, host.ready]);
    const client = c.client(alice);
    await client.vms.create({ name: 'b1', image: 'ucloud-test', cpu: 1, ram: '128MiB', disk: '1GiB' });
    await until('running', async () => (await client.vms.get('b1')).status === 'running', 120_000);

    // The plain QEMU: the same image, and the VM's own machine, CPU, memory and
    // vCPUs (a CPU model alone moves a TCG guest's echo by tenths of a ms), its
    // serial on a socket this process connects to directly.
    const vmId = (await client.vms.get('b1')).id;
    const vmArgs = readArgv(Number(await readFile(join(c.runDir, 'vms', vmId, 'qemu.pid'), 'utf8'))) ?? [];
    const same = ['-machine', '-cpu', '-m', '-smp'].flatMap((o) => (vmArgs.includes(o) ? [o, vmArgs[vmArgs.indexOf(o) + 1]!] : []));
    const disk = join(c.dir, 'plain.qcow2');
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', image, '-F', 'qcow2', disk, String(2 ** 30)]);
    const serial = join(c.dir, 'plain-serial.sock');
    plain = spawn(process.env.UCLOUD_QEMU_BINARY ?? 'qemu-system-x86_64', [...same, '-nodefaults', '-display', 'none', '-drive', `file=${disk},if=virtio`, '-chardev', `socket,id=s0,path=${serial},server=on,wait=off`, '-serial', 'chardev:s0'], { stdio: 'ignore' });
    const sock = await until('the plain QEMU listens', () => new Promise<Socket | undefined>((r) => {
      const s = connect(serial);
      s.once('connect', () => r(s));
      s.once('error', () => r(undefined));
    }), 20_000, 100);
    const direct = sockSide(sock);
    const ws = client.openConsole(await client.vms.consoleTicket('b1'));
    const viaApi = wsSide(ws);
    await Promise.all([shellUp(direct, 'plain QEMU'), shellUp(viaApi, 'ucloud VM')]);

    // One key each way in turn (`a`, then backspace, so the line never grows): both paths see the same moments.
    const alternate = async (a: Parameters<typeof roundTrip>[0], b: Parameters<typeof roundTrip>[0]) => {
      const xs: number[] = [];
      const ys: number[] = [];
      for (let i = 0; i < N; i++) {
        const key = i % 2 ? '\x7f' : 'a';
        xs.push(await roundTrip(a, key));
        ys.push(await roundTrip(b, key));
      }
      return [xs, ys] as const;
    };
    const [through, byHand] = await alternate(viaApi, direct);
    // The writer slot frees when the WebSocket goes: then the host agent's endpoint directly (without the API)…
    ws.close();
    await new Promise((r) => ws.once('close', r));
    const target = await c.managers().consoles.attachTarget((await client.vms.consoleTicket('b1')).ticket);
    const hostWs = new WebSocket(target.url, { headers: target.headers, perMessageDeflate: false });
    await new Promise((r, j) => hostWs.once('open', r).once('error', j));
    const viaHost = wsSide(hostWs);
    await shellUp(viaHost, 'the host endpoint directly');
    const [throughHost, byHand3] = await alternate(viaHost, direct);
    hostWs.close();
    await new Promise((r) => hostWs.once('close', r));
    // … then the keeper's socket itself, as the writer.
    const vm = await client.vms.get('b1');
    const keeperSock = connect(join(c.runDir, 'vms', vm.id, 'console.sock'));
    keeperSock.write('w');
    const keeper = sockSide(keeperSock);
    await shellUp(keeper, 'the keeper directly');
    const [viaKeeper, byHand2] = await alternate(keeper, direct);
    keeperSock.destroy();
    await new Promise((r) => keeperSock.once('close', r));
    // … and last the relayed path: a new agent did not start the keeper, so it relays through the attach socket.
    await host.kill9();
    await c.spawn('host').ready;
    const relayedWs = await until('a console through the restarted agent', async () => {
      const w = client.openConsole(await client.vms.consoleTicket('b1'));
      return new Promise<WebSocket | undefined>((r) => w.once('open', () => r(w)).once('error', () => r(undefined)));
    }, 60_000, 500);
    const relayed = wsSide(relayedWs);
    await shellUp(relayed, 'the relayed console');
    const [throughRelay, byHand4] = await alternate(relayed, direct);
    relayedWs.close();
    const p90 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.9)]!;
    const row = (what: string, xs: number[]) => console.log(`| ${what} | ${median(xs).toFixed(2)} ms | ${p90(xs).toFixed(2)} ms |`);
    console.log(`plain QEMU: ${same.join(' ')} (the VM's own)`);
    console.log(`\n## console: keystroke → echo (${N} each, alternating with the plain QEMU; TCG guest)`);
    console.log('| path | median | p90 |');
    console.log('|---|---|---|');
    row('WebSocket console (client → API → keeper, handed over by the host agent → QEMU)', through);
    row("direct to a plain QEMU's serial socket (same rounds)", byHand);
    row("the host endpoint directly (the keeper's WebSocket → QEMU)", throughHost);
    row("direct to a plain QEMU's serial socket (same rounds)", byHand3);
    row("the VM's keeper attach socket directly (keeper → QEMU)", viaKeeper);
    row("direct to a plain QEMU's serial socket (same rounds)", byHand2);
    row('relayed, after an agent restart (client → API → host agent → keeper → QEMU)', throughRelay);
    row("direct to a plain QEMU's serial socket (same rounds)", byHand4);
    const added = (xs: number[], ys: number[]) => median(xs) - median(ys);
    const [all, uptoHost, uptoKeeper, relay] = [added(through, byHand), added(throughHost, byHand3), added(viaKeeper, byHand2), added(throughRelay, byHand4)];
    console.log(`added by the whole console path: ${all.toFixed(2)} ms; of it the API hop ${(all - uptoHost).toFixed(2)} ms, the keeper's WebSocket against its attach socket ${(uptoHost - uptoKeeper).toFixed(2)} ms, the keeper hop ${uptoKeeper.toFixed(2)} ms (differences of medians)`);
    console.log(`relayed by the host agent (a keeper from an earlier agent): ${relay.toFixed(2)} ms added, ${(relay - all).toFixed(2)} ms more than handed over`);
    sock.destroy();
  } finally {
    plain?.kill('SIGKILL');
    await c.stop();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
