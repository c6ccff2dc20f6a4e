import type { EpochMetrics, StepInfo, TrainingReporter } from "../train/reporter.js";

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
 * Progress on stderr. On a terminal: one live line with a bar, samples/s, loss and ETA. Otherwise: one line
 * per epoch. With quiet: nothing.
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

  onStep(info: StepInfo): void {
    if (this.quiet || !this.tty) return;
    const now = performance.now();
    const done = info.step === info.stepsPerEpoch;
    if (!done && now - this.lastDraw < 100) return;
    this.lastDraw = now;
    const frac = (info.epoch + info.step / info.stepsPerEpoch) / info.epochs;
    const width = 24;
    const filled = Math.round(frac * width);
    const bar = "█".repeat(filled) + "░".repeat(width - filled);
    const line =
      `${info.label.padEnd(14)} epoch ${info.epoch + 1}/${info.epochs} ${bar} ${(frac * 100).toFixed(0).padStart(3)}% ` +
      `${Math.round(info.samplesPerSecond).toLocaleString("en-US")} samples/s  loss ${info.loss.toFixed(4)}  ETA ${formatDuration(info.etaSeconds)}`;
    const cols = this.stream.columns ?? 120;
    this.stream.write(`\r\x1b[2K${line.slice(0, cols - 1)}`);
    this.lineOpen = true;
  }

  onEpochEnd(label: string, m: EpochMetrics, epochs: number): void {
    if (this.quiet) return;
    if (this.tty && this.lineOpen) {
      this.stream.write("\r\x1b[2K");
      this.lineOpen = false;
    }
    const val = m.valAccuracy === undefined ? "" : `, val acc ${(m.valAccuracy * 100).toFixed(2)}%`;
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
