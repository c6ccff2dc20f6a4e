import * as tf from "@tensorflow/tfjs-core";
import type { TransformerConfig } from "./transformer-config.js";

/** Added to the attention scores of masked keys: exp underflows to exactly 0, and a row with every key masked stays finite. */
const MASKED = -1e9;

/** A batch of token ids and the masks derived from them (built once per forward pass). */
export interface TokenBatch {
  /** [B, T] int32 */
  readonly ids: tf.Tensor2D;
  readonly host: Int32Array;
  readonly batch: number;
  readonly length: number;
  /** Additive attention bias [B, 1, T, T]: MASKED where key j is padding or (causal) j > i; null when nothing is masked. */
  readonly bias: tf.Tensor4D | null;
  /** [B, T, 1]: 1 at real tokens, 0 at padding; null when the batch has no padding. */
  readonly keep: tf.Tensor3D | null;
  /** Position of each row's last real token. */
  readonly last: Int32Array;
}

/**
 * Token ids arrive as the dataset's float features [B, T] (so datasets, batching and caches stay as they are) and
 * are checked and cast to int32 here.
 */
export function tokenBatch(x: tf.Tensor, config: TransformerConfig): TokenBatch {
  if (x.rank !== 2) throw new Error(`transformer input: expected token ids [batch, tokens], got shape [${x.shape}]`);
  const [B, T] = x.shape as [number, number];
  if (T < 1 || T > config.ctx) throw new Error(`transformer input: ${T} tokens per sample; expected 1 to ${config.ctx} (the context length)`);
  const values = x.dataSync();
  const host = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!(Number.isInteger(v) && v >= 0 && v < config.vocab)) {
      throw new Error(`transformer input: token ${v} at row ${Math.floor(i / T)}, position ${i % T} is not an id in [0, ${config.vocab})`);
    }
    host[i] = v;
  }
  const pad = config.padId;
  const isPad = (b: number, t: number) => pad !== null && host[b * T + t] === pad;
  const hasPad = pad !== null && host.includes(pad);
  const last = new Int32Array(B).fill(T - 1);
  let keep: tf.Tensor3D | null = null;
  if (hasPad) {
    const k = new Float32Array(B * T);
    for (let b = 0; b < B; b++) {
      last[b] = 0;
      for (let t = 0; t < T; t++) if (!isPad(b, t)) (k[b * T + t] = 1), (last[b] = t);
    }
    keep = tf.tensor3d(k, [B, T, 1]);
  }
  let bias: tf.Tensor4D | null = null;
  if (hasPad || (config.causal && T > 1)) {
    const m = new Float32Array(B * T * T);
    for (let b = 0; b < B; b++) {
      for (let i = 0; i < T; i++) {
        for (let j = 0; j < T; j++) if ((config.causal && j > i) || isPad(b, j)) m[(b * T + i) * T + j] = MASKED;
      }
    }
    bias = tf.tensor4d(m, [B, 1, T, T]);
  }
  return { ids: tf.tensor2d(host, [B, T], "int32"), host, batch: B, length: T, bias, keep, last };
}
