// The console keeper: one small process per VM (`ucloud console-keeper`,
// started detached by the host agent) that holds the client end of QEMU's
// serial socket and writes what the guest prints into a size-capped log. It
// outlives the agent, as conmon outlives a container engine, so a restarted
// agent loses no output and a guest never blocks on a full socket.
//
// QEMU's socket chardev serves one client at a time: the keeper is that client.
// Interactive consoles attach to the keeper (attach.ts), not to QEMU, which is
// why the keeper, not QEMU, owns the log.

import { existsSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { AttachHub, logTail } from './attach.js';
import { acceptHandovers } from './handover.js';
import { RotatingLog } from './log-ring.js';

export interface KeeperOptions {
  /** QEMU's serial socket (QEMU listens: server=on,wait=off). */
  socket: string;
  /** The log file; `<log>.1` holds the previous half. */
  log: string;
  capBytes: number;
  /** The VM's run directory: when it is gone (VM deleted), the keeper ends. */
  dir: string;
  /** Where interactive consoles attach (absent: none can). */
  attach?: string;
}

const RETRY_FIRST_MS = 50;
const RETRY_MAX_MS = 1000;
const READ_BUFFER_BYTES = 64 * 1024;

export async function runKeeper(o: KeeperOptions): Promise<void> {
  const log = new RotatingLog(o.log, o.capBytes);
  const readBuffer = Buffer.alloc(READ_BUFFER_BYTES);
  let sock: Socket | undefined;
  let retryMs = RETRY_FIRST_MS;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let done: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const hub = o.attach ? new AttachHub({ path: o.attach, replay: () => logTail(o.log), target: () => sock }) : undefined;

  const stop = () => {
    if (stopped) return;
    stopped = true;
    if (timer) clearTimeout(timer);
    sock?.destroy();
    // The clients' ends first (a WebSocket's 1000 must reach it before the process exits).
    void (hub?.close() ?? Promise.resolve()).finally(() => {
      log.close();
      done();
    });
  };

  const attach = () => {
    timer = undefined;
    if (!existsSync(o.dir)) return stop();
    // Every read lands in the same buffer and is written out synchronously
    // before the next read: a flood costs the guest speed (QEMU stops reading
    // the UART when the socket is full), never the keeper memory.
    const onread = {
      buffer: readBuffer,
      callback: (n: number, buf: Uint8Array) => {
        const chunk = Buffer.from(buf.buffer, buf.byteOffset, n);
        // Viewers first: the log's synchronous write is not in a keystroke's echo.
        hub?.broadcast(chunk);
        log.write(chunk);
        return true;
      },
    };
    const s = connect({ path: o.socket, onread });
    sock = s;
    let connected = false;
    s.on('connect', () => {
      connected = true;
      retryMs = RETRY_FIRST_MS;
    });
    s.on('error', () => undefined);
    s.on('close', () => {
      if (stopped || sock !== s) return;
      sock = undefined;
      // The guest's console is gone (QEMU stopped or restarts): attached clients learn it by their stream's end.
      if (connected) hub?.endAll();
      // QEMU not up yet, restarting, or stopped: try again, slower each time.
      timer = setTimeout(attach, retryMs);
      retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
    });
  };

  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  await hub?.listen();
  if (hub) acceptHandovers(hub);
  attach();
  return finished;
}
