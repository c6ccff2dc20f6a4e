import * as tf from "@tensorflow/tfjs-core";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { DataError, TsdistillError } from "../util/errors.js";
import type { Teacher, TeacherMetadata } from "./teacher.js";

/**
 * What a function teacher exports: scores for n samples given row-major inputs (tsdistill's layout, e.g. NHWC
 * images scaled to [0, 1]); logits [n][C] or a flat Float32Array of n·C, sync or async.
 */
export type TeacherFunction = (x: Float32Array, n: number, sampleShape: number[]) => Float32Array | number[][] | Promise<Float32Array | number[][]>;

function flatten(out: Float32Array | number[][], n: string): Float32Array {
  if (out instanceof Float32Array) return out;
  if (Array.isArray(out) && out.every((r) => Array.isArray(r))) return Float32Array.from(out.flat());
  throw new TsdistillError(`teacher ${n}: the function must return a Float32Array or number[][] of logits`);
}

/** Any JS/TS function as a teacher (`module#export`, default export when no name is given). */
export class FunctionTeacher implements Teacher {
  readonly metadata: TeacherMetadata;

  private constructor(
    private readonly fn: TeacherFunction,
    readonly name: string,
    readonly numClasses: number,
    private readonly sampleShape: number[],
    hash: string | null,
  ) {
    this.metadata = { kind: "function", input: { shape: [null, ...sampleShape], dtype: "float32", layout: "any" }, output: { numClasses, kind: "logits" }, hash };
  }

  static fromFunction(fn: TeacherFunction, name: string, numClasses: number, sampleShape: number[], hash: string | null = null): FunctionTeacher {
    return new FunctionTeacher(fn, name, numClasses, sampleShape, hash);
  }

  /** Loads `path/to/module.js#exportName`; the number of classes is read from one probe call. */
  static async load(spec: string, sampleShape: number[], hash: string | null = null): Promise<FunctionTeacher> {
    const [file, exportName = "default"] = spec.split("#");
    const path = resolve(file);
    if (!existsSync(path)) throw new DataError(path, "not found; expected a JS/TS module exporting a teacher function");
    let mod: Record<string, unknown>;
    try {
      mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
    } catch (err) {
      throw new DataError(path, `could not be imported (${(err as Error).message.split("\n")[0]})`);
    }
    const fn = mod[exportName];
    if (typeof fn !== "function") throw new DataError(path, `has no function export "${exportName}" (exports: ${Object.keys(mod).join(", ") || "none"})`);
    const per = sampleShape.reduce((a, b) => a * b, 1);
    const probe = flatten(await (fn as TeacherFunction)(new Float32Array(per), 1, sampleShape), spec);
    if (probe.length < 2) throw new TsdistillError(`teacher ${spec}: returned ${probe.length} scores for one sample; expected one per class`);
    return new FunctionTeacher(fn as TeacherFunction, spec, probe.length, sampleShape, hash);
  }

  async logitsAsync(x: Float32Array, n: number): Promise<Float32Array> {
    const out = flatten(await this.fn(x, n, this.sampleShape), this.name);
    if (out.length !== n * this.numClasses) throw new TsdistillError(`teacher ${this.name}: returned ${out.length} values for ${n} samples, expected ${n * this.numClasses}`);
    return out;
  }

  logits(): tf.Tensor2D {
    throw new TsdistillError(`teacher ${this.name}: function teachers may be asynchronous; label the transfer set first ('tsdistill label')`);
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
    private readonly members: Teacher[],
    weights: number[] | undefined,
    private readonly sampleShape: number[],
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
    this.metadata = {
      kind: "ensemble",
      input: first?.input ?? { shape: [null, ...sampleShape], dtype: "float32", layout: "any" },
      output: { numClasses: this.numClasses, classNames: members.map((m) => m.metadata?.output.classNames).find(Boolean), kind: "probabilities" },
      hash,
    };
  }

  async logitsAsync(x: Float32Array, n: number, rows?: Int32Array): Promise<Float32Array> {
    const C = this.numClasses;
    const total = this.weights.reduce((a, b) => a + b, 0);
    const acc = new Float64Array(n * C);
    for (const [i, m] of this.members.entries()) {
      const z = m.logitsAsync ? await m.logitsAsync(x, n, rows) : (tf.tidy(() => m.logits(tf.tensor(x, [n, ...this.sampleShape])).dataSync()) as Float32Array);
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
    throw new TsdistillError(`teacher ${this.name}: ensembles run asynchronously; label the transfer set first ('tsdistill label')`);
  }
}
