// The coordinator's view of the jobs it queued. It polls Redis instead of listening to BullMQ's event stream, so
// a Redis that restarted (and forgot everything) is noticed the same way as any other state: a job this
// coordinator still needs that Redis no longer knows is queued again under the same id.
import type { Job, JobState, Queue } from "bullmq";
import type { JobProgress, QueueJob } from "./jobs.js";
import { shortWorkerName } from "./connection.js";

export interface JobStatus {
  id: string;
  state: JobState | "unknown" | "requeued";
  /** The worker running (or that ran) the job. */
  worker?: string;
  progress?: JobProgress;
  result?: unknown;
  failedReason?: string;
}

export interface TrackerOptions {
  /** Tries per job for errors thrown by the job (a worker that dies does not use one up). */
  attempts: number;
}

export class JobTracker {
  private readonly jobs = new Map<string, QueueJob>();

  constructor(
    private readonly queue: Queue,
    private readonly opts: TrackerOptions,
  ) {}

  get size(): number {
    return this.jobs.size;
  }

  ids(): string[] {
    return [...this.jobs.keys()];
  }

  async add(id: string, data: QueueJob): Promise<void> {
    this.jobs.set(id, data);
    await this.enqueue(id, data);
  }

  private async enqueue(id: string, data: QueueJob): Promise<void> {
    await this.queue.add(data.kind, data, { jobId: id, attempts: this.opts.attempts, backoff: { type: "fixed", delay: 500 }, removeOnComplete: false, removeOnFail: false });
  }

  /** Stops tracking a job and removes it from Redis (a job a worker still holds stays until it ends). */
  async forget(id: string): Promise<void> {
    this.jobs.delete(id);
    await this.queue.remove(id).catch(() => 0);
  }

  /** Removes every tracked job that no worker holds (the coordinator gives up or stops). */
  async forgetAll(): Promise<void> {
    for (const id of this.ids()) await this.forget(id);
  }

  /** The state of one tracked job; a job Redis lost is queued again (state "requeued"). */
  async status(id: string): Promise<JobStatus> {
    const data = this.jobs.get(id);
    // The state first, then the job: a job read before its state could have finished in between, and would then
    // say "completed" with the return value of the earlier read (none). A finished job's result is written with
    // its state, so a job read after the state holds it.
    const state = await this.queue.getJobState(id);
    const job = (await this.queue.getJob(id)) as Job | undefined;
    if (!job) {
      if (data && this.jobs.has(id)) await this.enqueue(id, data);
      return { id, state: "requeued" };
    }
    if (state === "unknown") return { id, state }; // added between the two reads: looked at again next poll
    const progress = (typeof job.progress === "object" && job.progress ? job.progress : undefined) as JobProgress | undefined;
    return {
      id,
      state,
      worker: progress?.worker ?? (job.processedBy ? shortWorkerName(job.processedBy) : undefined),
      progress,
      result: state === "completed" ? job.returnvalue : undefined,
      failedReason: job.failedReason || undefined,
    };
  }
}

/** "host:1 (2), host:2 (1)": jobs running per worker. */
export function runningPerWorker(statuses: JobStatus[]): string {
  const per = new Map<string, string[]>();
  for (const s of statuses) if (s.state === "active") (per.get(s.worker ?? "?") ?? per.set(s.worker ?? "?", []).get(s.worker ?? "?")!).push(s.id);
  return [...per.entries()].map(([w, ids]) => `${w} (${ids.length})`).join(", ") || "none";
}
