import * as tf from "@tensorflow/tfjs-core";
import type * as ort from "onnxruntime-node";
import { ortModule } from "../util/ort.js";
import type { TransformerModel } from "../students/transformer.js";
import { TsdistillError } from "../util/errors.js";
import { Rng } from "../util/rng.js";

/** Session options that keep int8 weights in fp32 math, as OnnxRunner's `exactFloat` does (see there). */
const EXACT_FLOAT: ort.InferenceSession.SessionOptions = { extra: { session: { qdq_matmulnbits_accuracy_level: "1" } } };

/** Runs an exported transformer (onnx-transformer.ts) on token ids with onnxruntime-node's CPU provider. */
export class OnnxTokenRunner {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly outputName: string,
  ) {}

  static async create(model: Uint8Array | string, opts: { threads?: number; exactFloat?: boolean } = {}): Promise<OnnxTokenRunner> {
    const options: ort.InferenceSession.SessionOptions = { intraOpNumThreads: opts.threads ?? 1, interOpNumThreads: 1, ...(opts.exactFloat ? EXACT_FLOAT : {}) };
    const session = typeof model === "string" ? await ortModule().InferenceSession.create(model, options) : await ortModule().InferenceSession.create(model, options);
    for (const name of ["input_ids", "attention_mask"]) {
      if (!session.inputNames.includes(name)) {
        await session.release();
        throw new TsdistillError(`ONNX model${typeof model === "string" ? ` ${model}` : ""}: has inputs ${session.inputNames.join(", ")}; expected input_ids and attention_mask (a transformer export)`);
      }
    }
    return new OnnxTokenRunner(session, session.outputNames[0]);
  }

  get inputNames(): readonly string[] {
    return this.session.inputNames;
  }

  /**
   * ids and mask: row-major [batch, length]; position_ids (0…length−1 on every row unless given) is fed only when
   * the graph takes it. Returns the first output and its dims.
   */
  async run(ids: ArrayLike<number>, mask: ArrayLike<number>, batch: number, length: number, positions?: ArrayLike<number>): Promise<{ data: Float32Array; dims: readonly number[] }> {
    const shape = [batch, length];
    const int64 = (v: ArrayLike<number>) => new (ortModule().Tensor)("int64", BigInt64Array.from(Array.from(v, (x) => BigInt(x))), shape);
    const feeds: Record<string, ort.Tensor> = { input_ids: int64(ids), attention_mask: int64(mask) };
    if (this.session.inputNames.includes("position_ids")) {
      feeds.position_ids = int64(positions ?? Array.from({ length: batch * length }, (_, i) => i % length));
    }
    const out = await this.session.run(feeds);
    const t = out[this.outputName];
    return { data: t.data as Float32Array, dims: t.dims };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

export interface TransformerOnnxCheck {
  samples: number;
  batches: number;
  /** The distinct sequence lengths the session ran (dynamic shapes). */
  lengths: number[];
  /** Rows with padding. */
  paddedSamples: number;
  /** max |onnx − tfjs| over every output value (LM: every position, padding included). */
  maxAbsDiff: number;
  /** max |tfjs output|, for scale. */
  maxAbsOutput: number;
  /** Share of rows (LM: real tokens; classify: samples) where both give the same top-1; null for embed heads. */
  agreement: number | null;
  /** Smallest cosine similarity between the two outputs' rows (embed heads; null otherwise). */
  minCosine: number | null;
}

export interface TransformerOnnxCheckOptions {
  samples?: number;
  /** Samples per run (default 8). */
  batch?: number;
  seed?: number;
  /** Sequence lengths to cycle through (default: a random length in [1, ctx] per batch). */
  lengths?: number[];
  /**
   * Token sequences to draw the real tokens from (a random slice of a random sequence per row); default: uniform
   * random ids. Each must be at least as long as the longest row.
   */
  sequences?: ArrayLike<number>[];
  /** fp32 math for int8 weights (default true). */
  exactFloat?: boolean;
  threads?: number;
}

/**
 * Runs `samples` random token sequences through the TF.js model (TransformerModel.forward) and the exported ONNX
 * model in onnxruntime-node, in batches of random length; rows get random real lengths, padded with the pad id on
 * the right or the left (attention_mask 0 there), when the model has a pad id. Reports the largest difference and
 * the top-1 agreement.
 */
export async function checkTransformerOnnx(model: TransformerModel, onnx: Uint8Array | string, opts: TransformerOnnxCheckOptions = {}): Promise<TransformerOnnxCheck> {
  const c = model.config;
  const samples = opts.samples ?? 1000;
  const batchSize = opts.batch ?? 8;
  const rng = new Rng(opts.seed ?? 0, "onnx-transformer-check");
  for (const t of opts.lengths ?? []) if (!Number.isInteger(t) || t < 1 || t > c.ctx) throw new TsdistillError(`ONNX check: length ${t} is outside [1, ${c.ctx}] (the context length)`);
  const maxLength = opts.lengths?.length ? Math.max(...opts.lengths) : c.ctx;
  for (const [k, seq] of (opts.sequences ?? []).entries()) {
    if (seq.length < maxLength) throw new TsdistillError(`ONNX check: sequence ${k} has ${seq.length} tokens; expected at least ${maxLength}`);
    for (let i = 0; i < seq.length; i++) {
      if (!Number.isInteger(seq[i]) || seq[i] < 0 || seq[i] >= c.vocab) throw new TsdistillError(`ONNX check: sequence ${k}, token ${i}: ${seq[i]} is not an id in [0, ${c.vocab})`);
    }
  }
  if (opts.sequences?.length === 0) throw new TsdistillError("ONNX check: sequences is empty; expected at least one token sequence");
  const runner = await OnnxTokenRunner.create(onnx, { exactFloat: opts.exactFloat ?? true, threads: opts.threads });
  const width = c.head === "lm" ? c.vocab : model.numOutputs;
  const lengths = new Set<number>();
  let maxAbsDiff = 0;
  let maxAbsOutput = 0;
  let same = 0;
  let compared = 0;
  let minCosine = Infinity;
  let paddedSamples = 0;
  let batches = 0;
  try {
    for (let start = 0; start < samples; start += batchSize, batches++) {
      const B = Math.min(batchSize, samples - start);
      const T = opts.lengths?.length ? opts.lengths[batches % opts.lengths.length] : 1 + rng.int(c.ctx);
      lengths.add(T);
      const ids = new Int32Array(B * T);
      const mask = new Int32Array(B * T);
      for (let b = 0; b < B; b++) {
        const real = c.padId === null || rng.next() < 0.25 ? T : 1 + rng.int(T);
        const offset = rng.next() < 0.5 ? 0 : T - real; // right or left padding
        if (real < T) paddedSamples++;
        const seq = opts.sequences?.[rng.int(opts.sequences.length)];
        const from = seq ? rng.int(seq.length - real + 1) : 0;
        for (let t = 0; t < T; t++) {
          const isReal = t >= offset && t < offset + real;
          let id = c.padId ?? 0;
          if (isReal && seq) id = seq[from + t - offset];
          else if (isReal) do id = rng.int(c.vocab); while (id === c.padId);
          ids[b * T + t] = id;
          mask[b * T + t] = id === c.padId ? 0 : 1; // as TF.js reads padding: a pad id inside a given sequence is padding too
        }
      }
      const want = tf.tidy(() => model.forward(tf.tensor2d(Float32Array.from(ids), [B, T])).logits.dataSync() as Float32Array);
      const got = await runner.run(ids, mask, B, T);
      const wantDims = c.head === "lm" ? [B, T, width] : [B, width];
      if (got.dims.join() !== wantDims.join()) throw new Error(`ONNX check: output dims [${got.dims}], expected [${wantDims}]`);
      for (let i = 0; i < want.length; i++) {
        maxAbsDiff = Math.max(maxAbsDiff, Math.abs(want[i] - got.data[i]));
        maxAbsOutput = Math.max(maxAbsOutput, Math.abs(want[i]));
      }
      const rows = want.length / width;
      for (let r = 0; r < rows; r++) {
        if (c.head === "lm" && mask[r] === 0) continue; // LM rows are tokens: compare top-1 at real tokens only
        const o = r * width;
        if (c.head === "embed") {
          let dot = 0;
          let na = 0;
          let nb = 0;
          for (let j = 0; j < width; j++) (dot += want[o + j] * got.data[o + j]), (na += want[o + j] ** 2), (nb += got.data[o + j] ** 2);
          minCosine = Math.min(minCosine, dot / Math.sqrt(na * nb || 1));
        } else {
          compared++;
          if (argmax(want, o, width) === argmax(got.data, o, width)) same++;
        }
      }
    }
  } finally {
    await runner.release();
  }
  return {
    samples,
    batches,
    lengths: [...lengths].sort((a, b) => a - b),
    paddedSamples,
    maxAbsDiff,
    maxAbsOutput,
    agreement: c.head === "embed" ? null : same / Math.max(compared, 1),
    minCosine: c.head === "embed" ? minCosine : null,
  };
}

function argmax(v: ArrayLike<number>, offset: number, n: number): number {
  let best = 0;
  for (let j = 1; j < n; j++) if (v[offset + j] > v[offset + best]) best = j;
  return best;
}
