import type { EpochEvent, ProgressEvent, TrainingReporter } from "../train/reporter.js";

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "--:--";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

export interface ProgressOptions {
  quiet?: boolean;
  /** Defaults to whether stderr is a terminal. */
  tty?: boolean;
  stream?: NodeJS.WritableStream & { columns?: number };
}

/**
 * Progress on stderr, drawn from the library's ProgressEvents. On a terminal: one live line with a bar,
 * samples/s, loss and ETA. Otherwise: one line per epoch. With quiet: nothing.
 */
export class ProgressReporter implements TrainingReporter {
  private readonly stream: NodeJS.WritableStream & { columns?: number };
  private readonly tty: boolean;
  private readonly quiet: boolean;
  private lastDraw = 0;
  private lineOpen = false;

  constructor(opts: ProgressOptions = {}) {
    this.stream = opts.stream ?? process.stderr;
    this.tty = opts.tty ?? Boolean((this.stream as { isTTY?: boolean }).isTTY);
    this.quiet = opts.quiet ?? false;
  }

  /** Phases running now (two when a teacher and a student train in parallel), drawn on one line. */
  private active = new Map<string, ProgressEvent>();

  onBatch(event: ProgressEvent): void {
    if (this.quiet || !this.tty) return;
    this.active.set(event.label, event);
    const now = performance.now();
    if (now - this.lastDraw < 100) return;
    this.lastDraw = now;
    const parts = [...this.active.values()].map((i) => {
      const frac = (i.epoch - 1 + i.step / i.stepsPerEpoch) / i.epochs;
      const width = this.active.size > 1 ? 10 : 24;
      const filled = Math.round(frac * width);
      const bar = "█".repeat(filled) + "░".repeat(width - filled);
      const detail = this.active.size > 1 ? "" : `  loss ${i.loss.toFixed(4)}`;
      return `${i.label} ${i.epoch}/${i.epochs} ${bar} ${(frac * 100).toFixed(0).padStart(3)}% ETA ${formatDuration(i.etaSeconds)}  ${Math.round(i.samplesPerSecond).toLocaleString("en-US")} samples/s${detail}`;
    });
    const cols = this.stream.columns ?? 120;
    this.stream.write(`\r\x1b[2K${parts.join("  |  ").slice(0, cols - 1)}`);
    this.lineOpen = true;
  }

  onPhaseEnd(label: string): void {
    this.active.delete(label);
  }

  onEpoch({ label, epochs, metrics: m }: EpochEvent): void {
    if (this.quiet) return;
    if (this.tty && this.lineOpen) {
      this.stream.write("\r\x1b[2K");
      this.lineOpen = false;
    }
    const val =
      m.valRmse !== undefined ? `, val RMSE ${Number(m.valRmse.toPrecision(4))}, R² ${m.valR2!.toFixed(3)}`
      : m.valAccuracy === undefined ? ""
      : `, val acc ${(m.valAccuracy * 100).toFixed(2)}%`;
    this.stream.write(
      `${label} epoch ${m.epoch}/${epochs}: loss ${m.loss.toFixed(4)}${val}, ${Math.round(m.samplesPerSecond).toLocaleString("en-US")} samples/s, ${m.seconds.toFixed(1)}s\n`,
    );
  }

  /** A plain status line (respects quiet). */
  info(message: string): void {
    if (this.quiet) return;
    if (this.tty && this.lineOpen) {
      this.stream.write("\r\x1b[2K");
      this.lineOpen = false;
    }
    this.stream.write(`${message}\n`);
  }
}
