import * as tf from "@tensorflow/tfjs-core";
import { attentionSoftmax, gelu } from "../engine/sequence-ops.js";
import type { Rng } from "../util/rng.js";
import type { ForwardContext } from "./layers.js";
import type { TransformerConfig } from "./transformer-config.js";
import { dropout, INIT_STD, Linear, Norm, type NamedParam } from "./transformer-params.js";
import type { TokenBatch } from "./transformer-tokens.js";

/** Residual projections start smaller, N(0, 0.02/√(2·layers)), so the residual stream's variance does not grow with depth (GPT-2). */
const residualStd = (c: TransformerConfig) => INIT_STD / Math.sqrt(2 * c.layers);

/** [B·T, C] → [B·H, T, hs] */
function splitHeads(t: tf.Tensor2D, B: number, T: number, H: number, hs: number): tf.Tensor3D {
  return tf.reshape(tf.transpose(tf.reshape(t, [B, T, H, hs]), [0, 2, 1, 3]), [B * H, T, hs]);
}

/** [B·H, T, hs] → [B·T, C] */
function mergeHeads(t: tf.Tensor3D, B: number, T: number, H: number, hs: number): tf.Tensor2D {
  return tf.reshape(tf.transpose(tf.reshape(t, [B, H, T, hs]), [0, 2, 1, 3]), [B * T, H * hs]);
}

/** Multi-head self-attention, causal or bidirectional, with padded keys masked out. */
export class SelfAttention {
  static readonly className = "SelfAttention";
  readonly qkv: Linear;
  readonly proj: Linear;
  constructor(
    readonly name: string,
    readonly config: TransformerConfig,
    rng: Rng,
  ) {
    this.qkv = new Linear(`${name}/qkv`, config.dim, 3 * config.dim, rng);
    this.proj = new Linear(`${name}/proj`, config.dim, config.dim, rng, { std: residualStd(config) });
  }
  get params(): NamedParam[] {
    return [...this.qkv.params, ...this.proj.params];
  }
  /** x [B·T, C] → y [B·T, C] and the attention probabilities [B, H, T, T]. */
  apply(x: tf.Tensor2D, tokens: TokenBatch, ctx: ForwardContext): { y: tf.Tensor2D; probs: tf.Tensor4D } {
    const { dim: C, heads: H, dropout: p } = this.config;
    const { batch: B, length: T } = tokens;
    const hs = C / H;
    const [q, k, v] = tf.split(this.qkv.apply(x), 3, 1).map((t) => splitHeads(t as tf.Tensor2D, B, T, H, hs)); // 3 × [B·H, T, hs]
    const scores = tf.reshape(tf.matMul(q, k, false, true), [B, H, T, T]) as tf.Tensor4D;
    // Scale, causal and padding masks and softmax in one op (one kernel each way on native).
    const probs = attentionSoftmax(scores, { scale: 1 / Math.sqrt(hs), causal: this.config.causal, mask: tokens.keyMask ?? undefined }); // [B, H, T, T]
    const mixed = tf.matMul(dropout(tf.reshape(probs, [B * H, T, T]), p, ctx, this.name), v) as tf.Tensor3D; // [B·H, T, hs]
    const y = this.proj.apply(mergeHeads(mixed, B, T, H, hs)); // [B·T, C]
    return { y: dropout(y, p, ctx, this.name), probs };
  }
}

/** Position-wise feed-forward: Linear(C → ff), GELU, Linear(ff → C). */
export class Mlp {
  static readonly className = "Mlp";
  readonly fc: Linear;
  readonly proj: Linear;
  constructor(
    readonly name: string,
    readonly config: TransformerConfig,
    rng: Rng,
  ) {
    this.fc = new Linear(`${name}/fc`, config.dim, config.ff, rng);
    this.proj = new Linear(`${name}/proj`, config.ff, config.dim, rng, { std: residualStd(config) });
  }
  get params(): NamedParam[] {
    return [...this.fc.params, ...this.proj.params];
  }
  /** [B·T, C] → [B·T, C] */
  apply(x: tf.Tensor2D, ctx: ForwardContext): tf.Tensor2D {
    return dropout(this.proj.apply(gelu(this.fc.apply(x))), this.config.dropout, ctx, this.name);
  }
}

/** Pre-LayerNorm block: x + attention(LN(x)), then + MLP(LN(·)). */
export class Block {
  static readonly className = "Block";
  readonly ln1: Norm;
  readonly attention: SelfAttention;
  readonly ln2: Norm;
  readonly mlp: Mlp;
  constructor(
    readonly name: string,
    config: TransformerConfig,
    rng: Rng,
  ) {
    this.ln1 = new Norm(`${name}/ln_1`, config.dim);
    this.attention = new SelfAttention(`${name}/attention`, config, rng);
    this.ln2 = new Norm(`${name}/ln_2`, config.dim);
    this.mlp = new Mlp(`${name}/mlp`, config, rng);
  }
  get params(): NamedParam[] {
    return [...this.ln1.params, ...this.attention.params, ...this.ln2.params, ...this.mlp.params];
  }
  /** x [B·T, C] → [B·T, C], and the attention probabilities [B, H, T, T]. */
  apply(x: tf.Tensor2D, tokens: TokenBatch, ctx: ForwardContext): { out: tf.Tensor2D; probs: tf.Tensor4D } {
    const a = this.attention.apply(this.ln1.apply(x), tokens, ctx);
    const h = tf.add(x, a.y) as tf.Tensor2D;
    return { out: tf.add(h, this.mlp.apply(this.ln2.apply(h), ctx)), probs: a.probs };
  }
}
