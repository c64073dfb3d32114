import type { ServerResponse } from 'node:http';

const STEP = 64 * 1024;

/**
 * Buffers an answer is assembled in, each reused once the socket has taken
 * its bytes. A fresh buffer per answer is memory the allocator soon hands
 * back to the kernel and faults in again on the next request: on a VM whose
 * balloon reports free pages that costs more than the rest of a list request
 * (bench/scale, docs/performance.md). A buffer is handed back only after the
 * response's `finish` (its last write completed); an answer whose client went
 * away first leaves its buffer to the garbage collector, still safe to send.
 */
export class AnswerBuffers {
  private readonly free: Buffer[] = [];

  /** `keep`: free buffers held at most; `largest`: bigger answers get a buffer of their own. */
  constructor(
    private readonly keep = 32,
    private readonly largest = 1024 * 1024,
  ) {}

  /** `parts` joined, in a buffer that goes back to the pool when `res` has sent it. */
  join(parts: readonly Buffer[], res: ServerResponse): Buffer {
    let total = 0;
    for (const p of parts) total += p.length;
    if (total > this.largest) return Buffer.concat(parts, total);
    let buf = this.free.pop();
    if (!buf || buf.length < total) buf = Buffer.allocUnsafeSlow(Math.ceil(total / STEP) * STEP);
    let at = 0;
    for (const p of parts) at += p.copy(buf, at);
    const whole = buf;
    res.once('finish', () => {
      if (this.free.length < this.keep) this.free.push(whole);
    });
    return buf.subarray(0, total);
  }

  /** Free buffers held now (for tests). */
  get held(): number {
    return this.free.length;
  }
}
