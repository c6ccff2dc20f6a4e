import * as tf from "@tensorflow/tfjs-core";
import * as ort from "onnxruntime-node";
import { readDataFile } from "../util/files.js";
import { DataError, TsdistillError } from "../util/errors.js";
import type { Teacher } from "./teacher.js";

export interface OnnxTeacherOptions {
  /** Shape of one sample in tsdistill's layout (NHWC for images), e.g. [28, 28, 1]. */
  sampleShape: number[];
  /** "auto": NCHW when the model's input is [N, C, H, W] with C = the data's channels (and H, W match), else NHWC. */
  layout?: "auto" | "nhwc" | "nchw";
  /** "auto": probabilities when every output row sums to 1 on a probe batch (then log is taken), else logits. */
  output?: "auto" | "logits" | "probabilities";
  /** Threads for onnxruntime (default 1). */
  threads?: number;
}

/**
 * A teacher from any ONNX classifier, run with onnxruntime-node's CPU provider. The input spec is read from the
 * model; image batches are transposed to NCHW when the model wants it. ONNX Runtime is asynchronous, so this teacher
 * implements `logitsAsync`: it labels a transfer set into a teacher cache (`tsdistill label`), from which students
 * train without the teacher.
 */
export class OnnxTeacher implements Teacher {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly name: string,
    readonly numClasses: number,
    private readonly nchw: boolean,
    private readonly sampleShape: number[],
    private readonly probabilities: boolean,
  ) {}

  static async open(path: string, opts: OnnxTeacherOptions): Promise<OnnxTeacher> {
    const bytes = readDataFile(path, "an ONNX model file");
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: opts.threads ?? 1 });
    } catch (err) {
      throw new DataError(path, `could not be loaded by onnxruntime (${(err as Error).message.split("\n")[0]})`);
    }
    const inputs = session.inputMetadata;
    if (inputs.length !== 1) throw new DataError(path, `has ${inputs.length} inputs (${session.inputNames.join(", ")}); a teacher with extra inputs needs an input builder`);
    const meta = inputs[0] as { shape?: readonly (number | string)[] };
    const dims = meta.shape ?? [];
    const s = opts.sampleShape;
    const fixed = (i: number) => (typeof dims[i] === "number" ? (dims[i] as number) : null);
    let nchw = opts.layout === "nchw";
    if ((opts.layout ?? "auto") === "auto" && s.length === 3 && dims.length === 4) {
      nchw = fixed(1) === s[2] && (fixed(2) === null || fixed(2) === s[0]) && (fixed(3) === null || fixed(3) === s[1]) && fixed(3) !== s[2];
    }
    const perSample = s.reduce((a, b) => a * b, 1);
    const modelPerSample = dims.slice(1).reduce<number>((a, d) => (typeof d === "number" ? a * d : a), 1);
    if (dims.slice(1).every((d) => typeof d === "number") && modelPerSample !== perSample) {
      throw new DataError(path, `expects samples of shape [${dims.slice(1)}] (${modelPerSample} values) but the data has [${s}] (${perSample} values)`);
    }
    const teacher = new OnnxTeacher(session, path, 0, nchw, s, false);
    const probe = await teacher.run(new Float32Array(perSample * 2).fill(0.5), 2);
    const numClasses = probe.length / 2;
    let probabilities = opts.output === "probabilities";
    if ((opts.output ?? "auto") === "auto") {
      probabilities = [0, 1].every((r) => {
        const row = probe.subarray(r * numClasses, (r + 1) * numClasses);
        const sum = row.reduce((a, b) => a + b, 0);
        return row.every((v) => v >= 0) && Math.abs(sum - 1) < 1e-4;
      });
    }
    return new OnnxTeacher(session, path, numClasses, nchw, s, probabilities);
  }

  private async run(x: Float32Array, n: number): Promise<Float32Array> {
    const name = this.session.inputNames[0];
    let data = x;
    let shape = [n, ...this.sampleShape];
    if (this.nchw) {
      const [h, w, c] = this.sampleShape;
      data = new Float32Array(x.length);
      for (let i = 0; i < n; i++)
        for (let y = 0; y < h; y++) for (let xx = 0; xx < w; xx++) for (let ch = 0; ch < c; ch++) data[((i * c + ch) * h + y) * w + xx] = x[((i * h + y) * w + xx) * c + ch];
      shape = [n, c, h, w];
    }
    const out = await this.session.run({ [name]: new ort.Tensor("float32", data, shape) });
    const first = out[this.session.outputNames[0]];
    if (first.type !== "float32") throw new TsdistillError(`teacher ${this.name}: output ${this.session.outputNames[0]} is ${first.type}, expected float32 scores`);
    return first.data as Float32Array;
  }

  /** Logits [n, C] for n samples in tsdistill's layout (log-probabilities when the model outputs probabilities). */
  async logitsAsync(x: Float32Array, n: number): Promise<Float32Array> {
    const y = await this.run(x, n);
    if (!this.probabilities) return y;
    const out = new Float32Array(y.length);
    for (let i = 0; i < y.length; i++) out[i] = Math.log(Math.max(y[i], 1e-30));
    return out;
  }

  logits(): tf.Tensor2D {
    throw new TsdistillError(`teacher ${this.name}: ONNX teachers run asynchronously; label the transfer set first ('tsdistill label') and distil from the cache`);
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}
