// Worker-thread entry: runs one TrainJob and streams progress back to the parent.
import { parentPort, workerData } from "node:worker_threads";
import { runTrainJob, type TrainJob } from "./job.js";
import type { WorkerMessage } from "./workers.js";

const post = (m: WorkerMessage) => parentPort!.postMessage(m);
try {
  const result = await runTrainJob(workerData as TrainJob, {
    onBatch: (event) => post({ type: "batch", event }),
    onEpoch: (event) => post({ type: "epoch", event }),
  });
  post({ type: "done", result });
} catch (err) {
  const e = err as Error & { exitCode?: number };
  post({ type: "error", name: e.name, message: e.message, stack: e.stack ?? "", exitCode: e.exitCode });
}
