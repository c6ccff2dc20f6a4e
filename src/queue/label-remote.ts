// The coordinator's half of `tsdistill label --queue`: labelDataset prepares the cache folder as usual (resume,
// adopted shards, partial manifest) and hands the missing shards to this runner, which queues one job per shard
// and watches the folder. A shard counts as done when its complete file is on disk (not when Redis says so), so
// finished work survives a Redis restart; jobs Redis forgot are queued again. Only this process writes manifests.
import { randomUUID } from "node:crypto";
import { shardFileName, type ShardPlan } from "../teachers/label-cache.js";
import { TsdistillError } from "../util/errors.js";
import { connectedWorkers, openQueue, shownUrl } from "./connection.js";
import type { LabelShardJob, LabelShardResult, LabelSource } from "./jobs.js";
import { JobTracker, runningPerWorker, type JobStatus } from "./tracker.js";

export interface QueueLabelOptions {
  url: string;
  source: LabelSource;
  /** Progress lines (shards on disk, jobs running per worker); default none. */
  log?: (line: string) => void;
  /** How often the folder and the queue are looked at (default 250 ms). */
  pollMs?: number;
  signal?: AbortSignal;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A labelDataset `shardRunner` that has queue workers compute the shards. */
export function queueShardRunner(opts: QueueLabelOptions): (plan: ShardPlan) => Promise<void> {
  return async (plan) => {
    const log = opts.log ?? (() => {});
    const client = await openQueue(opts.url, log);
    const tracker = new JobTracker(client.queue, { attempts: 3 });
    const run = randomUUID().slice(0, 8);
    const idOf = (index: number) => `label-${run}-${index}`;
    const indexOf = new Map(plan.missing.map((i) => [idOf(i), i]));
    const outstanding = new Set(plan.missing);
    const workerOf = new Map<number, string>();
    let failure: TsdistillError | null = null;
    let lastLine = "";
    let done = plan.numShards - plan.missing.length;
    try {
      for (const index of plan.missing) {
        const job: LabelShardJob = { kind: "label-shard", source: opts.source, dir: plan.dir, settings: plan.settings, index, numShards: plan.numShards, batchSize: plan.batchSize };
        await tracker.add(idOf(index), job);
      }
      log(`queued ${plan.missing.length} shard(s) of ${plan.dir} on ${shownUrl(opts.url)} (${done} already on disk)`);

      // Redis is asked in the background: while it is down, the folder is still watched.
      let asking: Promise<void> | null = null;
      const ask = async () => {
        const statuses: JobStatus[] = [];
        for (const id of tracker.ids()) {
          const index = indexOf.get(id)!;
          if (!outstanding.has(index)) continue;
          const s = await tracker.status(id);
          statuses.push(s);
          if (s.worker) workerOf.set(index, s.worker);
          if (s.state === "requeued") log(`shard ${index + 1}/${plan.numShards}: Redis no longer knew its job (restarted?); queued it again`);
          if (s.state === "failed") failure ??= new TsdistillError(`label --queue: shard ${index + 1}/${plan.numShards} failed on worker ${s.worker ?? "?"}: ${s.failedReason ?? "no reason given"}`);
          if (s.state === "completed" && !plan.shardWritten(index)) {
            const r = s.result as LabelShardResult | undefined;
            failure ??= new TsdistillError(
              `label --queue: worker ${r?.worker ?? s.worker ?? "?"} wrote ${shardFileName(index, plan.numShards)} but it is not in ${plan.dir} here; every worker must write the same folder (shared storage at the same path)`,
            );
          }
        }
        const waiting = statuses.filter((s) => s.state !== "active" && s.state !== "completed").length;
        const workers = (await connectedWorkers(client.queue)).length;
        const line =
          workers === 0 ? `shards: ${done}/${plan.numShards} on disk; no worker is connected to ${shownUrl(opts.url)} (start 'tsdistill worker --queue ${shownUrl(opts.url)}')`
          : `shards: ${done}/${plan.numShards} on disk; ${workers} worker(s); running: ${runningPerWorker(statuses)}; waiting: ${waiting}`;
        if (line !== lastLine) log(line);
        lastLine = line;
      };

      while (outstanding.size > 0) {
        if (opts.signal?.aborted) throw new TsdistillError(`label --queue: interrupted; ${done} of ${plan.numShards} shards are in ${plan.dir}, run the same command again to finish`, 130);
        for (const index of [...outstanding]) {
          if (!plan.shardWritten(index)) continue;
          outstanding.delete(index);
          done++;
          log(`shard ${index + 1}/${plan.numShards} written${workerOf.has(index) ? ` by ${workerOf.get(index)}` : ""} (${done}/${plan.numShards} on disk)`);
          void tracker.forget(idOf(index));
        }
        if (failure) throw failure;
        if (outstanding.size === 0) break;
        asking ??= ask()
          .catch((err: Error) => log(`queue: ${err.message.split("\n")[0]}`))
          .finally(() => (asking = null));
        await sleep(opts.pollMs ?? 250);
      }
    } finally {
      // Jobs of shards not needed any more (done, or this run gave up) leave the queue.
      await Promise.race([tracker.forgetAll(), sleep(2000)]);
      await client.close();
    }
  };
}
