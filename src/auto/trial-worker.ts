// Worker-thread entry for `tsdistill auto`: runs the jobs the pool sends, one at a time, and keeps the loaded
// data and teacher caches between them.
import { parentPort } from "node:worker_threads";
import { runAutoJob, type AutoJob } from "./trial.js";
import type { PoolReply } from "./pool.js";

const post = (m: PoolReply) => parentPort!.postMessage(m);
parentPort!.on("message", async (m: { id: number; job: AutoJob }) => {
  try {
    const result = await runAutoJob(m.job, (metrics) => post({ type: "epoch", id: m.id, metrics }));
    post({ type: "done", id: m.id, result });
  } catch (err) {
    const e = err as Error & { exitCode?: number };
    post({ type: "error", id: m.id, name: e.name, message: e.message, stack: e.stack ?? "", exitCode: e.exitCode });
  }
});
