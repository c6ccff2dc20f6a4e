// A fixed pool of worker threads for auto's jobs (the wasm backend is single-threaded, so one worker per core
// trains that many trials at once). Jobs start in the order they were submitted. `admit` is asked just before a
// queued job would start: when it says no (e.g. the time budget is spent) the job is not started.
import { Worker } from "node:worker_threads";
import { TsdistillError } from "../util/errors.js";
import type { EpochMetrics } from "../train/reporter.js";
import { runAutoJob, type AutoJob, type AutoJobResult } from "./trial.js";

export type PoolReply =
  | { type: "epoch"; id: number; metrics: EpochMetrics }
  | { type: "done"; id: number; result: AutoJobResult }
  | { type: "error"; id: number; name: string; message: string; stack: string; exitCode?: number };

/** A job the pool did not start (budget spent or pool stopped). */
export class JobNotStarted extends Error {
  constructor(readonly why: "budget" | "stopped") {
    super(why === "budget" ? "not started: the time budget is spent" : "not started: the search was stopped");
    this.name = "JobNotStarted";
  }
}

/** A job whose worker was terminated while it ran (interruption). */
export class JobAborted extends Error {
  constructor() {
    super("aborted: the search was stopped while this job ran");
    this.name = "JobAborted";
  }
}

interface Pending {
  id: number;
  job: AutoJob;
  onEpoch?: (m: EpochMetrics) => void;
  onStart?: () => void;
  resolve: (r: AutoJobResult) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker | null;
  current: Pending | null;
}

function startWorker(): Worker {
  const here = import.meta.url;
  if (here.endsWith(".ts")) {
    // From the TypeScript sources (tests, tsx): register tsx in the worker before its entry loads.
    const entry = new URL("./trial-worker.ts", here).href;
    const code = `import(${JSON.stringify(import.meta.resolve("tsx/esm/api"))}).then(({ register }) => { register(); return import(${JSON.stringify(entry)}); });`;
    return new Worker(code, { eval: true });
  }
  return new Worker(new URL("./trial-worker.js", here));
}

export interface PoolOptions {
  /** Worker threads; 0 runs every job in this thread, one at a time (no parallelism). */
  size: number;
  admit?: () => boolean;
}

/** What a search needs of a pool: this one (worker threads here) or one whose jobs run on queue workers. */
export interface AutoJobRunner {
  /** Jobs queued or running. */
  readonly load: number;
  /** Jobs that can run at once. */
  readonly capacity: number;
  run(job: AutoJob, hooks?: { onEpoch?: (m: EpochMetrics) => void; onStart?: () => void }): Promise<AutoJobResult>;
  /** Rejects queued jobs (JobNotStarted) and running ones (JobAborted). */
  stop(): Promise<void>;
  close(): Promise<void>;
}

export class JobPool implements AutoJobRunner {
  private readonly queue: Pending[] = [];
  private readonly slots: Slot[];
  private nextId = 1;
  private stopped = false;
  private inProcessBusy = false;

  constructor(private readonly opts: PoolOptions) {
    this.slots = Array.from({ length: Math.max(0, opts.size) }, () => ({ worker: null, current: null }));
  }

  /** Jobs queued or running. */
  get load(): number {
    return this.queue.length + this.slots.filter((s) => s.current).length + (this.inProcessBusy ? 1 : 0);
  }

  get capacity(): number {
    return Math.max(1, this.slots.length);
  }

  /** Queues a job; `onStart` runs when a worker takes it, `onEpoch` for each finished training epoch. */
  run(job: AutoJob, hooks: { onEpoch?: (m: EpochMetrics) => void; onStart?: () => void } = {}): Promise<AutoJobResult> {
    if (this.stopped) return Promise.reject(new JobNotStarted("stopped"));
    return new Promise((resolve, reject) => {
      this.queue.push({ id: this.nextId++, job, ...hooks, resolve, reject });
      this.dispatch();
    });
  }

  private dispatch(): void {
    if (this.slots.length === 0) return void this.dispatchInProcess();
    for (const slot of this.slots) {
      if (slot.current) continue;
      const next = this.take();
      if (!next) return;
      slot.current = next;
      if (!slot.worker) slot.worker = this.attach(slot);
      slot.worker.postMessage({ id: next.id, job: next.job });
    }
  }

  /** The next queued job that may start; jobs that may not are rejected. */
  private take(): Pending | null {
    for (;;) {
      const next = this.queue.shift();
      if (!next) return null;
      if (this.stopped) next.reject(new JobNotStarted("stopped"));
      else if (this.opts.admit && !this.opts.admit()) next.reject(new JobNotStarted("budget"));
      else {
        next.onStart?.();
        return next;
      }
    }
  }

  private dispatchInProcess(): void {
    if (this.inProcessBusy) return;
    const next = this.take();
    if (!next) return;
    this.inProcessBusy = true;
    runAutoJob(next.job, next.onEpoch)
      .then(next.resolve, next.reject)
      .finally(() => {
        this.inProcessBusy = false;
        setImmediate(() => this.dispatch());
      });
  }

  private attach(slot: Slot): Worker {
    const worker = startWorker();
    worker.on("message", (m: PoolReply) => {
      const cur = slot.current;
      if (!cur || cur.id !== m.id) return;
      if (m.type === "epoch") return void cur.onEpoch?.(m.metrics);
      slot.current = null;
      if (m.type === "done") cur.resolve(m.result);
      else cur.reject(m.exitCode !== undefined ? new TsdistillError(m.message, m.exitCode) : Object.assign(new Error(m.message), { name: m.name, stack: m.stack }));
      this.dispatch();
    });
    const lost = (err: Error) => {
      const cur = slot.current;
      slot.current = null;
      slot.worker = null;
      cur?.reject(this.stopped ? new JobAborted() : err);
      if (!this.stopped) this.dispatch();
    };
    worker.on("error", (err) => lost(err));
    worker.on("exit", (code) => {
      if (slot.worker === worker) lost(new Error(`auto worker exited with code ${code}`));
    });
    return worker;
  }

  /** Rejects queued jobs and terminates the workers (running jobs reject with JobAborted). */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const p of this.queue.splice(0)) p.reject(new JobNotStarted("stopped"));
    await this.close();
  }

  /** Terminates the workers (call when no job is left). */
  async close(): Promise<void> {
    await Promise.all(
      this.slots.map(async (slot) => {
        const w = slot.worker;
        if (!w) return;
        const cur = slot.current;
        slot.worker = null;
        slot.current = null;
        await w.terminate();
        cur?.reject(new JobAborted());
      }),
    );
  }
}
