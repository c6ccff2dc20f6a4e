// `tsdistill worker`: takes teacher-label shards and auto trials from the queue and runs them on worker threads.
// Jobs hold a lock in Redis that this process renews; a worker that dies (SIGKILL, power) stops renewing, and the
// stalled-job check of the other workers puts its jobs back in the queue once the lock has expired.
import { hostname } from "node:os";
import { UnrecoverableError, Worker, type Job } from "bullmq";
import type { AutoJobResult } from "../auto/trial.js";
import type { EpochMetrics } from "../train/reporter.js";
import { QUEUE_NAME, redisConnection, shortWorkerName, shownUrl, waitReady, workerName } from "./connection.js";
import type { JobProgress, LabelShardResult, QueueJob } from "./jobs.js";
import { ThreadSlots } from "./threads.js";

export interface QueueWorkerOptions {
  url: string;
  /** Jobs at once (one worker thread each). */
  concurrency: number;
  /**
   * How long a job's lock lasts without renewal (renewed every half of it). A dead worker's job goes back to the
   * queue after about this long plus one stalled-check interval (the same length).
   */
  lockMs: number;
  /** Default host:pid. */
  name?: string;
  log: (line: string) => void;
  /** Aborting stops taking jobs; running ones finish first. */
  signal?: AbortSignal;
}

export const DEFAULT_LOCK_MS = 30_000;

function describe(job: QueueJob): string {
  return job.kind === "label-shard" ? `shard ${job.index + 1}/${job.numShards} of ${job.dir}` : job.label;
}

/** Runs until `signal` aborts; resolves with the number of jobs finished. */
export async function runQueueWorker(opts: QueueWorkerOptions): Promise<{ name: string; finished: number; failed: number }> {
  const name = opts.name ?? workerName(hostname(), process.pid, opts.concurrency);
  const short = shortWorkerName(name);
  const log = opts.log;
  const connection = redisConnection(opts.url, (what, detail) => log(what === "lost" ? `lost Redis at ${shownUrl(opts.url)} (${detail}); waiting for it to come back` : `Redis at ${shownUrl(opts.url)} is back`));
  try {
    await waitReady(connection, opts.url);
  } catch (err) {
    connection.disconnect();
    throw err;
  }
  const threads = new ThreadSlots(opts.concurrency, short);
  await threads.warmUp();
  let finished = 0;
  let failed = 0;

  const processor = async (job: Job<QueueJob>): Promise<unknown> => {
    const data = job.data;
    const t0 = performance.now();
    log(`started ${describe(data)} (job ${job.id}, attempt ${job.attemptsStarted})`);
    const epochs: EpochMetrics[] = [];
    await job.updateProgress({ worker: short } satisfies JobProgress);
    try {
      const result = await threads.run(data, (m) => {
        epochs.push(m);
        void job.updateProgress({ worker: short, epochs } satisfies JobProgress).catch(() => {});
      });
      const secs = ((performance.now() - t0) / 1000).toFixed(1);
      if (data.kind === "label-shard") {
        const r = result as LabelShardResult;
        log(r.reused ? `shard ${data.index + 1}/${data.numShards} was already on disk (not written again)` : `wrote shard ${data.index + 1}/${data.numShards} of ${data.dir} (${secs} s)`);
      } else {
        const r = result as AutoJobResult;
        log(`finished ${data.label} (${r.kind === "train" ? `${r.history.length} epochs, ` : ""}${secs} s)`);
      }
      finished++;
      return result;
    } catch (err) {
      failed++;
      const e = err as Error;
      log(`failed ${describe(data)}: ${e.message.split("\n")[0]}`);
      // Another teacher or other data than the coordinator's: retrying cannot help.
      if (e.name === "SourceMismatch" || e.name === "DataError" || e.name === "UsageError") throw new UnrecoverableError(e.message);
      throw e;
    }
  };

  const worker = new Worker<QueueJob>(QUEUE_NAME, processor, {
    connection,
    name,
    concurrency: opts.concurrency,
    lockDuration: opts.lockMs,
    stalledInterval: opts.lockMs,
    // A job whose worker died goes back to the queue; only a job that stalls this often in a row fails.
    maxStalledCount: 5,
    autorun: false,
  });
  worker.on("error", (err) => log(`queue error: ${(err as Error).message.split("\n")[0]}`));
  void worker.run();
  await worker.waitUntilReady();
  log(`worker ${short} ready: ${opts.concurrency} slot(s) on ${shownUrl(opts.url)} (queue "${QUEUE_NAME}", lock ${opts.lockMs / 1000} s)`);

  if (opts.signal && !opts.signal.aborted) await new Promise<void>((resolve) => opts.signal!.addEventListener("abort", () => resolve(), { once: true }));
  else if (!opts.signal) await new Promise<void>(() => {});
  log(`stopping: finishing the running jobs`);
  await worker.close();
  await threads.close();
  connection.removeAllListeners("close");
  connection.disconnect();
  return { name: short, finished, failed };
}
