// Worker-thread entry of `tsdistill worker`: runs one queue job at a time (a label shard or an auto trial) off the
// main thread, whose event loop keeps renewing the job's lock in Redis however long the computation blocks.
import { parentPort, workerData } from "node:worker_threads";
import { runAutoJob } from "../auto/trial.js";
import { runLabelShard } from "./label-shard.js";
import type { QueueJob } from "./jobs.js";
import type { ThreadReply } from "./threads.js";

const worker = String((workerData as { worker?: string } | null)?.worker ?? "?");
const post = (m: ThreadReply) => parentPort!.postMessage(m);
parentPort!.on("message", async (m: { id: number; job: QueueJob }) => {
  try {
    const result = m.job.kind === "label-shard" ? await runLabelShard(m.job, worker) : await runAutoJob(m.job.job, (metrics) => post({ type: "epoch", id: m.id, metrics }));
    post({ type: "done", id: m.id, result });
  } catch (err) {
    const e = err as Error;
    post({ type: "error", id: m.id, name: e.name, message: e.message, stack: e.stack ?? "" });
  }
});
// The modules are loaded: the worker may take jobs.
post({ type: "ready", id: 0 });
