// A small causal transformer LM written directly with the engine's ops (src/engine/sequence-ops.ts, dense from
// src/engine/ops.ts, tf.matMul/reshape/transpose), for timing a training step per backend (bench/transformer-step.ts)
// and for the determinism test of the native sequence kernels. Token embedding + learned positions → pre-LN blocks
// (causal multi-head self-attention, GELU MLP, residuals) → final LayerNorm → LM head; cross-entropy; Adam.
import * as tf from "@tensorflow/tfjs-core";
import { dense } from "../src/engine/ops.js";
import { attentionSoftmax, embeddingLookup, gelu, layerNorm } from "../src/engine/sequence-ops.js";
import { crossEntropy } from "../src/losses/cross-entropy.js";
import { createOptimizer, OptimizerConfig } from "../src/train/optimizers.js";
import { Rng } from "../src/util/rng.js";

export interface TinyTransformerConfig {
  vocab: number;
  layers: number;
  dim: number;
  heads: number;
  ff: number;
  ctx: number;
}

export const BENCH_TRANSFORMER: TinyTransformerConfig = { vocab: 256, layers: 2, dim: 128, heads: 4, ff: 512, ctx: 64 };

interface Block {
  ln1: [tf.Variable, tf.Variable];
  q: [tf.Variable, tf.Variable];
  k: [tf.Variable, tf.Variable];
  v: [tf.Variable, tf.Variable];
  o: [tf.Variable, tf.Variable];
  ln2: [tf.Variable, tf.Variable];
  up: [tf.Variable, tf.Variable];
  down: [tf.Variable, tf.Variable];
}

let instances = 0;

export class TinyTransformer {
  readonly params: tf.Variable[] = [];
  private readonly tokens: tf.Variable;
  private readonly positions: tf.Variable;
  private readonly blocks: Block[];
  private readonly lnF: [tf.Variable, tf.Variable];
  private readonly head: tf.Variable;

  constructor(readonly config: TinyTransformerConfig, seed: number) {
    const rng = new Rng(seed, "tiny-transformer");
    const id = `tt${instances++}`; // variable names are process-wide
    const { vocab, dim, ff, ctx } = config;
    const normal = (shape: number[], std: number, name: string) =>
      this.keep(tf.variable(tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal() * std), shape), true, `${id}.${name}`));
    const fill = (n: number, v: number, name: string) => this.keep(tf.variable(tf.fill([n], v), true, `${id}.${name}`));
    const linear = (i: number, o: number, name: string): [tf.Variable, tf.Variable] => [normal([i, o], 0.02, `${name}.w`), fill(o, 0, `${name}.b`)];
    const norm = (name: string): [tf.Variable, tf.Variable] => [fill(dim, 1, `${name}.g`), fill(dim, 0, `${name}.b`)];
    this.tokens = normal([vocab, dim], 0.02, "tok");
    this.positions = normal([ctx, dim], 0.01, "pos");
    this.blocks = Array.from({ length: config.layers }, (_, l) => ({
      ln1: norm(`b${l}.ln1`),
      q: linear(dim, dim, `b${l}.q`),
      k: linear(dim, dim, `b${l}.k`),
      v: linear(dim, dim, `b${l}.v`),
      o: linear(dim, dim, `b${l}.o`),
      ln2: norm(`b${l}.ln2`),
      up: linear(dim, ff, `b${l}.up`),
      down: linear(ff, dim, `b${l}.down`),
    }));
    this.lnF = norm("lnf");
    this.head = normal([dim, vocab], 0.02, "head");
  }

  private keep(v: tf.Variable): tf.Variable {
    this.params.push(v);
    return v;
  }

  /** Causal self-attention over h [B·T, D] → [B·T, D]. */
  private attention(h: tf.Tensor2D, blk: Block, batch: number, t: number): tf.Tensor2D {
    const { dim, heads } = this.config;
    const hd = dim / heads;
    const split = (p: [tf.Variable, tf.Variable]) => tf.transpose(tf.reshape(dense(h, p[0] as tf.Tensor2D, p[1] as tf.Tensor1D, "linear"), [batch, t, heads, hd]), [0, 2, 1, 3]);
    const [q, k, v] = [split(blk.q), split(blk.k), split(blk.v)];
    const scores = tf.matMul(q, k, false, true); // [B, H, T, T]
    const p = attentionSoftmax(scores, { scale: 1 / Math.sqrt(hd), causal: true });
    const o = tf.reshape(tf.transpose(tf.matMul(p, v), [0, 2, 1, 3]), [batch * t, dim]) as tf.Tensor2D;
    return dense(o, blk.o[0] as tf.Tensor2D, blk.o[1] as tf.Tensor1D, "linear");
  }

  /** Logits [B·T, vocab] for ids [B, T]. */
  logits(ids: tf.Tensor2D): tf.Tensor2D {
    const [batch, t] = ids.shape;
    const { dim } = this.config;
    const pos = t === this.config.ctx ? this.positions : tf.slice(this.positions, [0, 0], [t, dim]);
    let x = tf.reshape(tf.add(embeddingLookup(this.tokens as tf.Tensor2D, ids), pos), [batch * t, dim]) as tf.Tensor2D;
    for (const blk of this.blocks) {
      x = tf.add(x, this.attention(layerNorm(x, blk.ln1[0] as tf.Tensor1D, blk.ln1[1] as tf.Tensor1D), blk, batch, t));
      const h = layerNorm(x, blk.ln2[0] as tf.Tensor1D, blk.ln2[1] as tf.Tensor1D);
      const up = gelu(dense(h, blk.up[0] as tf.Tensor2D, blk.up[1] as tf.Tensor1D, "linear"));
      x = tf.add(x, dense(up, blk.down[0] as tf.Tensor2D, blk.down[1] as tf.Tensor1D, "linear"));
    }
    return tf.matMul(layerNorm(x, this.lnF[0] as tf.Tensor1D, this.lnF[1] as tf.Tensor1D), this.head as tf.Tensor2D);
  }

  dispose(): void {
    tf.dispose(this.params);
  }
}

/** A training step (next-token cross-entropy, Adam lr 1e-3) over ids [B, T+1]; returns the loss. */
export function transformerTrainer(model: TinyTransformer): { step: (ids: tf.Tensor2D) => number; dispose: () => void } {
  const opt = createOptimizer(OptimizerConfig.parse({ kind: "adam", lr: 1e-3 }));
  const step = (ids: tf.Tensor2D): number => {
    const [batch, t1] = ids.shape;
    const { input, target } = tf.tidy(() => ({
      input: tf.slice(ids, [0, 0], [batch, t1 - 1]) as tf.Tensor2D,
      target: tf.reshape(tf.slice(ids, [0, 1], [batch, t1 - 1]), [-1]) as tf.Tensor1D,
    }));
    const { value, grads } = tf.variableGrads(() => crossEntropy(model.logits(input), target), model.params);
    opt.step(model.params, model.params.map((p) => grads[p.name]), 1e-3);
    const loss = value.dataSync()[0];
    tf.dispose([input, target, value, ...Object.values(grads)]);
    return loss;
  };
  return { step, dispose: () => opt.dispose() };
}

/** Random byte sequences [batch, ctx + 1] (speed does not depend on the values). */
export function randomTokens(batch: number, ctx: number, vocab: number, seed: number): tf.Tensor2D {
  const rng = new Rng(seed, "tokens");
  return tf.tensor2d(Int32Array.from({ length: batch * (ctx + 1) }, () => rng.int(vocab)), [batch, ctx + 1], "int32");
}
