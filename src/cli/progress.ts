// Progress on a terminal: one line per task (a layer written, measured or staged) with bytes, rate
// and a bar where the total is known, redrawn in place at most ten times a second; silent otherwise.
import { humanSize, type Io } from './io.js';

const REDRAW_MS = 100;
const BAR_WIDTH = 20;

interface Task {
  label: string;
  bytes: number;
  total?: number;
  started: number;
}

export class Progress {
  private readonly live = new Map<string, Task>();
  /** Lines of the live block now on the screen, to move back over when redrawing. */
  private drawn = 0;
  private lastDraw = -Infinity;
  private readonly now: () => number;

  constructor(private readonly io: Io, readonly enabled: boolean) {
    this.now = io.now ?? Date.now;
  }

  /** Shown on a terminal only, and never with --quiet. */
  static for(io: Io, quiet: boolean): Progress {
    return new Progress(io, io.stderrIsTty && !quiet);
  }

  start(key: string, label: string, total?: number): void {
    if (!this.enabled) return;
    this.live.set(key, { label, bytes: 0, started: this.now(), ...(total !== undefined ? { total } : {}) });
    this.draw(true);
  }

  update(key: string, bytes: number, total?: number): void {
    const task = this.live.get(key);
    if (!task) return;
    task.bytes = bytes;
    if (total !== undefined) task.total = total;
    this.draw(false);
  }

  /** The task's last line, with `note`, left above the live block for good. */
  done(key: string, note: string): void {
    const task = this.live.get(key);
    if (!task) return;
    this.live.delete(key);
    this.draw(true, `${this.fit(`${task.label}  ${note}`)}\n`);
  }

  /** A line (a warning, a notice) printed above the live block. */
  message(text: string): void {
    if (!this.enabled) {
      this.io.stderr(text);
      return;
    }
    this.draw(true, text);
  }

  /** Clears what is left of the live block (a failed run's tasks). */
  finish(): void {
    if (!this.enabled || this.drawn === 0) return;
    this.live.clear();
    this.draw(true);
  }

  private draw(force: boolean, above = ''): void {
    const now = this.now();
    if (!force && now - this.lastDraw < REDRAW_MS) return;
    this.lastDraw = now;
    // Back to the first line of the block, then every line cleared and written again.
    let out = this.drawn > 0 ? `\r\x1b[${this.drawn}A\x1b[J` : '';
    out += above;
    const lines = [...this.live.values()].map((t) => this.fit(this.line(t, now)));
    for (const l of lines) out += `${l}\n`;
    this.drawn = lines.length;
    if (out !== '') this.io.stderr(out);
  }

  private line(t: Task, now: number): string {
    const seconds = (now - t.started) / 1000;
    const rate = seconds >= 0.2 ? `  ${humanSize(t.bytes / seconds)}/s` : '';
    if (t.total !== undefined && t.total > 0) {
      const part = Math.min(1, t.bytes / t.total);
      const filled = Math.round(part * BAR_WIDTH);
      const bar = `[${'='.repeat(filled)}${filled < BAR_WIDTH ? '>' : ''}${' '.repeat(Math.max(0, BAR_WIDTH - filled - 1))}]`;
      return `${t.label}  ${bar} ${humanSize(t.bytes)}/${humanSize(t.total)}${rate}`;
    }
    return `${t.label}  ${humanSize(t.bytes)}${rate}`;
  }

  /** One screen line: a longer one would wrap and break the count of lines to move back over. */
  private fit(text: string): string {
    const width = Math.max(20, (this.io.columns ?? 80) - 1);
    const chars = [...text];
    return chars.length <= width ? text : `${chars.slice(0, width - 1).join('')}…`;
  }
}
