import type * as ort from "onnxruntime-node";
import { ortModule } from "../util/ort.js";

/** Runs an ONNX model (bytes or file) on a float32 batch with onnxruntime-node's CPU provider. */
export class OnnxRunner {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly inputName: string,
    readonly outputName: string,
  ) {}

  /**
   * `exactFloat` keeps dequantized int8 weights in float32 arithmetic; by default onnxruntime may fuse
   * DequantizeLinear + MatMul into an int8 kernel that also rounds the activations.
   */
  static async create(model: Uint8Array | string, opts: { threads?: number; exactFloat?: boolean } = {}): Promise<OnnxRunner> {
    const options: ort.InferenceSession.SessionOptions = {
      intraOpNumThreads: opts.threads ?? 1,
      ...(opts.exactFloat ? { extra: { session: { qdq_matmulnbits_accuracy_level: "1" } } } : {}),
    };
    const session = typeof model === "string" ? await ortModule().InferenceSession.create(model, options) : await ortModule().InferenceSession.create(model, options);
    return new OnnxRunner(session, session.inputNames[0], session.outputNames[0]);
  }

  /** Runs the graph on float32 input, or uint8 input for a graph that takes pixels. */
  async run(x: Float32Array | Uint8Array, shape: number[]): Promise<Float32Array> {
    const input = x instanceof Uint8Array ? new (ortModule().Tensor)("uint8", x, shape) : new (ortModule().Tensor)("float32", x, shape);
    const out = await this.session.run({ [this.inputName]: input });
    return out[this.outputName].data as Float32Array;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
