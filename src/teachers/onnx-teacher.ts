import * as tf from "@tensorflow/tfjs-core";
import type * as ort from "onnxruntime-node";
import { ortModule } from "../util/ort.js";
import { readDataFile } from "../util/files.js";
import { DataError, TsdistillError } from "../util/errors.js";
import { withExtraOutputs } from "./onnx-graph-outputs.js";
import type { FeatureTensor, Teacher, TeacherInput, TeacherMetadata } from "./teacher.js";
import { prepareInput, rawKindOf, resolveInputSpec, syntheticInput, type InputSpec, type ModelInput, type ResolvedInputSpec } from "./input-spec.js";

/** What an input builder sees besides the batch. */
export interface OnnxInputContext {
  sampleShape: number[];
  /** The model's inputs as onnxruntime reports them. */
  inputs: readonly { name: string; type?: string; shape?: readonly (number | string)[] }[];
  /** The batch as the model's first input would take it (NCHW-transposed when the model wants it). */
  main: ort.Tensor;
  /** The previous call's state outputs, keyed by the input they feed (empty on the first call and after resetState). */
  state: ReadonlyMap<string, ort.Tensor>;
  /** onnxruntime's Tensor class, so a builder module need not import onnxruntime-node itself. */
  Tensor: typeof ort.Tensor;
  /** The whole batch: rows in the data set, and the raw samples when the data set keeps them. */
  input: TeacherInput;
}

/**
 * Builds the feeds of one call for a model with extra inputs or recurrent state, e.g. Silero VAD:
 * `(x, n, ctx) => ({ input: ctx.main, state: ctx.state.get("state") ?? zeros([2, n, 128]), sr: int64(16000) })`.
 */
export type OnnxInputBuilder = (x: Float32Array, n: number, ctx: OnnxInputContext) => Record<string, ort.Tensor> | Promise<Record<string, ort.Tensor>>;

export type OnnxOutputKind = "logits" | "probabilities";

export interface OnnxTeacherOptions {
  /** Shape of one sample in tsdistill's layout (NHWC for images), e.g. [28, 28, 1]. */
  sampleShape: number[];
  /** "auto": NCHW when the model's input is [N, C, H, W] with C = the data's channels (and H, W match), else NHWC. */
  layout?: "auto" | "nhwc" | "nchw";
  /**
   * "auto": probabilities when every output row of a probe batch lies in [0, 1] and sums to 1 (then log is taken),
   * else logits. A one-column output is a binary score: probabilities p become [log(1−p), log p] ("auto": when the
   * probe's values lie in [0, 1]), a logit z becomes [0, z].
   */
  output?: "auto" | OnnxOutputKind;
  /** Which model output holds the scores (default the first). */
  outputName?: string;
  /** Intermediate tensors to expose by name (added as graph outputs before the session is made); read with forwardAsync. */
  capture?: string[];
  /** Feeds for models with extra inputs or recurrent state; without it the model must have exactly one input. */
  inputBuilder?: OnnxInputBuilder;
  /**
   * How tsdistill turns each sample into the model's input (input-spec.ts): raw images resized and normalised, raw
   * text tokenized, or features rescaled. Without it the model gets the student's features.
   */
  inputSpec?: InputSpec;
  /** Recurrent state: model output name → the input it feeds on the next call (handed to the builder as ctx.state). */
  state?: Record<string, string>;
  classNames?: string[];
  /** Content hash for the metadata (open-teacher.ts passes the file's). */
  hash?: string | null;
  /** Threads for onnxruntime (default 1). */
  threads?: number;
}

interface Resolved {
  spec: ResolvedInputSpec | null;
  nchw: boolean;
  outputName: string;
  columns: number;
  probabilities: boolean;
}

/**
 * A teacher from any ONNX model, run with onnxruntime-node's CPU provider. The input spec is read from the model;
 * image batches are transposed to NCHW when the model wants it; extra inputs and recurrent state go through an input
 * builder; named intermediate tensors are made graph outputs. ONNX Runtime is asynchronous, so this teacher
 * implements `logitsAsync`: it labels a transfer set into a teacher cache (`tsdistill label`), from which students
 * train without the teacher.
 */
export class OnnxTeacher implements Teacher {
  readonly numClasses: number;
  readonly metadata: TeacherMetadata;
  private state = new Map<string, ort.Tensor>();
  private r: Resolved;

  private constructor(
    private readonly session: ort.InferenceSession,
    readonly name: string,
    private readonly opts: OnnxTeacherOptions,
    resolved: Resolved,
  ) {
    this.r = resolved;
    this.numClasses = resolved.columns === 1 ? 2 : resolved.columns;
    const spec = resolved.spec;
    const first = modelInputs(session)[0];
    const main = spec && spec.kind !== "text" ? modelInputs(session).find((i) => i.name === spec.name)! : first;
    const rawKind = spec ? rawKindOf(spec) : null;
    const layout: TeacherMetadata["input"]["layout"] =
      spec?.kind === "text" ? "sequence" : spec?.kind === "image" ? (spec.flat ? "flat" : spec.layout) : resolved.nchw ? "nchw" : opts.sampleShape.length === 3 ? "nhwc" : opts.sampleShape.length > 1 ? "sequence" : "flat";
    this.metadata = {
      kind: "onnx",
      input: { name: main.name, shape: main.shape, dtype: main.dtype === "int32" || main.dtype === "int64" ? "int32" : "float32", layout, ...(rawKind ? { rawKinds: [rawKind] } : {}) },
      output: {
        numClasses: this.numClasses,
        classNames: opts.classNames,
        kind: resolved.columns === 1 ? (resolved.probabilities ? "binary-probability" : "binary-logit") : resolved.probabilities ? "probabilities" : "logits",
      },
      hash: opts.hash ?? null,
    };
  }

  static async open(path: string, opts: OnnxTeacherOptions): Promise<OnnxTeacher> {
    const bytes = withExtraOutputs(readDataFile(path, "an ONNX model file"), opts.capture ?? [], path);
    let session: ort.InferenceSession;
    try {
      session = await ortModule().InferenceSession.create(bytes, { intraOpNumThreads: opts.threads ?? 1 });
    } catch (err) {
      throw new DataError(path, `could not be loaded by onnxruntime (${(err as Error).message.split("\n")[0]})`);
    }
    try {
      return await OnnxTeacher.resolve(session, path, opts);
    } catch (err) {
      await session.release();
      throw err;
    }
  }

  private static async resolve(session: ort.InferenceSession, path: string, opts: OnnxTeacherOptions): Promise<OnnxTeacher> {
    const inputs = session.inputMetadata;
    if (opts.inputSpec && opts.inputBuilder) throw new DataError(path, "give an input spec or an input builder, not both");
    const spec = opts.inputSpec ? resolveInputSpec(opts.inputSpec, { runtime: "onnx", inputs: modelInputs(session), where: path }) : null;
    if (inputs.length !== 1 && !opts.inputBuilder && spec?.kind !== "text") {
      throw new DataError(path, `has ${inputs.length} inputs (${session.inputNames.join(", ")}); a teacher with extra inputs or state needs an input builder (inputBuilder)`);
    }
    for (const [out, inp] of Object.entries(opts.state ?? {})) {
      if (!session.outputNames.includes(out)) throw new DataError(path, `state: the model has no output "${out}" (outputs: ${session.outputNames.join(", ")})`);
      if (!session.inputNames.includes(inp)) throw new DataError(path, `state: the model has no input "${inp}" (inputs: ${session.inputNames.join(", ")})`);
    }
    const outputName = opts.outputName ?? session.outputNames[0];
    if (!session.outputNames.includes(outputName)) throw new DataError(path, `outputName: the model has no output "${outputName}" (outputs: ${session.outputNames.join(", ")})`);
    const dims = (inputs[0] as { shape?: readonly (number | string)[] }).shape ?? [];
    const s = opts.sampleShape;
    const fixed = (i: number) => (typeof dims[i] === "number" ? (dims[i] as number) : null);
    let nchw = opts.layout === "nchw";
    if ((opts.layout ?? "auto") === "auto" && s.length === 3 && dims.length === 4) {
      nchw = fixed(1) === s[2] && (fixed(2) === null || fixed(2) === s[0]) && (fixed(3) === null || fixed(3) === s[1]) && fixed(3) !== s[2];
    }
    const perSample = s.reduce((a, b) => a * b, 1);
    const modelPerSample = dims.slice(1).reduce<number>((a, d) => (typeof d === "number" ? a * d : a), 1);
    const readsFeatures = !spec || spec.kind === "vector";
    if (!opts.inputBuilder && readsFeatures && dims.slice(1).every((d) => typeof d === "number") && modelPerSample !== perSample) {
      throw new DataError(path, `expects samples of shape [${dims.slice(1)}] (${modelPerSample} values) but the data has [${s}] (${perSample} values)`);
    }
    if (spec) nchw = false;
    const probeTeacher = new OnnxTeacher(session, path, opts, { spec, nchw, outputName, columns: 2, probabilities: false });
    const probeInput: TeacherInput = spec ? syntheticInput(spec, s) : { x: new Float32Array(perSample * 2).fill(0.5), n: 2, sampleShape: s, rows: Int32Array.of(0, 1) };
    const probe = (await probeTeacher.run(probeInput)).get(outputName)!;
    const columns = probe.data.length / 2;
    if (!Number.isInteger(columns) || columns < 1) throw new DataError(path, `output "${outputName}" has ${probe.data.length} values for 2 samples; expected [n, classes]`);
    let probabilities = opts.output === "probabilities";
    if ((opts.output ?? "auto") === "auto") {
      const inUnit = Array.from(probe.data).every((v) => v >= 0 && v <= 1);
      probabilities =
        columns === 1
          ? inUnit
          : inUnit &&
            [0, 1].every((r) => {
              const sum = probe.data.subarray(r * columns, (r + 1) * columns).reduce((a, b) => a + b, 0);
              return Math.abs(sum - 1) < 1e-4;
            });
    }
    return new OnnxTeacher(session, path, opts, { spec, nchw, outputName, columns, probabilities });
  }

  /** Forgets the recurrent state (the next call starts from the builder's initial state). */
  resetState(): void {
    this.state = new Map();
  }

  /** The model's outputs for a batch (score output, captured tensors, state outputs), as float32 arrays with shapes. */
  private async run(input: TeacherInput): Promise<Map<string, FeatureTensor>> {
    const feeds = this.r.spec ? this.specFeeds(input) : await this.featureFeeds(input);
    const missing = this.session.inputNames.filter((k) => !(k in feeds));
    if (missing.length) throw new TsdistillError(`teacher ${this.name}: the input builder gave no feed for input ${missing.map((m) => `"${m}"`).join(", ")}`);
    let out: ort.InferenceSession.OnnxValueMapType;
    try {
      out = await this.session.run(feeds);
    } catch (err) {
      throw new TsdistillError(`teacher ${this.name}: onnxruntime failed (${(err as Error).message.split("\n")[0]})`);
    }
    const next = new Map<string, ort.Tensor>();
    for (const [o, i] of Object.entries(this.opts.state ?? {})) next.set(i, out[o] as ort.Tensor);
    this.state = next;
    const result = new Map<string, FeatureTensor>();
    for (const name of [this.r.outputName, ...(this.opts.capture ?? [])]) {
      const t = out[name] as ort.Tensor;
      if (t.type !== "float32") throw new TsdistillError(`teacher ${this.name}: output ${name} is ${t.type}, expected float32`);
      result.set(name, { data: t.data as Float32Array, shape: t.dims.map(Number) });
    }
    return result;
  }

  /** Feeds built by the input spec from the batch's raw samples (or rescaled features). */
  private specFeeds(input: TeacherInput): Record<string, ort.Tensor> {
    const feeds: Record<string, ort.Tensor> = {};
    for (const f of prepareInput(this.r.spec!, input, this.name)) feeds[f.name] = new (ortModule().Tensor)(f.dtype, f.data, f.shape);
    return feeds;
  }

  /** The student's features as the model's input (NCHW-transposed when it wants it), or the input builder's feeds. */
  private async featureFeeds(input: TeacherInput): Promise<Record<string, ort.Tensor>> {
    const { x, n } = input;
    let data = x;
    let shape = [n, ...this.opts.sampleShape];
    if (this.r.nchw) {
      const [h, w, c] = this.opts.sampleShape;
      data = new Float32Array(x.length);
      for (let i = 0; i < n; i++)
        for (let y = 0; y < h; y++) for (let xx = 0; xx < w; xx++) for (let ch = 0; ch < c; ch++) data[((i * c + ch) * h + y) * w + xx] = x[((i * h + y) * w + xx) * c + ch];
      shape = [n, c, h, w];
    }
    const main = new (ortModule().Tensor)("float32", data, shape);
    return this.opts.inputBuilder
      ? await this.opts.inputBuilder(x, n, { sampleShape: this.opts.sampleShape, inputs: this.session.inputMetadata as OnnxInputContext["inputs"], main, state: this.state, Tensor: ortModule().Tensor, input })
      : { [this.session.inputNames[0]]: main };
  }

  private toLogits(y: Float32Array, n: number): Float32Array {
    const { columns, probabilities } = this.r;
    if (y.length !== n * columns) throw new TsdistillError(`teacher ${this.name}: output ${this.r.outputName} has ${y.length} values for ${n} samples, expected ${n * columns}`);
    const log = (v: number) => Math.log(Math.max(v, 1e-30));
    if (columns === 1) {
      const out = new Float32Array(2 * n);
      for (let i = 0; i < n; i++) {
        out[2 * i] = probabilities ? log(1 - y[i]) : 0;
        out[2 * i + 1] = probabilities ? log(y[i]) : y[i];
      }
      return out;
    }
    if (!probabilities) return y;
    return Float32Array.from(y, log);
  }

  /** Logits [n, C] for a batch (log-probabilities when the model outputs probabilities). */
  async logitsAsync(input: TeacherInput): Promise<Float32Array> {
    return this.toLogits((await this.run(input)).get(this.r.outputName)!.data, input.n);
  }

  /** Logits plus the tensors named in `capture` (each must have been given in the options' `capture` at open). */
  async forwardAsync(input: TeacherInput, capture: string[]): Promise<{ logits: Float32Array; features: Map<string, FeatureTensor> }> {
    const known = this.opts.capture ?? [];
    const unknown = capture.filter((c) => !known.includes(c));
    if (unknown.length) throw new TsdistillError(`teacher ${this.name}: "${unknown[0]}" was not captured; open the teacher with capture: [${[...known, ...unknown].map((c) => `"${c}"`).join(", ")}]`);
    const out = await this.run(input);
    const features = new Map(capture.map((c) => [c, out.get(c)!] as const));
    return { logits: this.toLogits(out.get(this.r.outputName)!.data, input.n), features };
  }

  logits(): tf.Tensor2D {
    throw new TsdistillError(`teacher ${this.name}: ONNX teachers run asynchronously; run them with runTeacher (teacher-run.ts), or label the transfer set first ('tsdistill label')`);
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}

/** The model's inputs: names, shapes (null for open dims) and element types. */
function modelInputs(session: ort.InferenceSession): ModelInput[] {
  return session.inputMetadata.map((m) => {
    const meta = m as { name: string; type?: string; shape?: readonly (number | string)[] };
    return { name: meta.name, shape: (meta.shape ?? []).map((d) => (typeof d === "number" && d >= 0 ? d : null)), dtype: meta.type ?? "float32" };
  });
}
