// What travels through the queue: plain JSON (BullMQ stores job data and results as JSON in Redis).
import type { BackendName } from "../engine/backend.js";
import type { SplitOptions } from "../data/sources.js";
import type { LabelCacheSettings } from "../teachers/label-cache.js";
import type { AutoJob, AutoJobResult } from "../auto/trial.js";
import type { EpochMetrics } from "../train/reporter.js";

/** Everything a worker needs to open the teacher and the split it labels, as `tsdistill label` does. */
export interface LabelSource {
  /** Teacher specs with absolute paths (one, or an ensemble). */
  teachers: string[];
  weights?: number[];
  /** The --data spec with absolute paths (label= and task= filled in). */
  data: string;
  split: SplitOptions;
  splitName: "train" | "validation" | "test";
  backend: BackendName;
}

/** One shard of a teacher cache: the worker writes it into `dir` (atomic rename) and returns its digest. */
export interface LabelShardJob {
  kind: "label-shard";
  source: LabelSource;
  /** The cache folder, absolute; every worker must be able to write it. */
  dir: string;
  /** The cache's settings; the worker checks its teacher hash, data set hash, sample and class counts. */
  settings: LabelCacheSettings;
  index: number;
  numShards: number;
  batchSize: number;
}

export interface LabelShardResult {
  kind: "label-shard";
  index: number;
  sha256: string;
  /** True when a complete file for the shard was already there (a retried job) and nothing was computed. */
  reused: boolean;
  seconds: number;
  worker: string;
}

export interface AutoQueueJob {
  kind: "auto";
  /** A trial or latency probe of `tsdistill auto`, with absolute paths. */
  job: AutoJob;
  /** What logs call it (the trial key, or "latency probe"). */
  label: string;
}

export type QueueJob = LabelShardJob | AutoQueueJob;

/** job.progress of a running job: which worker runs it and, for trials, the epochs finished so far. */
export interface JobProgress {
  worker: string;
  epochs?: EpochMetrics[];
}

export type { AutoJobResult };
