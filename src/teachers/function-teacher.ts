import * as tf from "@tensorflow/tfjs-core";
import type { InMemoryDataset } from "../data/dataset.js";
import type { RawKind } from "../data/raw.js";
import { TsdistillError } from "../util/errors.js";
import type { Teacher, TeacherInput, TeacherMetadata } from "./teacher.js";
import { runTeacherBatch, teacherInput } from "./teacher-run.js";

/**
 * What a function teacher exports: scores for one batch, given both views of its samples —
 * `{ raw, rawKind, rows, x, n, sampleShape }` (TeacherInput): `raw` the raw samples (texts, CSV records as
 * column → cell, RGBA images {width, height, data}), `rows` their rows in the data set, `x` the student's features
 * row-major. Returns logits (or probabilities, declared with `output: probabilities`) as [n][C] or a flat
 * Float32Array of n·C, sync or async.
 */
export type TeacherFunction = (input: TeacherInput) => Float32Array | number[][] | Promise<Float32Array | number[][]>;

export interface FunctionTeacherOptions {
  /** "raw" (default): the function gets the raw samples too; "features": only the student's features. */
  input?: "raw" | "features";
  /** What the function returns (default logits); probabilities are turned into their logs. */
  output?: "logits" | "probabilities";
  hash?: string | null;
}

const ALL_RAW: RawKind[] = ["text", "record", "image"];

/** Flattens a function's answer for n samples to n·C values (C read from the answer). */
function flatten(out: unknown, n: number, name: string): Float32Array {
  if (out instanceof Float32Array) return out;
  if (Array.isArray(out) && out.length === n && out.every((r) => Array.isArray(r) && r.length === (out[0] as unknown[]).length)) return Float32Array.from((out as number[][]).flat());
  if (Array.isArray(out) && out.length !== n) throw new TsdistillError(`teacher ${name}: the function returned ${out.length} rows for ${n} samples; expected one row of scores per sample`);
  throw new TsdistillError(`teacher ${name}: the function must return a Float32Array (n·C values) or number[][] (n rows of C scores) of logits or probabilities`);
}

/** Any JS/TS function as a teacher (`module#export`, default export when no name is given). */
export class FunctionTeacher implements Teacher {
  readonly metadata: TeacherMetadata;

  private constructor(
    private readonly fn: TeacherFunction,
    readonly name: string,
    readonly numClasses: number,
    sampleShape: number[],
    private readonly opts: FunctionTeacherOptions,
  ) {
    const raw = (opts.input ?? "raw") === "raw";
    this.metadata = {
      kind: "function",
      input: { shape: [null, ...sampleShape], dtype: "float32", layout: "any", ...(raw ? { rawKinds: ALL_RAW } : {}) },
      output: { numClasses, kind: opts.output ?? "logits" },
      hash: opts.hash ?? null,
    };
  }

  /** A function whose number of classes is known (library use). */
  static fromFunction(fn: TeacherFunction, name: string, numClasses: number, sampleShape: number[], opts: FunctionTeacherOptions = {}): FunctionTeacher {
    return new FunctionTeacher(fn, name, numClasses, sampleShape, opts);
  }

  /**
   * A function over the data it will label: the number of classes is read from its answer on the first rows of
   * `data` (real samples, with their raw view unless `input: features`).
   */
  static async forData(fn: TeacherFunction, name: string, data: InMemoryDataset, opts: FunctionTeacherOptions = {}, probeRows = 8): Promise<FunctionTeacher> {
    if (data.size === 0) throw new TsdistillError(`teacher ${name}: the data set ${data.name} is empty; a function teacher learns its number of classes from the first samples`);
    const probe = new FunctionTeacher(fn, name, 0, data.sampleShape, opts);
    const rows = Int32Array.from({ length: Math.min(probeRows, data.size) }, (_, i) => i);
    const input = teacherInput(data, rows, probe);
    const out = flatten(await fn(input), input.n, name);
    const width = out.length / input.n;
    if (!Number.isInteger(width) || width < 1) throw new TsdistillError(`teacher ${name}: returned ${out.length} values for ${input.n} samples; expected ${input.n} × (number of classes)`);
    return new FunctionTeacher(fn, name, width, data.sampleShape, opts);
  }

  async logitsAsync(input: TeacherInput): Promise<Float32Array> {
    const out = flatten(await this.fn(input), input.n, this.name);
    if (out.length !== input.n * this.numClasses) {
      throw new TsdistillError(`teacher ${this.name}: returned ${out.length} values for ${input.n} samples; expected ${input.n * this.numClasses} (${this.numClasses} per sample, as on the first batch)`);
    }
    return this.opts.output === "probabilities" ? Float32Array.from(out, (p) => Math.log(Math.max(p, 1e-30))) : out;
  }

  logits(): tf.Tensor2D {
    throw new TsdistillError(`teacher ${this.name}: function teachers run asynchronously; run them with runTeacher (teacher-run.ts) or label the transfer set first ('tsdistill label')`);
  }
}

/**
 * A weighted average of several teachers' class probabilities, returned as log-probabilities (logits up to a
 * per-row constant): p = Σ_i w_i·softmax(z_i) / Σ_i w_i.
 */
export class EnsembleTeacher implements Teacher {
  readonly name: string;
  readonly numClasses: number;
  readonly metadata: TeacherMetadata;
  private readonly weights: number[];

  constructor(
    readonly members: Teacher[],
    weights: number[] | undefined,
    sampleShape: number[],
    hash: string | null = null,
  ) {
    if (members.length < 1) throw new TsdistillError("ensemble: expected at least one teacher");
    const w = weights ?? members.map(() => 1);
    if (w.length !== members.length) throw new TsdistillError(`ensemble: ${w.length} weights for ${members.length} teachers`);
    if (w.some((v) => !(v >= 0)) || w.reduce((a, b) => a + b, 0) <= 0) throw new TsdistillError(`ensemble: weights must be ≥ 0 with a positive sum, got ${w.join(", ")}`);
    const classes = new Set(members.map((m) => m.numClasses));
    if (classes.size !== 1) throw new TsdistillError(`ensemble: teachers disagree on the number of classes (${members.map((m) => `${m.name}: ${m.numClasses}`).join(", ")})`);
    this.numClasses = members[0].numClasses;
    this.weights = w;
    this.name = `ensemble(${members.map((m) => m.name).join(", ")})`;
    const first = members[0].metadata;
    // Raw samples go to the batch when any member reads them: of a kind every such member reads.
    const rawReaders = members.map((m) => m.metadata?.input.rawKinds).filter((k): k is RawKind[] => !!k && k.length > 0);
    const rawKinds = rawReaders.length ? rawReaders.reduce((a, b) => a.filter((k) => b.includes(k))) : undefined;
    if (rawKinds && rawKinds.length === 0) throw new TsdistillError(`ensemble: its members read different kinds of raw samples (${members.map((m) => `${m.name}: ${m.metadata?.input.rawKinds?.join("/") ?? "features"}`).join(", ")})`);
    this.metadata = {
      kind: "ensemble",
      input: { ...(first?.input ?? { shape: [null, ...sampleShape], dtype: "float32", layout: "any" }), ...(rawKinds ? { rawKinds } : {}) },
      output: { numClasses: this.numClasses, classNames: members.map((m) => m.metadata?.output.classNames).find(Boolean), kind: "probabilities" },
      hash,
    };
  }

  async logitsAsync(input: TeacherInput): Promise<Float32Array> {
    const C = this.numClasses;
    const n = input.n;
    const total = this.weights.reduce((a, b) => a + b, 0);
    const acc = new Float64Array(n * C);
    for (const [i, m] of this.members.entries()) {
      const z = await runTeacherBatch(m, input);
      for (let r = 0; r < n; r++) {
        let max = -Infinity;
        for (let c = 0; c < C; c++) max = Math.max(max, z[r * C + c]);
        let sum = 0;
        for (let c = 0; c < C; c++) sum += Math.exp(z[r * C + c] - max);
        for (let c = 0; c < C; c++) acc[r * C + c] += (this.weights[i] / total) * (Math.exp(z[r * C + c] - max) / sum);
      }
    }
    return Float32Array.from(acc, (p) => Math.log(Math.max(p, 1e-30)));
  }

  logits(): tf.Tensor2D {
    throw new TsdistillError(`teacher ${this.name}: ensembles run asynchronously; run them with runTeacher (teacher-run.ts) or label the transfer set first ('tsdistill label')`);
  }
}
