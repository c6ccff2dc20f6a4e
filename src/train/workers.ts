import { Worker } from "node:worker_threads";
import { TsdistillError } from "../util/errors.js";
import type { EpochEvent, ProgressEvent, TrainingReporter } from "./reporter.js";
import type { TrainJob, TrainJobResult } from "./job.js";

export type WorkerMessage =
  | { type: "batch"; event: ProgressEvent }
  | { type: "epoch"; event: EpochEvent }
  | { type: "done"; result: TrainJobResult }
  | { type: "error"; name: string; message: string; stack: string; exitCode?: number };

function startWorker(job: TrainJob): Worker {
  const here = import.meta.url;
  if (here.endsWith(".ts")) {
    // Running from the TypeScript sources (tests, tsx): the worker needs tsx registered before its entry loads.
    const entry = new URL("./train-worker.ts", here).href;
    const code = `import(${JSON.stringify(import.meta.resolve("tsx/esm/api"))}).then(({ register }) => { register(); return import(${JSON.stringify(entry)}); });`;
    return new Worker(code, { eval: true, workerData: job });
  }
  return new Worker(new URL("./train-worker.js", here), { workerData: job });
}

/**
 * Runs a TrainJob in a worker thread (each wasm backend is single-threaded, so two jobs use two cores).
 * Progress is forwarded to `reporter`; the result is the same as running the job in-process.
 */
export function runTrainJobInWorker(job: TrainJob, reporter?: TrainingReporter): Promise<TrainJobResult> {
  return new Promise((resolve, reject) => {
    const worker = startWorker(job);
    let settled = false;
    worker.on("message", (m: WorkerMessage) => {
      if (m.type === "batch") reporter?.onBatch?.(m.event);
      else if (m.type === "epoch") reporter?.onEpoch?.(m.event);
      else if (m.type === "done") {
        settled = true;
        reporter?.onPhaseEnd?.(job.label);
        resolve(m.result);
      } else {
        settled = true;
        const err = m.exitCode !== undefined ? new TsdistillError(m.message, m.exitCode) : Object.assign(new Error(m.message), { stack: m.stack });
        reject(err);
      }
    });
    worker.on("error", (err) => {
      if (!settled) {
        settled = true;
        reject(err);
      }
    });
    worker.on("exit", (code) => {
      if (!settled) {
        settled = true;
        reject(new Error(`training worker for "${job.label}" exited with code ${code}`));
      }
    });
  });
}
