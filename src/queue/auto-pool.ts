// `tsdistill auto --queue`: the search's trials and latency probes run on queue workers instead of local threads.
// The coordinator keeps the run store to itself: results come back through the queue (job return values) and
// per-epoch metrics through job progress. Jobs go to Redis only when a worker slot would take them, so the time
// budget is checked just before each one starts, as with local threads.
import { randomUUID } from "node:crypto";
import { JobAborted, JobNotStarted, type AutoJobRunner, type PoolOptions } from "../auto/pool.js";
import type { AutoJob, AutoJobResult } from "../auto/trial.js";
import type { EpochMetrics } from "../train/reporter.js";
import { connectedWorkers, type QueueClient } from "./connection.js";
import type { AutoQueueJob } from "./jobs.js";
import { absoluteDataSpec } from "./paths.js";
import { JobTracker, runningPerWorker, type JobStatus } from "./tracker.js";

export interface QueuePoolOptions extends Partial<PoolOptions> {
  /** Most jobs in the queue at once (default: the slots of the workers connected now, at least 1). */
  maxQueued?: number;
  log?: (line: string) => void;
  pollMs?: number;
}

interface Pending {
  job: AutoJob;
  onEpoch?: (m: EpochMetrics) => void;
  onStart?: () => void;
  resolve: (r: AutoJobResult) => void;
  reject: (e: Error) => void;
}

interface Running extends Pending {
  label: string;
  epochsSeen: number;
}

function labelOf(job: AutoJob): string {
  return job.kind === "train" ? `trial ${String(job.metadata.trial ?? job.modelDir)}` : `latency probe ${job.spec}`;
}

export class QueuePool implements AutoJobRunner {
  private readonly pending: Pending[] = [];
  private readonly running = new Map<string, Running>();
  private readonly tracker: JobTracker;
  /** Tells this coordinator's job ids from those of others sharing the queue. */
  private readonly runTag = randomUUID().slice(0, 8);
  private nextId = 1;
  private slots = 1;
  private stopped = false;
  private timer: NodeJS.Timeout | null = null;
  private polling = false;
  private lastLine = "";
  private lastSlotCheck = 0;
  private idleSaid = false;

  constructor(
    private readonly client: QueueClient,
    private readonly opts: QueuePoolOptions = {},
  ) {
    this.tracker = new JobTracker(client.queue, { attempts: 1 });
  }

  get load(): number {
    return this.pending.length + this.running.size;
  }

  get capacity(): number {
    return Math.max(1, this.opts.maxQueued ?? this.slots);
  }

  run(job: AutoJob, hooks: { onEpoch?: (m: EpochMetrics) => void; onStart?: () => void } = {}): Promise<AutoJobResult> {
    if (this.stopped) return Promise.reject(new JobNotStarted("stopped"));
    return new Promise((resolve, reject) => {
      this.pending.push({ job, ...hooks, resolve, reject });
      this.dispatch();
      this.timer ??= setInterval(() => void this.poll(), this.opts.pollMs ?? 250);
    });
  }

  private dispatch(): void {
    while (this.running.size < this.capacity && this.pending.length > 0) {
      const next = this.pending.shift()!;
      if (this.stopped) {
        next.reject(new JobNotStarted("stopped"));
        continue;
      }
      if (this.opts.admit && !this.opts.admit()) {
        next.reject(new JobNotStarted("budget"));
        continue;
      }
      next.onStart?.();
      const id = `auto-${this.runTag}-${this.nextId++}`;
      const label = labelOf(next.job);
      // Paths in the job are made absolute here: workers may run in other folders (or on other machines).
      const job: AutoJob = next.job.kind === "train" ? { ...next.job, data: absoluteDataSpec(next.job.data, process.cwd()) } : next.job;
      const entry: Running = { ...next, label, epochsSeen: 0 };
      this.running.set(id, entry);
      this.tracker.add(id, { kind: "auto", job, label } satisfies AutoQueueJob).catch((err: Error) => this.settle(id, () => entry.reject(err)));
    }
  }

  private settle(id: string, how: () => void): void {
    if (!this.running.delete(id)) return;
    how();
    void this.tracker.forget(id);
    this.dispatch();
  }

  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      if (performance.now() - this.lastSlotCheck > 2000) {
        this.lastSlotCheck = performance.now();
        const workers = await connectedWorkers(this.client.queue);
        this.slots = workers.reduce((a, w) => a + w.slots, 0);
        if (workers.length === 0 && this.running.size > 0 && !this.idleSaid) this.opts.log?.("queue: no worker is connected; start 'tsdistill worker --queue URL' (the jobs wait in Redis)");
        this.idleSaid = workers.length === 0;
      }
      const statuses: JobStatus[] = [];
      for (const [id, r] of [...this.running]) {
        const s = await this.tracker.status(id);
        statuses.push(s);
        if (s.state === "requeued") this.opts.log?.(`${r.label}: Redis no longer knew its job (restarted?); queued it again`);
        const epochs = s.progress?.epochs ?? [];
        if (epochs.length < r.epochsSeen) r.epochsSeen = 0; // started again on another worker
        for (; r.epochsSeen < epochs.length; r.epochsSeen++) r.onEpoch?.(epochs[r.epochsSeen]);
        if (s.state === "completed") this.settle(id, () => r.resolve(s.result as AutoJobResult));
        else if (s.state === "failed") this.settle(id, () => r.reject(new Error(s.failedReason ?? `${r.label} failed on worker ${s.worker ?? "?"}`)));
      }
      const line = `queue: ${this.running.size} job(s) out, ${this.pending.length} waiting here; running per worker: ${runningPerWorker(statuses)}`;
      if (line !== this.lastLine && statuses.length > 0) this.opts.log?.(line);
      this.lastLine = line;
      this.dispatch();
    } catch (err) {
      this.opts.log?.(`queue: ${(err as Error).message.split("\n")[0]}`);
    } finally {
      this.polling = false;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const p of this.pending.splice(0)) p.reject(new JobNotStarted("stopped"));
    await this.close();
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const [id, r] of [...this.running]) {
      this.running.delete(id);
      r.reject(new JobAborted());
    }
    await Promise.race([this.tracker.forgetAll(), new Promise((r) => setTimeout(r, 2000))]);
  }
}
