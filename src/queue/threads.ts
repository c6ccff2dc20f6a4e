// The worker threads of `tsdistill worker`: one per slot, each running one job at a time and keeping its opened
// teacher, data and caches between jobs. A thread that dies takes only its job with it (the job fails and
// BullMQ retries it); the next job gets a fresh thread.
import { Worker } from "node:worker_threads";
import type { EpochMetrics } from "../train/reporter.js";
import type { QueueJob } from "./jobs.js";

export type ThreadReply =
  | { type: "ready"; id: 0 }
  | { type: "epoch"; id: number; metrics: EpochMetrics }
  | { type: "done"; id: number; result: unknown }
  | { type: "error"; id: number; name: string; message: string; stack: string };

function startThread(worker: string): Worker {
  const here = import.meta.url;
  if (here.endsWith(".ts")) {
    // From the TypeScript sources (tests, tsx): register tsx in the thread before its entry loads.
    const entry = new URL("./job-thread.ts", here).href;
    const code = `import(${JSON.stringify(import.meta.resolve("tsx/esm/api"))}).then(({ register }) => { register(); return import(${JSON.stringify(entry)}); });`;
    return new Worker(code, { eval: true, workerData: { worker } });
  }
  return new Worker(new URL("./job-thread.js", here), { workerData: { worker } });
}

interface Slot {
  thread: Worker | null;
  busy: boolean;
}

export class ThreadSlots {
  private readonly slots: Slot[];
  private nextId = 1;

  constructor(
    size: number,
    private readonly worker: string,
  ) {
    this.slots = Array.from({ length: size }, () => ({ thread: null, busy: false }));
  }

  /** Starts every thread and waits until each has loaded its modules (so the first job starts at once). */
  async warmUp(): Promise<void> {
    await Promise.all(
      this.slots.map((slot) => {
        const thread = (slot.thread ??= startThread(this.worker));
        return new Promise<void>((resolve, reject) => {
          const onMessage = (m: ThreadReply) => {
            if (m.type !== "ready") return;
            thread.off("message", onMessage);
            thread.off("error", reject);
            resolve();
          };
          thread.on("message", onMessage);
          thread.once("error", reject);
        });
      }),
    );
  }

  /** Runs a job on a free thread (the caller never runs more jobs at once than there are slots). */
  run(job: QueueJob, onEpoch?: (m: EpochMetrics) => void): Promise<unknown> {
    const slot = this.slots.find((s) => !s.busy);
    if (!slot) return Promise.reject(new Error("no free worker thread"));
    slot.busy = true;
    const thread = (slot.thread ??= startThread(this.worker));
    const id = this.nextId++;
    return new Promise<unknown>((resolve, reject) => {
      const finish = () => {
        thread.off("message", onMessage);
        thread.off("error", onError);
        thread.off("exit", onExit);
        slot.busy = false;
      };
      const onMessage = (m: ThreadReply) => {
        if (m.id !== id || m.type === "ready") return;
        if (m.type === "epoch") return void onEpoch?.(m.metrics);
        finish();
        if (m.type === "done") resolve(m.result);
        else reject(Object.assign(new Error(m.message), { name: m.name, stack: m.stack }));
      };
      const lost = (err: Error) => {
        finish();
        if (slot.thread === thread) slot.thread = null;
        reject(err);
      };
      const onError = (err: Error) => lost(err);
      const onExit = (code: number) => lost(new Error(`worker thread exited with code ${code}`));
      thread.on("message", onMessage);
      thread.on("error", onError);
      thread.on("exit", onExit);
      thread.postMessage({ id, job });
    });
  }

  async close(): Promise<void> {
    await Promise.all(
      this.slots.map(async (s) => {
        const t = s.thread;
        s.thread = null;
        await t?.terminate();
      }),
    );
  }
}
