import type * as tf from "@tensorflow/tfjs-core";
import { createHash } from "node:crypto";
import { TsdistillError } from "../util/errors.js";
import { ApiTeacher, type ApiTeacherConfig, type ApiTeacherOptions, type ApiTeacherStats, type LabelBatchOptions } from "./api.js";
import type { Teacher, TeacherInput, TeacherMetadata } from "./teacher.js";

/**
 * What identifies an api teacher's answers: the endpoint, model, labels, prompt and reading settings. Operational
 * settings (concurrency, rate, retries, timeout, pricing, key variable) change how it is asked, not what it says,
 * so a cache labelled with other limits is still this teacher's.
 */
export function apiTeacherHash(c: ApiTeacherConfig): string {
  const identity = {
    baseURL: c.baseURL.replace(/\/+$/, ""),
    model: c.model,
    labels: c.labels,
    labelTokens: c.labelTokens ?? null,
    caseSensitive: c.caseSensitive,
    prompt: c.prompt,
    system: c.system ?? null,
    topLogprobs: c.topLogprobs,
    temperature: c.temperature,
    maxTokens: c.maxTokens,
    // Redaction changes what the endpoint sees; without it the identity (and old caches' hashes) stay as they were.
    ...(c.redact ? { redact: c.redact } : {}),
  };
  return createHash("sha256").update(`api:${JSON.stringify(identity)}`).digest("hex");
}

/**
 * The api teacher as a tensor teacher over a text data set: it reads each batch's raw texts (`input.raw`, the
 * data set's raw view), which is what the endpoint sees (the student sees the rows' features). Each batch is one `labelBatch`, so a batch either
 * comes back whole, in order, or fails as a whole (then `tsdistill label` stops and a rerun resumes from the last
 * finished shard): no row is ever labelled twice into the cache or left out. The soft labels are returned as
 * log-probabilities over the label set.
 */
export class ApiTextTeacher implements Teacher {
  readonly api: ApiTeacher;
  readonly name: string;
  readonly numClasses: number;
  readonly metadata: TeacherMetadata;
  private readonly batchOptions: LabelBatchOptions;

  constructor(
    config: ApiTeacherConfig,
    opts: ApiTeacherOptions & { batch?: LabelBatchOptions } = {},
  ) {
    this.api = new ApiTeacher(config, opts);
    this.batchOptions = opts.batch ?? {};
    this.name = this.api.name;
    this.numClasses = this.api.numClasses;
    this.metadata = {
      kind: "api",
      input: { shape: [null], dtype: "string", layout: "text", rawKinds: ["text"] },
      output: { numClasses: this.numClasses, classNames: [...this.api.labels], kind: "label-logprobs" },
      hash: apiTeacherHash(this.api.config),
      remote: true,
    };
  }

  get stats(): ApiTeacherStats {
    return this.api.stats;
  }

  async logitsAsync(input: TeacherInput): Promise<Float32Array> {
    const { n, raw } = input;
    if (!raw || input.rawKind !== "text" || raw.length !== n) {
      throw new TsdistillError(`teacher ${this.name}: labels raw texts, but the batch has ${raw ? `${input.rawKind} samples` : "none"}; use --data jsonl:<file> (one JSON object with a "text" field per line)`);
    }
    const inputs = raw.map((t, i) => {
      if (typeof t !== "string") throw new TsdistillError(`teacher ${this.name}: data set row ${input.rows[i]} has no text`);
      return t;
    });
    const labels = await this.api.labelBatch(inputs, this.batchOptions);
    const C = this.numClasses;
    const out = new Float32Array(n * C);
    labels.forEach((l, i) => {
      for (let c = 0; c < C; c++) out[i * C + c] = Math.log(Math.max(l.probs[c], 1e-30));
    });
    return out;
  }

  logits(): tf.Tensor2D {
    throw new TsdistillError(`teacher ${this.name}: the api teacher labels text over HTTP; label the transfer set first ('tsdistill label --teacher teacher.yaml --data jsonl:…')`);
  }
}
