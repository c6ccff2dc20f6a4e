import * as tf from "@tensorflow/tfjs-core";
import { embeddingLookup } from "../engine/sequence-ops.js";
import type { Rng } from "../util/rng.js";
import type { ForwardContext } from "./layers.js";
import { outputWidth, type TransformerConfig } from "./transformer-config.js";
import { dropout, INIT_STD, Linear, normalParam, type NamedParam } from "./transformer-params.js";
import type { TokenBatch } from "./transformer-tokens.js";

/** Token embedding plus learned positions. */
export class Embeddings {
  static readonly className = "Embeddings";
  readonly token: NamedParam;
  readonly position: NamedParam;
  constructor(
    readonly config: TransformerConfig,
    rng: Rng,
  ) {
    this.token = normalParam("embeddings/token", [config.vocab, config.dim], INIT_STD, rng);
    this.position = normalParam("embeddings/position", [config.ctx, config.dim], INIT_STD, rng);
  }
  get params(): NamedParam[] {
    return [this.token, this.position];
  }
  /** ids [B, T] → [B·T, C] */
  apply(tokens: TokenBatch, ctx: ForwardContext): tf.Tensor2D {
    const { batch: B, length: T } = tokens;
    const C = this.config.dim;
    const tok = embeddingLookup(this.token.tensor as tf.Tensor2D, tokens.ids); // [B, T, C]
    const pos = tf.slice(this.position.tensor, [0, 0], [T, C]); // [T, C]
    return dropout(tf.reshape(tf.add(tok, pos), [B * T, C]), this.config.dropout, ctx, "embeddings");
  }
}

/** Mean over the real (non-padding) tokens, or the first token: [B·T, C] → [B, C]. */
export function pool(h: tf.Tensor2D, tokens: TokenBatch, how: "mean" | "first"): tf.Tensor2D {
  const { batch: B, length: T } = tokens;
  const C = h.shape[1];
  const h3 = tf.reshape(h, [B, T, C]); // [B, T, C]
  if (how === "first") return tf.reshape(tf.slice(h3, [0, 0, 0], [B, 1, C]), [B, C]);
  if (!tokens.keep) return tf.mean(h3, 1) as tf.Tensor2D;
  const count = tf.maximum(tf.sum(tokens.keep, 1), 1); // [B, 1]
  return tf.div(tf.sum(tf.mul(h3, tokens.keep), 1), count) as tf.Tensor2D;
}

/**
 * The output: per-token LM logits [B·T, vocab] (through the token embedding when tied), or a pooled vector
 * projected to class logits [B, classes] or to an embedding [B, embedDim].
 */
export class OutputHead {
  static readonly className = "OutputHead";
  readonly proj: Linear | null;
  constructor(
    readonly config: TransformerConfig,
    rng: Rng,
  ) {
    const lm = config.head === "lm";
    this.proj = lm && config.tie ? null : new Linear("head", config.dim, outputWidth(config), rng, { bias: !lm });
  }
  get params(): NamedParam[] {
    return this.proj?.params ?? [];
  }
  /** h [B·T, C] (after the final LayerNorm) → logits; `record` receives the pooled vector [B, C]. */
  apply(h: tf.Tensor2D, tokens: TokenBatch, tokenTable: tf.Variable, record: (name: string, t: tf.Tensor) => void): tf.Tensor2D {
    if (this.config.head === "lm") return this.proj ? this.proj.apply(h) : tf.matMul(h, tokenTable, false, true); // [B·T, V]
    const pooled = pool(h, tokens, this.config.pool); // [B, C]
    record("pooled", pooled);
    return this.proj!.apply(pooled);
  }
}
