import { formatSize } from '../common/units.js';

/**
 * Progress of a long transfer on stderr: a bar redrawn in place when stderr is
 * a terminal, else one line per quarter (logs and CI stay short).
 */
export class Progress {
  private readonly tty = process.stderr.isTTY === true;
  private readonly started = Date.now();
  private lastDraw = 0;
  private nextQuarter = 0;

  constructor(
    private readonly label: string,
    private readonly total: number,
  ) {}

  update(done: number): void {
    const frac = this.total > 0 ? Math.min(1, done / this.total) : 1;
    if (this.tty) {
      const now = Date.now();
      if (now - this.lastDraw < 100 && done < this.total) return;
      this.lastDraw = now;
      const width = 30;
      const filled = Math.round(frac * width);
      const secs = (now - this.started) / 1000;
      const rate = secs > 0 ? `${formatSize(Math.round(done / secs))}/s` : '';
      process.stderr.write(`\r${this.label} [${'='.repeat(filled)}${' '.repeat(width - filled)}] ${String(Math.floor(frac * 100)).padStart(3)}% ${formatSize(done)}/${formatSize(this.total)} ${rate}\x1b[K`);
      return;
    }
    while (frac * 4 >= this.nextQuarter && this.nextQuarter <= 4) {
      process.stderr.write(`${this.label}: ${this.nextQuarter * 25}% (${formatSize(Math.round((this.total * this.nextQuarter) / 4))} of ${formatSize(this.total)})\n`);
      this.nextQuarter++;
    }
  }

  /** Ends the bar's line (a terminal) so later notes start on their own. */
  finish(): void {
    this.update(this.total);
    if (this.tty) process.stderr.write('\n');
  }
}
