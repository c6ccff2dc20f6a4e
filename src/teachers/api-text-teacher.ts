import type * as tf from "@tensorflow/tfjs-core";
import { createHash } from "node:crypto";
import { TsdistillError } from "../util/errors.js";
import { ApiTeacher, type ApiTeacherConfig, type ApiTeacherOptions, type ApiTeacherStats, type LabelBatchOptions } from "./api.js";
import type { Teacher, TeacherMetadata } from "./teacher.js";

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
  };
  return createHash("sha256").update(`api:${JSON.stringify(identity)}`).digest("hex");
}

/**
 * The api teacher as a tensor teacher over a text data set: row r of the data set is the text `texts[r]`, which is
 * what the endpoint sees (the student sees the row's features). Each batch is one `labelBatch`, so a batch either
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
    private readonly texts: readonly string[],
    opts: ApiTeacherOptions & { batch?: LabelBatchOptions } = {},
  ) {
    this.api = new ApiTeacher(config, opts);
    this.batchOptions = opts.batch ?? {};
    this.name = this.api.name;
    this.numClasses = this.api.numClasses;
    this.metadata = {
      kind: "api",
      input: { shape: [null], dtype: "string", layout: "text" },
      output: { numClasses: this.numClasses, classNames: [...this.api.labels], kind: "label-logprobs" },
      hash: apiTeacherHash(this.api.config),
    };
  }

  get stats(): ApiTeacherStats {
    return this.api.stats;
  }

  async logitsAsync(_x: Float32Array, n: number, rows?: Int32Array): Promise<Float32Array> {
    if (!rows || rows.length !== n) throw new TsdistillError(`teacher ${this.name}: labels text by data set row; call it with the rows of the batch (as 'tsdistill label' does)`);
    const inputs = Array.from(rows, (r) => {
      const t = this.texts[r];
      if (typeof t !== "string") throw new TsdistillError(`teacher ${this.name}: row ${r} has no text (the data set holds ${this.texts.length} texts)`);
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
