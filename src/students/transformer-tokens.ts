import * as tf from "@tensorflow/tfjs-core";
import type { TransformerConfig } from "./transformer-config.js";

/** A batch of token ids and the masks derived from them (built once per forward pass). */
export interface TokenBatch {
  /** [B, T] int32 */
  readonly ids: tf.Tensor2D;
  readonly host: Int32Array;
  readonly batch: number;
  readonly length: number;
  /** [B, T]: 1 at keys attention may use, 0 at padding (attentionSoftmax's mask; the causal mask comes from the config); null when the batch has no padding. */
  readonly keyMask: tf.Tensor2D | null;
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
  let keyMask: tf.Tensor2D | null = null;
  if (hasPad) {
    const k = new Float32Array(B * T);
    for (let b = 0; b < B; b++) {
      last[b] = 0;
      for (let t = 0; t < T; t++) if (!isPad(b, t)) (k[b * T + t] = 1), (last[b] = t);
    }
    keep = tf.tensor3d(k, [B, T, 1]);
    keyMask = tf.tensor2d(k, [B, T]);
  }
  return { ids: tf.tensor2d(host, [B, T], "int32"), host, batch: B, length: T, keyMask, keep, last };
}
